"""Which optional extra a command needs, and saying so when it is not installed.

``pip install carelog`` gives the command line (typer, pydantic, httpx); a command that
reaches the database or serves the API needs ``carelog[server]``. Such a command is marked
``@needs("server")`` and imports what the extra provides inside its body, so that the
command line itself starts, lists every command and answers ``--help`` without it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from importlib import metadata
from typing import ParamSpec, TypeVar

import typer

P = ParamSpec("P")
R = TypeVar("R")

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._\-]*)")


def missing(extra: str) -> list[str]:
    """The distributions of ``extra`` that are not installed, from carelog's own metadata
    (so the list is the one pyproject.toml declares). Empty when carelog runs from a source
    tree that was never installed: there is nothing to compare against."""
    try:
        requirements = metadata.requires("carelog") or []
    except metadata.PackageNotFoundError:
        return []
    wanted = [
        match[1]
        for requirement in requirements
        if re.search(rf"""extra\s*==\s*["']{re.escape(extra)}["']""", requirement)
        and (match := _NAME.match(requirement))
    ]
    absent = []
    for name in wanted:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            absent.append(name)
    return absent


def needs(extra: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a command as needing ``extra``: without it, the command exits 1 and says which
    extra to install, before it imports anything the extra provides."""

    def mark(command: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(command)
        def checked(*args: P.args, **kwargs: P.kwargs) -> R:
            absent = missing(extra)
            if absent:
                typer.echo(
                    f"error: this command needs the '{extra}' extra "
                    f"(not installed: {', '.join(absent)}). "
                    f"Install it with: pip install 'carelog[{extra}]'",
                    err=True,
                )
                raise typer.Exit(1)
            return command(*args, **kwargs)

        return checked

    return mark
