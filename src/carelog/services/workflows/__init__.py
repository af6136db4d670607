"""The use cases of every workflow (open, act, read, list, rebuild), on the shared core."""

from carelog.services.workflows.access import actor, actor_of
from carelog.services.workflows.cases import CaseResult, open_case, policy, set_policy, take_action
from carelog.services.workflows.reads import CasePage, get_case, list_cases, open_cases
from carelog.services.workflows.rebuild import RebuildReport, rebuild, rebuild_all

__all__ = [
    "CasePage",
    "CaseResult",
    "RebuildReport",
    "actor",
    "actor_of",
    "get_case",
    "list_cases",
    "open_case",
    "open_cases",
    "policy",
    "rebuild",
    "rebuild_all",
    "set_policy",
    "take_action",
]
