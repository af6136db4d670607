"""Access: the one object a use case gets for a request (issue 10, item 2). What a caller
may see is decided here, once, for every door (REST today, MCP and the CLI later)."""

from __future__ import annotations

import pytest

from carelog.domain.access import Access, Channel
from carelog.domain.audit import AuditContext
from carelog.domain.principals import Credential, Principal
from carelog.domain.scopes import Permission, SensitivityLabel

pytestmark = pytest.mark.unit


def _principal(*permissions: Permission) -> Principal:
    return Principal(
        tenant_id="t-1",
        key_id="k-1",
        credential=Credential.KEY,
        permissions=frozenset({Permission.EVENTS_READ, *permissions}),
    )


def _access(principal: Principal, *, break_glass: bool = False) -> Access:
    audit = AuditContext(request_id="r-1", client_address=None, break_glass=break_glass)
    return Access(principal, audit)


def test_labels_a_principal_may_see() -> None:
    assert _access(_principal()).visible_labels == frozenset()
    assert _access(_principal(Permission.SENSITIVE_BH)).visible_labels == frozenset({"BH"})
    every = [SensitivityLabel(label).permission for label in SensitivityLabel]
    assert _access(_principal(*every)).visible_labels is None  # all: no filter at all


def test_break_the_glass_opens_every_label() -> None:
    assert _access(_principal(), break_glass=True).visible_labels is None


def test_tenant_and_channel() -> None:
    access = _access(_principal())
    assert access.tenant_id == "t-1"
    assert access.channel is Channel.REST
    assert Access(access.principal, access.audit, Channel.MCP).channel == "mcp"
