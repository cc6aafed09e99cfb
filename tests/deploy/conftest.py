"""Fixtures shared by the deploy/ manifest tests."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.deploy import manifests


@pytest.fixture(scope="session")
def kv() -> ModuleType:
    """kubernetes-validate (a failure here, not a collection error, when it is missing)."""
    return manifests.validator()
