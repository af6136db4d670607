"""The README's Python snippet, run as a reader would: against a freshly started ``carelog
serve``, with the key it printed, by this interpreter with only Carelog installed.

The snippet's own comments say what each ``print`` shows (``...`` stands for the rest); the
output must match them, so the README cannot drift from the service again.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

README = Path(__file__).resolve().parents[2] / "README.md"
TOKEN = re.compile(r"clk_[A-Za-z0-9_\-]+")
BASE_URL = "http://localhost:8000"


def readme_snippet(section: str) -> str:
    """The first ```python block of the README section titled ``section``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {section}\n")
    found = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert found is not None, f"no python block under '## {section}'"
    return found[1]


def expected_output(snippet: str) -> list[re.Pattern[str]]:
    """What each ``print(...)  # shown`` line of the snippet says it prints."""
    patterns = []
    for line in snippet.splitlines():
        if line.startswith("print(") and "  # " in line:
            shown = line.split("  # ", 1)[1].strip()
            patterns.append(re.compile(".*".join(map(re.escape, shown.split("...")))))
    return patterns


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def first_start(make_database: Callable[[], str], tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """``carelog serve`` on a new, empty database: its URL, the key it printed, its output."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": make_database(), "CARELOG_DATA_DIR": str(tmp_path)}
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "carelog", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        [token] = TOKEN.findall(log.read_text())
        yield f"http://localhost:{port}", token, log.read_text()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_the_readme_agent_loop_runs_as_written(first_start: tuple[str, str, str]) -> None:
    base_url, token, _ = first_start
    snippet = readme_snippet("The seed's agent loop")
    assert BASE_URL in snippet
    assert '"Bearer clk_..."' in snippet
    script = snippet.replace(BASE_URL, base_url).replace("clk_...", token)

    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    expected = expected_output(snippet)
    assert len(expected) == 3
    assert len(printed) == len(expected), result.stdout
    for line, pattern in zip(printed, expected, strict=True):
        assert pattern.fullmatch(line), (line, pattern.pattern)
