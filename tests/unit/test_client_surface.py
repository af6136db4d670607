"""The SDK's surface: the sync client is the async one made sync (generated, up to date,
the same methods with the same parameters), its public names are guarded, and importing it
loads nothing of the server."""

from __future__ import annotations

import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path

import carelog.client
from carelog.client import AsyncClient, Client, RetryPolicy

ROOT = Path(__file__).resolve().parents[2]


def _generator() -> object:
    spec = importlib.util.spec_from_file_location(
        "gen", ROOT / "scripts" / "generate_sync_client.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_sync_client_is_generated_from_the_async_one() -> None:
    generator = _generator()
    made = generator.pairs()  # type: ignore[attr-defined]
    assert len(made) == 4
    for source, target in made:
        expected = generator.generate(source.read_text())  # type: ignore[attr-defined]
        assert expected == target.read_text(), "run: python scripts/generate_sync_client.py"


def _methods(cls: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name in ("__enter__", "__aenter__")
    }


def test_both_clients_have_the_same_methods_and_parameters() -> None:
    sync = _methods(Client)
    run_async = {
        {"aclose": "close", "__aenter__": "__enter__"}.get(name, name): signature
        for name, signature in _methods(AsyncClient).items()
    }
    assert sync.keys() == run_async.keys()
    for name, signature in sync.items():
        assert list(signature.parameters) == list(run_async[name].parameters), name
    covered = ("record_event", "list_events", "correct_event", "retract_event", "search",
               "get_context", "get_context_markdown", "open_case", "act", "list_cases",
               "prior_auth_metrics", "audit_events", "verify_audit", "record_events")  # fmt: skip
    for name in covered:
        assert name in sync
        assert inspect.iscoroutinefunction(
            getattr(AsyncClient, name)
        ) or inspect.isasyncgenfunction(getattr(AsyncClient, name))


def test_public_names_are_guarded() -> None:
    public = {name for name in dir(carelog.client) if not name.startswith("_")}
    assert set(carelog.client.__all__) <= public
    modules = {"annotations"} | {
        name for name in public if inspect.ismodule(getattr(carelog.client, name))
    }
    assert public - modules == set(carelog.client.__all__)


def test_the_client_loads_nothing_of_the_server() -> None:
    code = (
        "import sys, carelog.client\n"
        "server = {'fastapi', 'starlette', 'psycopg', 'psycopg_pool', 'uvicorn', 'pgserver'}\n"
        "print(sorted(server & {m.split('.')[0] for m in sys.modules}))\n"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"


def test_the_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=1.0, cap=4.0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (6, 4.0)]:
        delays = [policy.backoff(attempt, None) for _ in range(200)]
        assert min(delays) >= 0
        assert max(delays) <= ceiling
        assert len(set(delays)) > 100  # jitter
    assert policy.backoff(1, 3.0) >= 3.0
