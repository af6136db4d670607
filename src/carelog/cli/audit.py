"""``carelog audit``: verify the tamper-evident audit trail."""

from __future__ import annotations

from typing import Annotated

import typer

from carelog.cli import inputs
from carelog.cli.extras import needs
from carelog.domain.audit import ChainReport

app = typer.Typer(help="Check the audit trail.", no_args_is_help=True)


@app.command("verify")
@needs("server")
def verify(
    tenant: Annotated[
        str | None,
        typer.Option(help="Only this tenant (default: every one).", callback=inputs.tenant_id),
    ] = None,
) -> None:
    """Walk every audit chain and report the first broken link; exit 1 if any is broken."""
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services import audit as audit_service

    if tenant is None:
        reports = run_with_pool(audit_service.verify_all)
    else:
        chosen = tenant
        reports = [run_with_pool(lambda pool: audit_service.verify(pool, chosen))]
    broken = [r for r in reports if not r.ok]
    for report in reports:
        typer.echo(_line(report))
    if not reports:
        typer.echo("no audit rows yet")
    if broken:
        raise typer.Exit(1)


def _line(report: ChainReport) -> str:
    if report.first_break is None:
        return f"{report.tenant_id}: ok ({report.rows} rows in {report.lanes} lanes)"
    where = report.first_break
    return (
        f"{report.tenant_id}: BROKEN at lane {where.lane} row {where.seq}: {where.reason} "
        f"({report.rows} rows)"
    )
