"""Pure IP address management: pools, the free-interval index, allocation decisions.

No I/O and no clients: the controller owns the Store and the member APIs and feeds
this package the pool state; see ``ipam/README.md``.
"""
