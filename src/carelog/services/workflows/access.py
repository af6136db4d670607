"""Who a workflow use case acts for, as the tables and the case queries need it."""

from __future__ import annotations

from datetime import UTC, datetime

from carelog.domain.principals import Principal
from carelog.domain.workflows.machine import Actor
from carelog.services.unit import Work
from carelog.storage.workflows import Visibility


def actor_of(principal: Principal) -> Actor:
    """A principal as a workflow's table sees it."""
    return Actor(principal.name, principal.kind, principal.permissions)


def actor(work: Work) -> Actor:
    """The caller as a workflow's table sees it."""
    return actor_of(work.access.principal)


def visibility(work: Work) -> Visibility:
    access = work.access
    return Visibility(access.tenant_id, access.principal.patients, access.visible_labels)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
