"""``carelog keys``: issue, list, rotate and revoke API keys."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from pydantic import ValidationError

from carelog.cli import inputs
from carelog.cli.extras import needs
from carelog.domain.principals import ApiKey, ApiKeyCreate, IssuedApiKey, PrincipalKind

app = typer.Typer(help="Issue, list, rotate and revoke API keys.", no_args_is_help=True)

_DURATION = re.compile(r"^(\d{1,6})([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``90d``, ``12h``, ``30m`` or ``45s`` as a timedelta."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise typer.BadParameter(f"'{text}' is not a duration like 90d, 12h, 30m or 45s")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def _show(issued: IssuedApiKey) -> None:
    key = issued.key
    typer.echo(f"key id:  {key.key_id}\ntenant:  {key.tenant_id}\nkind:    {key.kind.value}")
    if key.agent_name:
        typer.echo(f"agent:   {key.agent_name}")
    typer.echo(f"scopes:  {' '.join(sorted(key.scopes))}")
    if key.patients:
        typer.echo(f"patients: {' '.join(key.patients)}")
    if key.expires_at:
        typer.echo(f"expires: {key.expires_at.isoformat()}")
    typer.echo(f"token:   {issued.token}")
    typer.echo("Store the token now: it is not shown again.", err=True)


@app.command("create")
@needs("server")
def create(
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to (created if new).")],
    scope: Annotated[
        list[str],
        typer.Option(
            help="Scope to grant, repeatable: events:read, events:write, audit:read, admin, "
            "or SMART scopes such as user/*.rs, system/*.cruds, patient/*.rs (with --patient)."
        ),
    ],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
    kind: Annotated[
        PrincipalKind, typer.Option(help="What uses the key; recorded on what it writes.")
    ] = PrincipalKind.SERVICE,
    agent_name: Annotated[
        str | None, typer.Option(help="The agent's name (required with --kind agent).")
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="Lifetime such as 90d or 12h; default: no expiry.")
    ] = None,
    patient: Annotated[
        list[str] | None,
        typer.Option(help="Limit the key to this patient; repeat for several. Default: all."),
    ] = None,
    purpose: Annotated[
        str,
        typer.Option(help="Purpose of use recorded when a request states none (HL7 code)."),
    ] = "TREAT",
) -> None:
    """Issue a key and print its token once; only a hash of it is stored."""
    expires_at = None
    if expires_in is not None:
        expires_at = datetime.now(UTC) + parse_duration(expires_in)
    try:
        request = ApiKeyCreate(
            tenant_id=tenant,
            scopes=frozenset(scope),
            name=name,
            kind=kind,
            agent_name=agent_name,
            expires_at=expires_at,
            patients=frozenset(patient) if patient else None,
            default_purpose=purpose,
        )
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from None
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services.auth import keys as key_service

    _show(run_with_pool(lambda pool: key_service.issue_key(pool, request)))


@app.command("rotate")
@needs("server")
def rotate(
    key_id: Annotated[
        str, typer.Argument(help="The key id shown by 'keys list'.", callback=inputs.key_id)
    ],
    grace: Annotated[
        str, typer.Option(help="How long the old key keeps working, e.g. 24h or 0s.")
    ] = "24h",
) -> None:
    """Issue a replacement key; the old one keeps working for the grace period, then expires."""
    period = parse_duration(grace)
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services.auth import keys as key_service

    _show(run_with_pool(lambda pool: key_service.rotate_key(pool, key_id, grace=period)))
    typer.echo(f"{key_id} stays valid for {grace}, then expires.", err=True)


@app.command("list")
@needs("server")
def list_(
    tenant: Annotated[
        str | None, typer.Option(help="Only this tenant's keys.", callback=inputs.tenant_id)
    ] = None,
) -> None:
    """List keys (never their tokens) with their kind, status, expiry and last use."""
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services.auth import keys as key_service

    keys: list[ApiKey] = run_with_pool(lambda pool: key_service.list_keys(pool, tenant_id=tenant))
    now = datetime.now(UTC)

    def when(value: datetime | None) -> str:
        return value.strftime("%Y-%m-%d %H:%M") if value else "-"

    typer.echo(
        f"{'KEY ID':<14}{'TENANT':<16}{'KIND':<9}{'STATUS':<9}{'EXPIRES':<18}"
        f"{'LAST USED':<18}{'SCOPES':<30}NAME"
    )
    for key in keys:
        scopes = ",".join(sorted(key.scopes))
        label = key.name + (f" (agent {key.agent_name})" if key.agent_name else "")
        if key.patients:
            label += f" [{len(key.patients)} patient(s)]"
        typer.echo(
            f"{key.key_id:<14}{key.tenant_id:<16}{key.kind.value:<9}{key.status(now):<9}"
            f"{when(key.expires_at):<18}{when(key.last_used_at):<18}{scopes:<30}{label}"
        )


@app.command("revoke")
@needs("server")
def revoke(
    key_id: Annotated[
        str, typer.Argument(help="The key id shown by 'keys list'.", callback=inputs.key_id)
    ],
) -> None:
    """Revoke a key: the next request made with it gets 401."""
    from carelog.cli.database import run_with_pool  # (the server extra)
    from carelog.services.auth import keys as key_service

    key = run_with_pool(lambda pool: key_service.revoke_key(pool, key_id))
    typer.echo(f"revoked {key.key_id} (tenant {key.tenant_id})")
