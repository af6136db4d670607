"""The one mapping from scope strings (SMART on FHIR and Carelog's own) to permissions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from carelog.domain.principals import ApiKeyCreate
from carelog.domain.scopes import (
    Context,
    Permission,
    needs_patient_list,
    parse_scope,
    permissions_for,
)

pytestmark = pytest.mark.unit

R, W, A, ADMIN = (
    Permission.EVENTS_READ,
    Permission.EVENTS_WRITE,
    Permission.AUDIT_READ,
    Permission.ADMIN,
)
WR, WW = Permission.WORKFLOWS_READ, Permission.WORKFLOWS_WRITE


@pytest.mark.parametrize(
    ("scope", "permissions", "context"),
    [
        ("events:read", {R}, None),
        ("events:write", {W}, None),
        ("audit:read", {A}, None),
        ("admin", {ADMIN}, None),
        ("workflows:read", {WR}, None),
        ("workflows:write", {WW}, None),
        # The * resource reaches the events and the workflows.
        ("patient/*.rs", {R, WR}, Context.PATIENT),
        ("patient/*.r", {R, WR}, Context.PATIENT),
        ("user/*.cruds", {R, W, WR, WW}, Context.USER),
        ("user/*.c", {W, WW}, Context.USER),
        ("system/*.rs", {R, WR}, Context.SYSTEM),
        ("system/*.cud", {W, WW}, Context.SYSTEM),
        ("patient/*.read", {R, WR}, Context.PATIENT),
        ("user/*.write", {W, WW}, Context.USER),
        ("system/*.*", {R, W, WR, WW}, Context.SYSTEM),
        # Task (escalations, care tasks) and Claim (prior authorization): workflows only.
        ("patient/Task.rs", {WR}, Context.PATIENT),
        ("user/Task.cruds", {WR, WW}, Context.USER),
        ("system/Claim.cu", {WW}, Context.SYSTEM),
        ("user/Claim.read", {WR}, Context.USER),
        ("system/Task.*", {WR, WW}, Context.SYSTEM),
    ],
)
def test_scope_grants(scope: str, permissions: set[Permission], context: Context | None) -> None:
    grant = parse_scope(scope)
    assert grant.permissions == permissions
    assert grant.context == context


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ("events:delete", "unknown scope"),
        ("patient/*.x", "unknown scope"),
        ("practitioner/*.rs", "unknown scope"),
        ("patient/Observation.rs", "the supported resources are \\*, Claim, Task"),
        ("user/*.sr", "order cruds"),
        ("user/*.rr", "order cruds"),
        ("", "unknown scope"),
        ("ADMIN", "unknown scope"),
    ],
)
def test_bad_scopes(scope: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_scope(scope)


def test_permissions_combine() -> None:
    assert permissions_for(["system/*.rs", "events:write", "audit:read"]) == {R, W, A, WR}
    assert permissions_for(["system/Task.rs", "events:write"]) == {W, WR}
    assert permissions_for([]) == frozenset()


def test_patient_scopes_need_a_patient_list() -> None:
    assert needs_patient_list(["user/*.rs", "patient/*.rs"])
    assert not needs_patient_list(["user/*.rs", "system/*.rs"])
    with pytest.raises(ValidationError, match="patient/ scopes need the patients"):
        ApiKeyCreate(tenant_id="t", scopes=frozenset({"patient/*.rs"}))
    key = ApiKeyCreate(
        tenant_id="t", scopes=frozenset({"patient/*.rs"}), patients=frozenset({"P-1"})
    )
    assert key.patients == frozenset({"P-1"})
    with pytest.raises(ValidationError, match="unknown scope"):
        ApiKeyCreate(tenant_id="t", scopes=frozenset({"events:everything"}))
    with pytest.raises(ValidationError):
        ApiKeyCreate(tenant_id="t", scopes=frozenset({"admin"}), patients=frozenset({"../etc"}))
