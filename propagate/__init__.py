"""propagate: federated objects to per-member manifests, and member status back (pure).

Stdlib and fedns.errors only: the propagation controller feeds it templates and the
members' copies and acts on its answers.  Modules: :mod:`propagate.manifest` (template
-> member manifest, needs-update), :mod:`propagate.divide` (replicas over members),
:mod:`propagate.jobs` (a Job's completions and parallelism over members),
:mod:`propagate.order` (what goes first), :mod:`propagate.status` (member status
summed onto the template), :mod:`propagate.outcome` (per-member outcomes as they are
reported on the template).
"""
