"""Convergence benchmark: creation in the members to the name answering (``python -m bench.convergence``)."""
