"""Every value an operator gives a command is checked before the command reaches for the
database (issue 9, item 1, for the command line): a NUL in any option or argument is a
usage error naming it (exit 2), never a traceback. The commands and their parameters are
read from the command tree, so a new option is covered too.

The database URL points at a closed port: a value that got through would end in "cannot
reach the database" (exit 1), not in a usage error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from carelog.cli import app
from carelog.settings import get_settings

pytestmark = pytest.mark.unit

NUL = "bad\x00text"
runner = CliRunner()

# A valid invocation of each command that takes parameters.
EXAMPLES: dict[tuple[str, ...], list[str]] = {
    ("serve",): ["--host", "127.0.0.1", "--port", "8000", "--workers", "1"],
    ("migrate",): [],
    ("mcp",): [],  # its key comes from CARELOG_API_KEY
    ("demo",): [
        "--url",
        "http://127.0.0.1:9",
        "--patients",
        "2",
        "--seed",
        "1",
        "--tenant",
        "demo",
    ],
    ("generate",): [
        "--patients",
        "1",
        "--seed",
        "1",
        "--years",
        "1",
        "--end",
        "2026-01-01",
        "--format",
        "fhir",
    ],
    ("keys", "create"): [
        "--tenant",
        "t-sweep",
        "--scope",
        "patient/*.rs",
        "--name",
        "sweep",
        "--kind",
        "agent",
        "--agent-name",
        "intake-bot",
        "--expires-in",
        "90d",
        "--patient",
        "P-1",
        "--purpose",
        "TREAT",
    ],
    ("keys", "list"): ["--tenant", "t-sweep"],
    ("keys", "rotate"): ["abcdef012345", "--grace", "24h"],
    ("keys", "revoke"): ["abcdef012345"],
    ("audit", "verify"): ["--tenant", "t-sweep"],
    ("workflows", "list"): [
        "--tenant", "t-sweep", "--workflow", "escalation", "--status", "open", "--limit", "5",
    ],
    ("workflows", "show"): ["--tenant", "t-sweep", "6f1d0d3e-0000-4000-8000-000000000001"],
    ("workflows", "expire"): ["--tenant", "t-sweep"],
    ("workflows", "rebuild"): ["--tenant", "t-sweep", "--workflow", "care_task"],
}  # fmt: skip


def commands(command: Any, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every command under ``command`` by its path of names, e.g. ``("keys", "create")``."""
    # (Typer carries its own copy of click: the tree is walked by duck typing.)
    if not hasattr(command, "list_commands"):
        return {path: command}
    found: dict[tuple[str, ...], Any] = {}
    context = typer.Context(command)
    for name in command.list_commands(context):
        found.update(commands(command.get_command(context, name), (*path, name)))
    return found


def _with_nul(arguments: list[str], parameter: Any) -> list[str]:
    """``arguments`` with ``parameter``'s value replaced by (or added as) a NUL."""
    if parameter.param_type_name == "argument":
        position = 0  # every command here has at most one argument, first
        return [NUL, *arguments[position + 1 :]]
    flag = max(parameter.opts, key=len)
    if flag in arguments:
        at = arguments.index(flag)
        return [*arguments[: at + 1], NUL, *arguments[at + 2 :]]
    return [*arguments, flag, NUL]


@pytest.fixture(autouse=True)
def _unreachable_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", "postgresql://carelog@127.0.0.1:9/none?connect_timeout=1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_nul_in_any_parameter_is_a_usage_error() -> None:
    found = commands(typer.main.get_command(app))
    assert set(found) == set(EXAMPLES), "give each new command a valid example here"
    failures = []
    swept = 0
    for path, command in sorted(found.items()):
        for parameter in command.params:
            if getattr(parameter, "is_flag", False) or parameter.name == "help":
                continue
            swept += 1
            arguments = [*path, *_with_nul(EXAMPLES[path], parameter)]
            result = runner.invoke(app, arguments)
            if result.exit_code != 2 or "Invalid value" not in result.output:
                failures.append((arguments, result.exit_code, result.output[-300:]))
    assert not failures, failures
    assert swept >= 15


def test_valid_values_get_past_the_checks() -> None:
    """The examples themselves are valid: they fail only at the (closed) database."""
    for path in (("keys", "list"), ("keys", "revoke"), ("audit", "verify"), ("workflows", "list")):
        result = runner.invoke(app, [*path, *EXAMPLES[path]])
        assert result.exit_code == 1, result.output
        assert "cannot reach the database" in result.output
