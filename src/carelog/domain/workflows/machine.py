"""The one small state-machine core every workflow is a table of.

A workflow is a pure table: its states, which of them are open, and its actions. An action
moves a case from one of its source states to a target state (or leaves the state as it is: a
comment, a linked document), and says who may take it: which principal kinds, with which
permission, and whether an agent may take it only on a case it opened itself.

Whether an action needs ``If-Match`` is part of the table too. An action that only moves the
state is checked against the case's current state under the row's lock, so two agents racing
on one case can never both win and no update is lost without it; an action that overwrites
fields the client read before (an edit) needs the version the client saw.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from carelog.domain.principals import PrincipalKind
from carelog.domain.scopes import Permission
from carelog.errors import Conflict, Forbidden

ALL_KINDS = frozenset(PrincipalKind)
PEOPLE = frozenset({PrincipalKind.USER})
# Who is not a person: agents and services (e.g. those that may act only on their own cases).
AGENTS = frozenset({PrincipalKind.AGENT, PrincipalKind.SERVICE})


class TransitionNotAllowed(Conflict):
    """The action cannot be taken from the case's current state (or not by this caller)."""

    code = "transition-not-allowed"
    title = "Transition not allowed"

    def __init__(self, detail: str, *, state: str, allowed: list[str]) -> None:
        super().__init__(detail, extensions={"state": state, "allowed": allowed})


@dataclass(frozen=True, slots=True)
class Action:
    """One edge (or self-loop) of a workflow's table."""

    name: str
    sources: frozenset[str]
    # None: the state stays (a comment, a link, an edit).
    target: str | None = None
    # An action whose target the workflow's state rule picks from the case's fields (a
    # payer's decision: its lines make it approved, denied...): the states it may pick.
    outcomes: frozenset[str] = frozenset()
    kinds: frozenset[PrincipalKind] = ALL_KINDS
    permission: Permission = Permission.WORKFLOWS_WRITE
    # Kinds that may take it only on a case they opened themselves (an agent cancels its own).
    own_only: frozenset[PrincipalKind] = frozenset()
    # It overwrites fields a client read before: refused without If-Match (428).
    needs_if_match: bool = False
    # It must say why (a denial, a cancellation, a reopening).
    needs_reason: bool = False
    description: str = ""

    def target_from(self, state: str) -> str:
        """The state a case in ``state`` is in after this action (for an action with
        ``outcomes``: the state its workflow's rule picks, see :meth:`Machine.target`)."""
        return state if self.target is None else self.target

    def targets(self, state: str) -> frozenset[str]:
        """Every state a case in ``state`` may be in after this action."""
        return self.outcomes or frozenset({self.target_from(state)})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who takes an action, as the table needs to know them."""

    name: str
    kind: PrincipalKind
    permissions: frozenset[Permission]

    def holds(self, permission: Permission) -> bool:
        return permission in self.permissions or Permission.ADMIN in self.permissions


@dataclass(frozen=True, slots=True)
class Machine:
    """A workflow's states and actions. ``initial`` is the state a case opens in."""

    name: str
    states: tuple[str, ...]
    open_states: frozenset[str]
    initial: str
    actions: tuple[Action, ...]
    by_name: Mapping[str, Action] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = [a.name for a in self.actions]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.name}: duplicate action names")
        known = set(self.states)
        for action in self.actions:
            if action.outcomes and action.target is not None:
                raise ValueError(f"{self.name}.{action.name}: a target or outcomes, not both")
            unknown = (action.sources | action.targets(next(iter(action.sources)))) - known
            if unknown:
                raise ValueError(f"{self.name}.{action.name}: unknown states {sorted(unknown)}")
        if self.initial not in known or not self.open_states <= known:
            raise ValueError(f"{self.name}: initial and open states must be states")
        object.__setattr__(self, "by_name", {a.name: a for a in self.actions})

    @property
    def closed_states(self) -> frozenset[str]:
        return frozenset(self.states) - self.open_states

    def is_open(self, state: str) -> bool:
        return state in self.open_states

    def allowed(self, state: str, actor: Actor, *, opened_by: str | None = None) -> list[str]:
        """The actions ``actor`` may take on a case in ``state`` (opened by ``opened_by``)."""
        return [a.name for a in self.actions if _may(a, state, actor, opened_by)]

    def take(self, state: str, action_name: str, actor: Actor, *, opened_by: str) -> Action:
        """The action, if ``actor`` may take it from ``state``; else 409 naming what it may."""
        action = self.by_name.get(action_name)
        if action is None:
            raise TransitionNotAllowed(
                f"{self.name} has no action {action_name!r}.",
                state=state,
                allowed=self.allowed(state, actor, opened_by=opened_by),
            )
        if not actor.holds(action.permission):
            raise Forbidden(f"{action_name} needs the {action.permission.value} permission.")
        if not _may(action, state, actor, opened_by):
            allowed = self.allowed(state, actor, opened_by=opened_by)
            raise TransitionNotAllowed(
                f"{action_name} is not allowed on a {self.name} case in state {state!r} "
                f"for this caller; allowed: {', '.join(allowed) or 'none'}.",
                state=state,
                allowed=allowed,
            )
        return action

    def target(self, action: Action, state: str, picked: str | None) -> str:
        """The state after ``action`` from ``state``: the one its workflow's rule ``picked``
        for an action with outcomes (which must be one of them), else its own target."""
        if not action.outcomes:
            return action.target_from(state)
        if picked not in action.outcomes:
            raise ValueError(f"{self.name}.{action.name}: the state rule picked {picked!r}")
        return picked

    def edges(self) -> Iterable[tuple[str, Action]]:
        """Every (source state, action) pair of the table."""
        for action in self.actions:
            for source in sorted(action.sources):
                yield source, action


def _may(action: Action, state: str, actor: Actor, opened_by: str | None) -> bool:
    if state not in action.sources or actor.kind not in action.kinds:
        return False
    if not actor.holds(action.permission):
        return False
    return not (actor.kind in action.own_only and opened_by is not None and opened_by != actor.name)
