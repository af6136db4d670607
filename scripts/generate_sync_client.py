"""Make ``src/carelog/client/_sync.py`` from ``_async.py``: the sync client is the async one
with its awaits taken out, never a hand copy. Run it after changing ``_async.py``;
``tests/unit/test_client_surface.py`` fails while the two differ.

    python scripts/generate_sync_client.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "src" / "carelog" / "client"
HEADER = "# Generated from _async.py by scripts/generate_sync_client.py: do not edit by hand.\n"
# Whole words (or fixed spellings) of the async file and what the sync file says instead,
# in order.
REPLACEMENTS = [
    # An async generator's pass-through loop is a ``yield from`` in the sync one.
    (r"async for (\w+) in (.+):\n\s+yield \1\n", r"yield from \2\n"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncBaseTransport\b", "BaseTransport"),
    (r"\bAsyncClient\b", "Client"),
    (r"\basync def\b", "def"),
    (r"\basync for\b", "for"),
    (r"\basync with\b", "with"),
    (r"\bawait ", ""),
    (r"\b__aenter__\b", "__enter__"),
    (r"\b__aexit__\b", "__exit__"),
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_lines\b", "iter_lines"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"^import asyncio\n", ""),
    (r"The asynchronous client", "The synchronous client"),
    (r"``_sync.py`` is made from this file", "This file is made from ``_async.py``"),
    (r"edit this one,\nthen run it", "edit that one,\nthen run it"),
]  # fmt: skip


def generate(source: str) -> str:
    """The sync client's source for the async client's ``source``, formatted as the project
    formats (``ruff format``: lines the awaits left shorter are joined again)."""
    text = source
    for pattern, replacement in REPLACEMENTS:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(CLIENT / "_sync.py"), "-"],
        input=HEADER + text, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return formatted.stdout


def main() -> int:
    target = CLIENT / "_sync.py"
    target.write_text(generate((CLIENT / "_async.py").read_text()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
