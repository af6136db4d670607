"""Who is asking, through which door, and what they may see: one object per request.

Built once by the edge that received the request (the REST dependency today; the MCP server
and the command line tomorrow) and handed to every use case as one argument, so that each
door applies the same rules: which tenant the work speaks for, which sensitivity labels the
caller may see (break-the-glass opens them all, and is flagged on the audit row), and what
the audit row of the request says (request id, purpose of use, route or tool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from carelog.domain.audit import AuditContext
from carelog.domain.principals import Principal
from carelog.domain.scopes import SensitivityLabel


class Channel(StrEnum):
    """The door a request came through."""

    REST = "rest"
    MCP = "mcp"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class Access:
    """An authenticated request as the use cases see it: the principal, the audit row being
    built for the request (who, why, break-the-glass, request id), and the channel."""

    principal: Principal
    audit: AuditContext
    channel: Channel = Channel.REST
    # Sensitivity labels this request may see; None: all (break-the-glass, or the principal
    # holds every sensitive: permission). Decided once, when the access is made: the glass
    # is broken (or not) by then.
    visible_labels: frozenset[str] | None = field(init=False, compare=False)

    def __post_init__(self) -> None:
        visible: frozenset[str] | None = None
        if not self.audit.break_glass:
            visible = self.principal.visible_labels()
            if len(visible) == len(SensitivityLabel):
                visible = None
        object.__setattr__(self, "visible_labels", visible)

    @property
    def tenant_id(self) -> str:
        """The tenant every statement of the request speaks for."""
        return self.principal.tenant_id
