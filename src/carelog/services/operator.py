"""The operator at the command line, as the use cases see a caller: an ``admin`` principal of
one tenant, through the CLI channel, audited like any other reader."""

from __future__ import annotations

import uuid

from carelog.domain.access import Access, Channel
from carelog.domain.audit import AuditContext
from carelog.domain.principals import Credential, Principal, PrincipalKind
from carelog.domain.scopes import Permission


def operator_access(tenant_id: str, command: str) -> Access:
    """The access of ``carelog <command>`` for ``tenant_id``: it sees every label, and its
    reads leave audit rows naming the command (purpose: system administration)."""
    principal = Principal(
        key_id="cli",
        credential=Credential.OPERATOR,
        tenant_id=tenant_id,
        permissions=frozenset({Permission.ADMIN}),
        kind=PrincipalKind.USER,
        default_purpose="HSYSADMIN",
    )
    audit = AuditContext(
        request_id=f"cli-{uuid.uuid4().hex}",
        client_address=None,
        route=f"carelog {command}",
        tenant_id=tenant_id,
        principal_kind=principal.kind.value,
        principal_id=principal.name,
        purpose_of_use=principal.default_purpose,
    )
    return Access(principal, audit, Channel.CLI)
