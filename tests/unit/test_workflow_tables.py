"""Every workflow's transition table: each allowed edge for each principal kind that may take
it, and what is refused (another state, another kind, a missing permission, an agent acting
on another's case); and the fold that makes a case from its transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from carelog.domain.principals import PrincipalKind
from carelog.domain.scopes import Permission
from carelog.domain.workflows import (
    WORKFLOWS,
    care_tasks,
    escalations,
    prior_auth,
    prior_auth_rules,
)
from carelog.domain.workflows.case import QueueColumns, TransitionRecord, merge, replay
from carelog.domain.workflows.definition import OPEN
from carelog.domain.workflows.machine import Action, Actor, Machine, TransitionNotAllowed
from carelog.domain.workflows.prior_auth_fields import Provider
from carelog.errors import Forbidden

pytestmark = pytest.mark.unit

WRITE = frozenset({Permission.WORKFLOWS_WRITE})
EDGES = [
    pytest.param(workflow.machine, source, action, id=f"{name}:{source}-{action.name}")
    for name, workflow in WORKFLOWS.items()
    for source, action in workflow.machine.edges()
]


def _actor(kind: PrincipalKind, name: str = "key:me") -> Actor:
    return Actor(name, kind, WRITE)


@pytest.mark.parametrize(("machine", "source", "action"), EDGES)
def test_each_edge_for_each_kind(machine: Machine, source: str, action: Action) -> None:
    for kind in PrincipalKind:
        actor = _actor(kind)
        if kind in action.kinds:
            assert machine.take(source, action.name, actor, opened_by="key:me") is action
            assert action.name in machine.allowed(source, actor, opened_by="key:me")
            assert action.target_from(source) in machine.states
        else:
            with pytest.raises(TransitionNotAllowed) as refused:
                machine.take(source, action.name, actor, opened_by="key:me")
            assert action.name not in refused.value.extensions["allowed"]
            assert refused.value.extensions["state"] == source


@pytest.mark.parametrize(("machine", "source", "action"), EDGES)
def test_each_edge_needs_the_write_permission(
    machine: Machine, source: str, action: Action
) -> None:
    reader = Actor("key:me", next(iter(action.kinds)), frozenset({Permission.WORKFLOWS_READ}))
    with pytest.raises(Forbidden):
        machine.take(source, action.name, reader, opened_by="key:me")
    assert machine.allowed(source, reader, opened_by="key:me") == []
    admin = Actor("key:me", next(iter(action.kinds)), frozenset({Permission.ADMIN}))
    assert machine.take(source, action.name, admin, opened_by="key:me") is action


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_no_action_from_a_state_it_does_not_leave(name: str) -> None:
    machine = WORKFLOWS[name].machine
    person = _actor(PrincipalKind.USER)
    for state in machine.states:
        for action in machine.actions:
            if state in action.sources:
                continue
            with pytest.raises(TransitionNotAllowed) as refused:
                machine.take(state, action.name, person, opened_by="key:me")
            assert refused.value.status == 409
            assert refused.value.extensions["allowed"] == machine.allowed(
                state, person, opened_by="key:me"
            )


@pytest.mark.parametrize(
    ("machine", "action", "source"),
    [
        (escalations.MACHINE, "cancel", "open"),
        (care_tasks.MACHINE, "cancel", "requested"),
    ],
)
def test_an_agent_cancels_only_what_it_opened(machine: Machine, action: str, source: str) -> None:
    agent = _actor(PrincipalKind.AGENT, "key:bot")
    assert machine.take(source, action, agent, opened_by="key:bot").name == action
    with pytest.raises(TransitionNotAllowed):
        machine.take(source, action, agent, opened_by="key:other-bot")
    person = _actor(PrincipalKind.USER, "key:nurse")
    assert machine.take(source, action, person, opened_by="key:bot").name == action


def test_the_tables_say_what_the_issue_says() -> None:
    esc = escalations.MACHINE
    assert {(s, a.name, a.target_from(s)) for s, a in esc.edges() if a.target} == {
        ("open", "acknowledge", "acknowledged"),
        ("open", "resolve", "resolved"),
        ("acknowledged", "resolve", "resolved"),
        ("open", "cancel", "cancelled"),
        ("acknowledged", "cancel", "cancelled"),
        ("resolved", "reopen", "open"),
    }
    assert esc.by_name["acknowledge"].kinds == esc.by_name["resolve"].kinds == {PrincipalKind.USER}
    task = care_tasks.MACHINE
    moves = {(s, a.target_from(s)) for s, a in task.edges() if a.target}
    assert {
        ("requested", "accepted"), ("accepted", "in_progress"), ("in_progress", "completed"),
        ("requested", "rejected"), ("in_progress", "on_hold"), ("on_hold", "in_progress"),
        ("in_progress", "failed"), ("requested", "cancelled"),
    } <= moves  # fmt: skip
    assert ("in_progress", "cancelled") not in moves
    assert task.by_name["reassign"].needs_if_match
    assert not task.by_name["accept"].needs_if_match
    assert task.closed_states == {"completed", "rejected", "cancelled", "failed"}


def test_an_unknown_action_names_what_is_allowed() -> None:
    with pytest.raises(TransitionNotAllowed) as refused:
        escalations.MACHINE.take("open", "explode", _actor(PrincipalKind.USER), opened_by="x")
    assert refused.value.extensions["allowed"] == [
        "acknowledge", "resolve", "cancel", "comment", "link",
    ]  # fmt: skip


def test_a_table_with_an_unknown_state_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown states"):
        Machine("m", ("a",), frozenset({"a"}), "a", (Action("go", frozenset({"a"}), "b"),))


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _record(n: int, action: str, frm: str | None, to: str, **changes: object) -> TransitionRecord:
    return TransitionRecord(
        workflow="escalation", case_id="c-1", event_id=n, occurred_at=T0 + timedelta(minutes=n),
        recorded_by="key:me", recorded_by_kind="agent", action=action, from_state=frm,
        to_state=to, reason=None, changes=changes,
    )  # fmt: skip


def test_the_fold_makes_the_case_from_its_transitions() -> None:
    workflow = escalations.WORKFLOW
    opened = {"severity": "urgent", "reason": "r"}
    opened |= workflow.computed(OPEN, opened, T0, {})
    records = [
        _record(1, OPEN, None, "open", **opened),
        _record(2, "acknowledge", "open", "acknowledged"),
        _record(3, "resolve", "acknowledged", "resolved", outcome="advised"),
    ]
    case = replay(
        workflow="escalation", case_id="c-1", patient_id="p", transitions=records,
        is_open=workflow.machine.is_open, columns=workflow.columns,
    )  # fmt: skip
    assert case is not None
    assert (case.state, case.version, case.is_open) == ("resolved", 3, False)
    assert case.data["outcome"] == "advised"
    assert case.data["due_at"] == "2026-03-02T11:00:00+00:00"
    assert case.columns == QueueColumns(rank=1, due_at=None, sort_at=case.opened_at)
    assert (case.opened_at, case.updated_at) == (
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=3),
    )
    assert case.event_ids == (1, 2, 3)
    assert not case.overdue(T0 + timedelta(days=9))


def test_merge_sets_and_removes() -> None:
    assert merge({"a": 1, "b": 2}, {"b": None, "c": 3}) == {"a": 1, "c": 3}


def test_due_times_follow_the_policy() -> None:
    computed = escalations.computed
    assert computed(OPEN, {"severity": "emergent"}, T0, {}) == {
        "due_at": "2026-03-02T09:15:00+00:00"
    }
    assert computed("reopen", {"severity": "routine"}, T0, {"routine": 60}) == {
        "due_at": "2026-03-02T09:01:00+00:00"
    }
    assert computed("acknowledge", {"severity": "routine"}, T0, {}) == {}
    overdue = escalations.columns("open", {"severity": "urgent", "due_at": T0.isoformat()})
    assert overdue.due_at == T0
    assert escalations.columns("acknowledged", {"due_at": T0.isoformat()}).due_at is None


def test_the_prior_authorization_table_says_what_the_issue_says() -> None:
    machine = prior_auth.MACHINE
    moves = {(s, t) for s, a in machine.edges() for t in a.targets(s) if t != s}
    assert {
        ("draft", "submitted"), ("submitted", "pended"), ("pended", "submitted"),
        ("submitted", "approved"), ("submitted", "partially_approved"),
        ("submitted", "modified"), ("submitted", "denied"), ("denied", "appealed"),
        ("appealed", "approved"), ("appealed", "denied"), ("approved", "expired"),
        ("submitted", "error"), ("error", "submitted"), ("draft", "cancelled"),
    } <= moves  # fmt: skip
    assert ("draft", "approved") not in moves  # a decision needs a submission
    assert ("approved", "appealed") not in moves
    assert machine.by_name["update"].needs_if_match
    assert machine.closed_states == {
        "approved", "partially_approved", "modified", "denied", "cancelled", "expired"
    }  # fmt: skip


def _lines(*actions: str | None) -> list[dict[str, Any]]:
    return [{"decision": None if a is None else {"action": a}} for a in actions]


@pytest.mark.parametrize(
    ("actions", "state"),
    [
        (("certified", "certified"), "approved"),
        (("not_certified", "not_certified"), "denied"),
        (("certified", "modified"), "modified"),
        (("certified", "partial"), "partially_approved"),
        (("certified", "not_certified"), "partially_approved"),
        (("modified", "not_certified"), "partially_approved"),
        (("certified", "pended"), "pended"),
        (("not_certified", None), "pended"),  # a line not yet decided keeps the case open
        (("cancelled", "cancelled"), "cancelled"),
        (("cancelled", "certified"), "approved"),
        (("cancelled", "not_certified"), "denied"),
    ],
)
def test_the_lines_make_the_state(actions: tuple[str | None, ...], state: str) -> None:
    assert prior_auth_rules.state_of_lines(_lines(*actions)) == state


def test_an_action_with_outcomes_takes_only_a_state_it_names() -> None:
    respond = prior_auth.MACHINE.by_name["respond"]
    assert prior_auth.MACHINE.target(respond, "submitted", "approved") == "approved"
    with pytest.raises(ValueError, match="state rule"):
        prior_auth.MACHINE.target(respond, "submitted", "draft")


@pytest.mark.parametrize(("npi", "valid"), [("1234567893", True), ("1234567890", False)])
def test_an_npi_is_checked_by_its_check_digit(npi: str, valid: bool) -> None:
    body = {"npi": npi}
    if valid:
        assert Provider.model_validate(body).npi == npi
    else:
        with pytest.raises(ValidationError, match="check digit"):
            Provider.model_validate(body)


def test_an_appeal_starts_a_review_without_an_earlier_rounds_respond_by() -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    data = {"urgency": "expedited", "respond_by": "2026-02-01T00:00:00+00:00"}
    appealed = prior_auth_rules.computed("appeal", data, now, {})
    assert appealed["respond_by"] is None  # (merged: the key goes)
    assert appealed["due_at"] == (now + timedelta(hours=72)).isoformat()
    # Pended again on appeal without a respond_by: no clock, not the old date.
    pended = prior_auth_rules.computed(
        "respond", {"lines": [{"decision": {"action": "pended"}}]}, now, {}
    )
    assert pended["due_at"] is None
