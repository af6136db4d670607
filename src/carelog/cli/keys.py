"""``carelog keys``: issue, list and revoke API keys."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import ValidationError

from carelog.cli.database import database_url, small_pool
from carelog.domain.principals import ApiKey, ApiKeyCreate, IssuedApiKey, Scope
from carelog.errors import CarelogError
from carelog.services import keys as key_service
from carelog.settings import get_settings

app = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)


async def _issue(url: str, request: ApiKeyCreate) -> IssuedApiKey:
    async with small_pool(url) as pool:
        return await key_service.issue_key(pool, request)


async def _list(url: str, tenant: str | None) -> list[ApiKey]:
    async with small_pool(url) as pool:
        return await key_service.list_keys(pool, tenant_id=tenant)


async def _revoke(url: str, key_id: str) -> ApiKey:
    async with small_pool(url) as pool:
        return await key_service.revoke_key(pool, key_id)


@app.command("create")
def create(
    tenant: Annotated[str, typer.Option(help="Tenant the key belongs to (created if new).")],
    scope: Annotated[list[Scope], typer.Option(help="Scope to grant; repeat for several.")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "",
) -> None:
    """Issue a key and print its token once; only a hash of it is stored."""
    try:
        request = ApiKeyCreate(tenant_id=tenant, scopes=frozenset(scope), name=name)
    except ValidationError as exc:
        raise typer.BadParameter(exc.errors()[0]["msg"]) from None
    with database_url(get_settings()) as url:
        issued = asyncio.run(_issue(url, request))
    scopes = " ".join(sorted(issued.key.scopes))
    typer.echo(f"key id:  {issued.key.key_id}\ntenant:  {issued.key.tenant_id}\nscopes:  {scopes}")
    typer.echo(f"token:   {issued.token}")
    typer.echo("Store the token now: it is not shown again.", err=True)


@app.command("list")
def list_(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None,
) -> None:
    """List keys (never their tokens)."""
    with database_url(get_settings()) as url:
        keys = asyncio.run(_list(url, tenant))
    typer.echo(f"{'KEY ID':<14}{'TENANT':<20}{'STATUS':<10}{'SCOPES':<36}NAME")
    for key in keys:
        status = "revoked" if key.revoked_at else "active"
        scopes = ",".join(sorted(key.scopes))
        typer.echo(f"{key.key_id:<14}{key.tenant_id:<20}{status:<10}{scopes:<36}{key.name}")


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by 'keys list'.")]) -> None:
    """Revoke a key: the next request made with it gets 401."""
    with database_url(get_settings()) as url:
        try:
            key = asyncio.run(_revoke(url, key_id))
        except CarelogError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(1) from None
    typer.echo(f"revoked {key.key_id} (tenant {key.tenant_id})")
