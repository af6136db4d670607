"""``carelog workflows``: list and show cases, expire lapsed approvals, and rebuild the
cases' rows from their events."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from carelog.cli import inputs
from carelog.cli.extras import needs
from carelog.domain.workflows import WORKFLOWS
from carelog.domain.workflows.case import Case, CaseFilter

if TYPE_CHECKING:
    from carelog.services.workflows import RebuildReport
    from carelog.storage.db import Pool

app = typer.Typer(
    help="Workflow cases: list, show, and rebuild their rows from their events.",
    no_args_is_help=True,
)

Tenant = Annotated[str, typer.Option(help="The tenant.", callback=inputs.tenant_id)]
STATES = sorted({state for w in WORKFLOWS.values() for state in w.machine.states})


def _known_workflow(name: str | None) -> str | None:
    if name is not None and name not in WORKFLOWS:
        raise typer.BadParameter(f"the workflows are {', '.join(sorted(WORKFLOWS))}")
    return name


def _known_states(states: list[str] | None) -> list[str] | None:
    if any(state not in STATES for state in states or ()):
        raise typer.BadParameter(f"the states are {', '.join(STATES)}")
    return states


Workflow = Annotated[
    str | None,
    typer.Option(
        help=f"Only this workflow ({', '.join(sorted(WORKFLOWS))}).", callback=_known_workflow
    ),
]
CaseId = Annotated[str, typer.Argument(help="The case id.", callback=inputs.checked(uuid.UUID))]


@app.command("list")
@needs("server")
def list_cases(
    tenant: Tenant,
    workflow: Workflow = None,
    status: Annotated[
        list[str] | None,
        typer.Option(help="Only cases in this state (repeatable).", callback=_known_states),
    ] = None,
    overdue: Annotated[bool, typer.Option(help="Only open cases past their due time.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
) -> None:
    """One line per case, in each workflow's queue order (audited as a search)."""
    from carelog.cli.database import run_with_pool  # (the server extra)

    names = sorted(WORKFLOWS) if workflow is None else [workflow]
    states = list(status or ())

    async def read(pool: Pool) -> list[Case]:
        from carelog.services import workflows as service
        from carelog.services.operator import operator_access
        from carelog.services.unit import unit_of_work

        found: list[Case] = []
        async with unit_of_work(pool, operator_access(tenant, "workflows list")) as work:
            for name in names:
                known = [s for s in states if s in WORKFLOWS[name].machine.states]
                if states and not known:
                    continue
                where = CaseFilter(workflow=name, states=known or None, overdue=overdue)
                page = await service.list_cases(
                    work, where, now=datetime.now(UTC), after=None, limit=limit
                )
                found += page.cases
        return found

    cases = run_with_pool(read)
    now = datetime.now(UTC)
    for case in cases:
        due = case.columns.due_at.isoformat() if case.columns.due_at else "-"
        flag = " OVERDUE" if case.overdue(now) else ""
        typer.echo(
            f"{case.case_id}  {case.workflow:<11} {case.state:<14} patient {case.patient_id}"
            f"  due {due}{flag}"
        )
    if not cases:
        typer.echo("no cases")


@app.command("show")
@needs("server")
def show(
    tenant: Tenant,
    case_id: Annotated[
        str, typer.Argument(help="The case id.", callback=inputs.checked(uuid.UUID))
    ],
) -> None:
    """The case as the API answers it, with its timeline, as JSON (audited as a read)."""
    from carelog.cli.database import run_with_pool  # (the server extra)

    async def read(pool: Pool) -> dict[str, object] | None:
        from carelog.errors import NotFound
        from carelog.services import workflows as service
        from carelog.services.operator import operator_access
        from carelog.services.unit import unit_of_work

        async with unit_of_work(pool, operator_access(tenant, "workflows show")) as work:
            for definition in WORKFLOWS.values():
                try:
                    case = await service.get_case(work, definition, uuid.UUID(case_id))
                except NotFound:
                    continue
                return definition.document(case, now=datetime.now(UTC), actor=None)
        return None

    document = run_with_pool(read)
    if document is None:
        typer.echo("error: no case with that id in that tenant", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(document, indent=2, default=str))


@app.command("expire")
@needs("server")
def expire(tenant: Tenant) -> None:
    """Expire every prior-authorization approval of the tenant whose valid-until date has
    passed (run it daily, from cron or a scheduler): each is an ``expire`` transition by the
    operator, on the record and audited. Prints the ids of the cases expired."""
    from carelog.cli.database import run_with_pool  # (the server extra)

    async def run(pool: Pool) -> list[str]:
        from carelog.services.operator import operator_access
        from carelog.services.unit import unit_of_work
        from carelog.services.workflows import prior_auth

        async with unit_of_work(pool, operator_access(tenant, "workflows expire")) as work:
            return await prior_auth.expire_lapsed(work, now=datetime.now(UTC))

    expired = run_with_pool(run)
    for case_id in expired:
        typer.echo(case_id)
    typer.echo(f"{len(expired)} approvals expired", err=True)


@app.command("rebuild")
@needs("server")
def rebuild(
    tenant: Annotated[
        str | None,
        typer.Option(help="Only this tenant (default: every one).", callback=inputs.tenant_id),
    ] = None,
    workflow: Workflow = None,
    check: Annotated[
        bool, typer.Option(help="Only compare the rows with their events; change nothing.")
    ] = False,
) -> None:
    """Fold every case's transition events again and write back each row that differs or is
    missing (with --check, only report them); exit 1 when something differed."""
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services import workflows as service

    chosen = tenant

    async def run(pool: Pool) -> list[RebuildReport]:
        if chosen is None:
            return await service.rebuild_all(pool, WORKFLOWS, workflow=workflow, check=check)
        return [
            await service.rebuild(pool, WORKFLOWS, tenant_id=chosen, workflow=workflow, check=check)
        ]

    reports = run_with_pool(run)
    verb = "differ" if check else "rewritten"
    for report in reports:
        line = f"{report.tenant_id}: {report.cases} cases"
        if report.ok:
            typer.echo(line + ", every row as its events make it")
            continue
        typer.echo(
            f"{line}; {len(report.differed)} {verb}, {len(report.missing)} missing"
            f"{' (written)' if not check else ''}, {len(report.orphaned)} without events, "
            f"{len(report.unknown)} of unknown workflows"
        )
        for case in report.differed + report.missing + report.orphaned + report.unknown:
            typer.echo(f"  {case}")
    if any(not r.ok for r in reports):
        raise typer.Exit(1)
