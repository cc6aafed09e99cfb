"""DNS serving benchmark: fedns's embedded server against nsd (``python -m bench.dns``)."""
