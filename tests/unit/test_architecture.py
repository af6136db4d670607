"""The layer rules of CONTRIBUTING.md, and tenant scoping of every SQL file, checked."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "carelog"

# What each part of the package may import, besides the standard library: an allow-list,
# so a router reaching for storage, or a domain rule for psycopg, fails here. The most
# specific entry (the longest path) is a file's rule; a new top-level package has none
# until it is given one. Imports inside functions count (the CLI's lazy ones too).
ALLOWED: dict[str, tuple[str, ...]] = {
    "__init__.py": (),
    "__main__.py": ("carelog.cli",),
    "errors.py": (),
    "settings.py": ("pydantic", "pydantic_settings"),
    "domain": (
        "carelog.domain", "carelog.errors", "pydantic", "jsonschema", "referencing", "re2",
        "orjson", "pydantic_core",  # (pydantic's own core: its custom error types)
    ),
    # The FHIR mapping builds and reads plain dicts: no FHIR library (but validation.py's).
    "domain/fhir": ("carelog.domain", "carelog.errors", "pydantic"),
    # Import validates what clients send against R4 with fhir.resources: this one file, which
    # imports it lazily so that the bare install still loads the mapping.
    "domain/fhir/validation.py": ("carelog.domain", "pydantic", "fhir.resources"),
    # Its fast check of common Observations: a compiled schema of fhir_core's constraints.
    # (orjson: its content hash, the same bytes sooner.)
    "domain/fhir/fast_observation.py": ("carelog.domain", "pydantic_core", "fhir_core", "orjson"),
    "storage": (
        "carelog.storage", "carelog.domain", "carelog.errors",
        "psycopg", "psycopg_pool", "pgserver", "pydantic", "orjson",
    ),
    "services": (
        "carelog.services", "carelog.storage", "carelog.domain", "carelog.errors",
        "carelog.settings", "httpx", "jwt", "pydantic",
    ),
    # Routers parse, authorize and call a service: no storage, no psycopg.
    "api": (
        "carelog.api", "carelog.services", "carelog.domain", "carelog.errors",
        "carelog.settings", "carelog.__version__", "fastapi", "fastapi_offline", "starlette",
        "orjson", "pydantic",
    ),
    # A router parses, authorizes and calls its service: what routers share is in api/kit,
    # so no router imports another.
    "api/routes": (
        "carelog.api.deps", "carelog.api.kit", "carelog.api.problems", "carelog.api.routing",
        "carelog.services", "carelog.domain", "carelog.errors", "carelog.settings", "fastapi",
        "starlette", "orjson", "pydantic",
    ),
    # The dependencies name the pool's type. (The app's lifespan starts the runtime of
    # services/runtime, which opens the pool, migrates and starts the embedded server.)
    "api/deps.py": (
        "carelog.api", "carelog.services", "carelog.domain", "carelog.errors",
        "carelog.settings", "carelog.storage.db", "fastapi",
    ),
    # The SDK speaks HTTP to the API with its models: httpx and the domain, nothing of the
    # server (no FastAPI, no psycopg: ``pip install carelog`` has neither).
    "client": ("carelog.client", "carelog.domain", "carelog.errors", "httpx", "pydantic"),
    # Synthetic patients: the standard library only; the loader speaks HTTP (httpx).
    "synthetic": ("carelog.synthetic",),
    "synthetic/load.py": ("carelog.synthetic", "httpx"),
    # The MCP server is a door like api/: it makes the call's Access, opens a unit of work
    # and calls services; the SDK is its web framework. No storage, no psycopg.
    "mcp": (
        "carelog.mcp", "carelog.services", "carelog.domain", "carelog.errors",
        "carelog.settings", "carelog.__version__", "mcp", "mcp_types", "pydantic", "starlette",
        "orjson",
    ),
    # The app mounts the MCP server's HTTP routes at /mcp (when the mcp extra is installed).
    "api/app.py": (
        "carelog.api", "carelog.services", "carelog.domain", "carelog.errors",
        "carelog.settings", "carelog.__version__", "carelog.mcp.http", "fastapi", "starlette",
    ),
    # Commands call services; they reach a database through storage's connection, embedded
    # server and migrations only.
    "cli": (
        "carelog.cli", "carelog.services", "carelog.domain", "carelog.errors", "carelog.settings",
        "carelog.__version__", "carelog.storage.db", "carelog.storage.embedded",
        "carelog.storage.migrate", "carelog.synthetic", "carelog.mcp.stdio", "typer", "pydantic",
        "psycopg", "uvicorn", "httpx",
    ),
}  # fmt: skip

# The domain is pure: of the standard library, nothing that does I/O or runs processes.
DOMAIN_STDLIB_FORBIDDEN = ("asyncio", "socket", "subprocess", "urllib", "http", "ssl", "os")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, absolute (relative imports resolved); ``from x import
    y`` gives ``x.y``, which may name a module or a name in ``x``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(("carelog", *path.relative_to(PACKAGE).parent.parts))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _rule(path: Path) -> tuple[str, ...] | None:
    relative = path.relative_to(PACKAGE).as_posix()
    matches = [key for key in ALLOWED if relative == key or relative.startswith(key + "/")]
    return ALLOWED[max(matches, key=len)] if matches else None


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_rule() -> None:
    assert [str(p.relative_to(PACKAGE)) for p in _modules() if _rule(p) is None] == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_are_allowed(path: Path) -> None:
    allowed = _rule(path) or ()
    violations = []
    imported = _imports(path)
    for module in imported:
        top = module.split(".")[0]
        if top == "__future__":
            continue
        if top in sys.stdlib_module_names:
            if path.relative_to(PACKAGE).parts[0] == "domain" and top in DOMAIN_STDLIB_FORBIDDEN:
                violations.append(module)
            continue
        # "x.y" from "from x import y" passes when "x" does, or "x.y" itself.
        parent = module.rsplit(".", 1)[0]
        if _within(module, allowed) or (parent != "carelog" and _within(parent, allowed)):
            continue
        violations.append(module)
    assert sorted(violations) == []


def test_the_rules_catch_what_they_forbid(tmp_path: Path) -> None:
    """The allow-list is not vacuous: a router importing storage, a domain module using
    psycopg or asyncio, a new package without a rule, all fail."""
    router = PACKAGE / "api" / "routes" / "events.py"
    assert not _within("carelog.storage.patient_events", _rule(router) or ())
    assert not _within("psycopg", _rule(PACKAGE / "domain" / "events.py") or ())
    assert "asyncio" in DOMAIN_STDLIB_FORBIDDEN
    assert not _within("fhir.resources", _rule(PACKAGE / "domain" / "fhir" / "resources.py") or ())
    assert _rule(PACKAGE / "agents" / "intake.py") is None
    assert not _within("carelog.storage", _rule(PACKAGE / "mcp" / "server.py") or ())


def test_errors_module_imports_nothing_heavy() -> None:
    assert not {
        m
        for m in _imports(PACKAGE / "errors.py")
        if not m.startswith("__future__") and m not in {"typing", "typing.Any"}
    }


PATIENT_TABLES = ("patient_events", "idempotency_keys", "api_keys", "workflow_cases")


def _sql_files() -> list[Path]:
    return sorted((PACKAGE / "storage").glob("*/sql/*.sql"))


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
