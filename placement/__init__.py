"""placement: pure federation topology — sites, regions, zones and the nearest tier.

No I/O and no third-party imports: the DNS server and the controller feed it plain
data and act on its answers.
"""
