"""Federation DNS records in the SkyDNS format CoreDNS's etcd plugin reads.

``skydns`` owns the key and JSON format, ``desired`` computes the records one
federated service should have, ``plan`` diffs them against the Store, and ``apply``
writes a plan in one Store transaction.  Everything but ``apply`` is pure.
"""
