"""The command line describes itself: ``--version``, and help on every group, command and option.

In-process through typer's runner: nothing here reaches a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from carelog import __version__
from carelog.cli import app

pytestmark = pytest.mark.unit

runner = CliRunner()


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version_prints_the_package_version(flag: str) -> None:
    result = runner.invoke(app, [flag])
    assert result.exit_code == 0, result.output
    assert result.output == f"carelog {__version__}\n"


def test_version_wins_over_a_command() -> None:
    """Eager: it answers before any command would reach for a database."""
    result = runner.invoke(app, ["--version", "migrate"])
    assert result.exit_code == 0
    assert result.output == f"carelog {__version__}\n"


def test_the_installed_distribution_has_the_same_version() -> None:
    """``pyproject.toml`` and ``carelog.__version__`` both state it; they must agree."""
    assert version("carelog") == __version__


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    yield path, command
    context = typer.Context(command)
    for name in getattr(command, "list_commands", lambda _: [])(context):
        yield from _commands(command.get_command(context, name), (*path, name))


def test_every_group_command_and_option_has_help() -> None:
    root = typer.main.get_command(app)
    found = list(_commands(root))
    assert {path for path, _ in found} >= {
        (),
        ("serve",),
        ("migrate",),
        ("keys",),
        ("keys", "create"),
        ("keys", "list"),
        ("keys", "rotate"),
        ("keys", "revoke"),
        ("audit",),
        ("audit", "verify"),
    }
    for path, command in found:
        assert (command.help or "").strip(), f"carelog {' '.join(path)} has no help"
        for param in command.params:
            assert getattr(param, "help", None), f"carelog {' '.join(path)}: {param.name}"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
