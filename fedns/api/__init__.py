"""fedns.api: the appliance HTTP surface (health, readiness, metrics, fedns.io objects)."""
