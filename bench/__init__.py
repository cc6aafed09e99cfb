"""Benchmarks: each prints its figures against a peer measured in the same run."""
