"""``carelog demo``: load a small synthetic population into the running service, and print
a key and three requests to try on it."""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
import typer

from carelog.cli import inputs
from carelog.cli.extras import needs
from carelog.domain.principals import ApiKeyCreate, PrincipalKind
from carelog.synthetic.load import LoadFailed, LoadReport, load
from carelog.synthetic.population import DEFAULT_END, Patient, population

DEMO_SCOPES = frozenset({"events:read", "events:write", "audit:read"})


async def _send(url: str, token: str, patients: int, seed: int) -> LoadReport:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        return await load(client, population(patients, seed))


def _showcase(patients: int, seed: int) -> Patient:
    """The patient to show: the first with the most conditions that are not sensitive."""
    loaded = [Patient(seed, n, end=DEFAULT_END, years=3) for n in range(1, patients + 1)]
    return max(loaded, key=lambda p: sum(not x.chronic.labels for x in p.problems.values()))


@needs("server")
def demo(
    url: Annotated[
        str, typer.Option(help="The running service.", callback=inputs.service_url)
    ] = "http://127.0.0.1:8000",
    patients: Annotated[int, typer.Option(help="How many patients.", min=1, max=1000)] = 20,
    seed: Annotated[int, typer.Option(help="The population's seed.", min=0)] = 1,
    tenant: Annotated[
        str, typer.Option(help="The tenant to load them into.", callback=inputs.tenant_id)
    ] = "demo",
) -> None:
    """Load synthetic patients into the running service (``carelog serve``, on the same
    database: DATABASE_URL or the embedded one here) and print how to read them back."""
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services.auth import keys as key_service

    base = url.rstrip("/")
    try:
        httpx.get(f"{base}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError:
        typer.echo(f"error: no Carelog answers at {base}: start it with 'carelog serve'", err=True)
        raise typer.Exit(1) from None
    request = ApiKeyCreate(
        tenant_id=tenant, scopes=DEMO_SCOPES, name="demo", kind=PrincipalKind.SERVICE
    )
    issued = run_with_pool(lambda pool: key_service.issue_key(pool, request))
    try:
        report = asyncio.run(_send(base, issued.token, patients, seed))
    except LoadFailed as exc:
        typer.echo(
            f"error: the service refused a record ({exc}). If it says 401, the service uses "
            "another database than this command: give both the same DATABASE_URL.",
            err=True,
        )
        raise typer.Exit(1) from None
    counts = report.counts
    again = counts["event already there"]
    typer.echo(
        f"Loaded {report.patients} synthetic patients into tenant '{tenant}': "
        f"{counts['event']} events, {counts['correction']} corrections, "
        f"{counts['retraction']} retractions"
        + (f"; {again} events were there already" if again else "")
    )
    shown = _showcase(patients, seed)
    auth = f'-H "Authorization: Bearer {issued.token}"'
    typer.echo(
        f"\nAPI key for tenant '{tenant}' (shown once): {issued.token}\n"
        f"Events labelled BH (behavioral health) are withheld: this key has no sensitive:BH.\n\n"
        f"# What an agent reads before it acts: {shown.id}'s context\n"
        f'curl -s {auth} "{base}/patients/{shown.id}/context?format=markdown"\n'
        f"# Their latest lab results\n"
        f'curl -s {auth} "{base}/patient-events/{shown.id}?event_type=lab_result&limit=5"\n'
        f"# Everyone on metformin\n"
        f'curl -s {auth} "{base}/search?q=metformin"'
    )
