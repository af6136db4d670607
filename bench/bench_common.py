"""Shared by the load benchmark's modules: its folder, the data's constants, progress output."""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
TENANT = "default"
RECORDED_BY = "bench"
PAGE_SIZE = 20  # the API's default page
ROUND_ROBIN_PASSES = PAGE_SIZE + 1  # preload rows dealt in turn before random patients


def say(message: str) -> None:
    """Progress on stderr, so stdout holds only the results."""
    print(message, file=sys.stderr, flush=True)
