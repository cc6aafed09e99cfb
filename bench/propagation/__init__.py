"""Benchmark: templates applied at the federation endpoint against direct creation."""
