"""Test support: processes and ports the tests start themselves."""
