"""placement: pure federation topology and placement — which members get each object,
how many replicas each runs, and failover (see placement/README.md).

No I/O and no third-party imports (fedns.errors aside): the DNS server and the
controller feed it plain data and act on its answers.
"""
