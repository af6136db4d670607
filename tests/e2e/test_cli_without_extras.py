"""``pip install carelog``, without extras, gives a command line that starts (issue 10,
item 5): ``--version`` and every ``--help`` answer, and each command that needs the server
extra says so and how to install it, instead of a traceback about psycopg.

The package is really installed, from a copy of this tree, into a fresh virtual
environment (the base dependencies come from the package index, as a user's would).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from carelog.cli import app
from tests.unit.test_cli_inputs import EXAMPLES, commands

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a virtual environment with only ``pip install carelog``."""
    base = tmp_path_factory.mktemp("bare")
    tree = base / "carelog"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", str(tree)],
        check=True,
    )
    return venv / "bin"


def _run(bare: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [bare / "carelog", *arguments], capture_output=True, text=True, timeout=60, check=False
    )


def test_the_environment_has_no_server_extra(bare: Path) -> None:
    for module in ("fastapi", "psycopg", "uvicorn", "pydantic_settings", "orjson", "fhir"):
        found = subprocess.run(
            [bare / "python", "-c", f"import {module}"], capture_output=True, check=False
        )
        assert found.returncode == 1, module


def test_generate_works_without_the_server(bare: Path) -> None:
    result = _run(bare, "generate", "--patients", "2", "--seed", "4")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert {line["patient_id"] for line in lines if "patient_id" in line} == {
        "S4-P000001",
        "S4-P000002",
    }
    # FHIR too: the mapping is plain dicts, no FHIR library and no orjson.
    fhir = _run(bare, "generate", "--patients", "2", "--seed", "4", "--format", "fhir")
    assert fhir.returncode == 0, fhir.stderr
    resources = [json.loads(line) for line in fhir.stdout.splitlines()]
    assert [r["id"] for r in resources if r["resourceType"] == "Patient"] == [
        "S4-P000001",
        "S4-P000002",
    ]
    assert {"Observation", "Encounter"} <= {r["resourceType"] for r in resources}


def test_version_and_help_answer(bare: Path) -> None:
    version = _run(bare, "--version")
    assert (version.returncode, version.stderr) == (0, "")
    assert version.stdout.startswith("carelog ")
    for path in commands(typer.main.get_command(app)):
        helped = _run(bare, *path, "--help")
        assert helped.returncode == 0, (path, helped.stderr)
        assert "Usage: carelog" in helped.stdout, path


# Commands that need no database: they work in the bare install.
WITHOUT_SERVER = {("generate",)}


def test_each_server_command_names_the_extra_it_needs(bare: Path) -> None:
    for path in commands(typer.main.get_command(app)):
        result = _run(bare, *path, *EXAMPLES[path])
        if path in WITHOUT_SERVER:
            assert result.returncode == 0, (path, result.stderr)
            continue
        assert result.returncode == 1, (path, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, path
        assert "needs the 'server' extra" in result.stderr, (path, result.stderr)
        assert "pip install 'carelog[server]'" in result.stderr, path


def test_the_sdk_works_in_the_bare_install(bare: Path) -> None:
    """``carelog.client`` imports and builds its requests with only httpx and pydantic (issue
    12): its models validate, its errors map, nothing of the server is loaded."""
    code = (
        "import sys\n"
        "from carelog.client import Client, NotFound, __all__\n"
        "from carelog.domain.events import PatientEventCreate\n"
        "PatientEventCreate.model_validate({'patient_id': 'P-1', 'event_type': 'note',"
        " 'payload': {'text': 'synthetic'}})\n"
        "server = {'fastapi', 'starlette', 'psycopg', 'psycopg_pool', 'uvicorn', 'orjson'}\n"
        "print(sorted(server & {m.split('.')[0] for m in sys.modules}), 'Client' in __all__)\n"
    )
    found = subprocess.run(
        [bare / "python", "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == ["[]", "True"]
