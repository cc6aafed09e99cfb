"""Placement decision benchmark against a plain even split (``python -m bench.placement``)."""
