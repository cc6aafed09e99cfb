"""Store-backed IPAM: the ``ipam`` core's decisions made durable and race-free.

``manager.IPAM`` is the controller's interface (ensure, release, pool edits, usage,
repair); ``keys`` owns the ``/fedns/ipam/`` key layout and JSON values; ``state``
mirrors those keys in memory.  ``fedns pool ...`` and ``fedns ip list`` are in
``fedns.cli.pool``.  See README.md in this folder.
"""
