"""The embedded authoritative DNS server for SkyDNS-format zones.

``zone`` holds the records in memory; ``answer`` answers one query, ``backend`` finds
a name's services, ``lookup`` and ``apex`` build its records as CoreDNS does, ``names``
handles the names they compare (all pure); ``settings`` groups the options, ``wire``
reads queries and writes responses, ``cache`` keeps responses until a zone change can
alter them, ``server`` is the UDP/TCP transport, ``source`` keeps the zone current from
the Store, and ``daemon`` puts them together (:func:`daemon.serve`).
"""
