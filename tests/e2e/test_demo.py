"""``carelog demo`` beside a running ``carelog serve``: it loads synthetic patients, prints a
key and three requests, and the requests work (issue 13, synthetic data)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_service_process import TOKEN, Service, _carelog

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_demo_loads_a_population_and_its_requests_answer(
    tmp_path: Path, make_database: Callable[[], str]
) -> None:
    url = make_database()
    service = Service(tmp_path, database_url=url)
    try:
        first = _carelog(
            tmp_path, "demo", "--url", service.url, "--patients", "3", "--seed", "5",
            database_url=url,
        )  # fmt: skip
        assert first.returncode == 0, first.stderr
        assert "Loaded 3 synthetic patients into tenant 'demo'" in first.stdout
        token = TOKEN.search(first.stdout)
        assert token is not None
        commands = [line for line in first.stdout.splitlines() if line.startswith("curl ")]
        assert len(commands) == 3
        for command in commands:
            # Run each as the user would: its URL with its Authorization header.
            words = shlex.split(command)
            header = words[words.index("-H") + 1]
            answer = httpx.get(words[-1], headers=dict([header.split(": ", 1)]), timeout=30)
            assert answer.status_code == 200, (command, answer.text)
            assert answer.content.strip()
        context = httpx.get(
            re.findall(r'"(http[^"]+/context[^"]*)"', first.stdout)[0],
            headers={"Authorization": f"Bearer {token[0]}"},
        )
        assert "## " in context.text  # markdown sections

        again = _carelog(
            tmp_path, "demo", "--url", service.url, "--patients", "3", "--seed", "5",
            database_url=url,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert ": 0 events, 0 corrections, 0 retractions;" in again.stdout
        assert "were there already" in again.stdout
    finally:
        service.stop()


def test_demo_says_when_no_service_answers(tmp_path: Path, database_url: str) -> None:
    result = _carelog(tmp_path, "demo", "--url", "http://127.0.0.1:9", database_url=database_url)
    assert result.returncode == 1
    assert "no Carelog answers at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
