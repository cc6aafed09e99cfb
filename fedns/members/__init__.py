"""fedns.members: member clusters reached through kubeconfig contexts: informers, health, topology."""
