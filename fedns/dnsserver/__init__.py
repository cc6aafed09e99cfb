"""The embedded authoritative DNS server for SkyDNS-format zones.

``zone`` holds the records in memory, ``leases`` the remaining time of the etcd
leases they sit on; ``answer`` answers one query, ``backend`` finds a name's
services, ``lookup`` and ``apex`` build its records as CoreDNS does, ``names``
handles the names they compare (all pure); ``settings`` groups the options, ``wire``
reads queries and writes responses, ``cache`` keeps responses until a zone change can
alter them, ``server`` is the UDP/TCP transport, ``tcp`` its connection limits,
``source`` keeps the zone (and its leases) current from the Store, and ``daemon``
puts them together (:func:`daemon.serve`).
"""
