"""Make each ``src/carelog/client/_sync*.py`` from its ``_async*.py``: the sync client is
the async one with its awaits taken out, never a hand copy. Run it after changing an ``_async*.py``;
``tests/unit/test_client_surface.py`` fails while the two differ.

    python scripts/generate_sync_client.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CLIENT = Path(__file__).resolve().parent.parent / "src" / "carelog" / "client"
HEADER = "# Generated from its _async twin by scripts/generate_sync_client.py: do not edit.\n"
# Whole words (or fixed spellings) of the async file and what the sync file says instead,
# in order.
REPLACEMENTS = [
    # An async generator's pass-through loop is a ``yield from`` in the sync one.
    (r"async for (\w+) in (.+):\n\s+yield \1\n", r"yield from \2\n"),
    (r"\bAsyncIterator\b", "Iterator"),
    (r"\bAsyncBaseTransport\b", "BaseTransport"),
    (r"\bAsyncClient\b", "Client"),
    (r"\b_Async(\w+)", r"_Sync\1"),
    (r"\bcarelog\.client\._async", "carelog.client._sync"),
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
    (r"^import asyncio\n", "import time\n"),
    (r"The asynchronous client", "The synchronous client"),
    (r"``_sync\*.py`` are made from these files", "This file is made from its ``_async`` twin"),
]  # fmt: skip


def generate(source: str) -> str:
    """The sync client's source for the async client's ``source``, formatted as the project
    formats (``ruff format``: lines the awaits left shorter are joined again)."""
    text = source
    for pattern, replacement in REPLACEMENTS:
        text = re.sub(pattern, replacement, text, flags=re.MULTILINE)
    # (Its imports sorted, a repeated or unused one dropped, then formatted.)
    name = str(CLIENT / "_sync.py")
    fixed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--fix", "--select", "I001,F401,F811",
         "--stdin-filename", name, "-"],
        input=HEADER + text, capture_output=True, text=True, check=False,
    )  # fmt: skip
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", name, "-"],
        input=fixed.stdout, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return formatted.stdout


def pairs() -> list[tuple[Path, Path]]:
    """Each async module of the client and the sync module made from it."""
    return [
        (source, CLIENT / source.name.replace("_async", "_sync", 1))
        for source in sorted(CLIENT.glob("_async*.py"))
    ]


def main() -> int:
    for source, target in pairs():
        target.write_text(generate(source.read_text()))
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
