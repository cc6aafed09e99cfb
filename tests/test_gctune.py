"""The collector settings the long-running commands apply."""

from __future__ import annotations

import gc

from fedns import gctune


def test_tune_freezes_what_exists_and_makes_collections_rarer():
    before = gc.get_threshold()
    try:
        gctune.tune()
        assert gc.get_threshold() == gctune.THRESHOLDS
        assert gc.get_threshold()[0] > before[0]
        assert gc.get_freeze_count() > 0, "start-up's objects are out of the collector's sight"
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
