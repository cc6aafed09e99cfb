"""fedns.members: member clusters through kubeconfig contexts: informers, health, topology, writes.

Informers follow any resource (:mod:`kinds`); writes are the Service controller's
status and events, and get / server-side apply / delete of fedns-managed objects
(:mod:`objects`).
"""
