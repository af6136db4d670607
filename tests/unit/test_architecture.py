"""The layer rules of CONTRIBUTING.md, and tenant scoping of every SQL file, checked."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "carelog"

# What each layer may not import (prefix match on the imported module).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "domain": (
        "carelog.api",
        "carelog.services",
        "carelog.storage",
        "carelog.cli",
        "carelog.settings",
        "fastapi",
        "starlette",
        "psycopg",
        "psycopg_pool",
    ),
    "storage": ("carelog.api", "carelog.services", "carelog.cli", "fastapi", "starlette"),
    "services": ("carelog.api", "carelog.cli", "fastapi", "starlette"),
    "api": (
        "carelog.cli",
        "carelog.storage.events",
        "carelog.storage.keys",
        "carelog.storage.queries",
        "psycopg",
        "psycopg_pool",
    ),
    "cli": (
        "carelog.storage.events",
        "carelog.storage.keys",
        "carelog.storage.queries",
        "fastapi",
        "starlette",
    ),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_one_way(layer: str) -> None:
    violations = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for module in _imports(path):
            if any(module == f or module.startswith(f + ".") for f in FORBIDDEN[layer]):
                violations.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert violations == []


def test_errors_module_imports_nothing_heavy() -> None:
    assert not {
        m
        for m in _imports(PACKAGE / "errors.py")
        if not m.startswith("__future__") and m not in {"typing", "typing.Any"}
    }


PATIENT_TABLES = ("patient_events", "idempotency_keys", "api_keys")


def _sql_files() -> list[Path]:
    return sorted((PACKAGE / "storage" / "sql").glob("*.sql"))


@pytest.mark.parametrize("path", _sql_files(), ids=lambda p: p.name)
def test_every_query_is_scoped_by_tenant(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    touches = [t for t in PATIENT_TABLES if re.search(rf"\b{t}\b", code)]
    if not touches:
        return
    scoped = re.search(r"\btenant_id\s*=\s*%\(tenant_id\)s", code) or (
        re.search(r"^\s*INSERT INTO", code, re.M) and "%(tenant_id)s" in code
    )
    explained = re.search(r"^--\s*tenant-scope:\s*\S", text, re.M)
    assert scoped or explained, f"{path.name} touches {touches} without a tenant filter"


def test_no_sql_outside_storage() -> None:
    pattern = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[^\n]*\b(FROM|VALUES|SET)\b")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "storage" not in path.parts
        and not path.match("services/keys.py")  # the bootstrap's advisory lock, see below
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
