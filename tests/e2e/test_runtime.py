"""The running app's process settings that a load test notices."""

from __future__ import annotations

import gc

import pytest
from fastapi import FastAPI

pytestmark = pytest.mark.e2e


def test_start_up_objects_are_frozen_out_of_collections(app: FastAPI) -> None:
    """A full collection walking the app's own start-up objects paused a worker for tens of
    milliseconds (most of the reads' p99); after start-up they sit in the permanent
    generation."""
    assert app.state.runtime.pool is not None  # started
    assert gc.get_freeze_count() > 10_000
