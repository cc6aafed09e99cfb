"""propagate: federated objects to per-member manifests (pure; stdlib and placement only).

Reserved for the propagation work of the federation controller; it holds no code yet
and nothing imports it.
"""
