"""Care tasks (``/care-tasks``): a care-coordination copilot hands work to the care team.

Open, list (priority, then due time; ``assignee=`` a role or principal), read with the
timeline, act."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from carelog.api.kit.workflows import QueueQuery, WorkflowApi, add_case_routes
from carelog.api.routing import JsonRoute
from carelog.domain.workflows import care_tasks
from carelog.domain.workflows.care_tasks import Assignee

router = APIRouter(tags=["care tasks"], route_class=JsonRoute)


class CareTaskQuery(QueueQuery):
    """The care-task queue's filters."""

    assignee: Assignee | None = Field(default=None, description="Only tasks assigned to it.")

    def filters(self) -> dict[str, Any]:
        return {"assignee": self.assignee}


add_case_routes(
    router,
    WorkflowApi(
        workflow=care_tasks.WORKFLOW,
        path="/care-tasks",
        open_body=care_tasks.CareTaskOpen,
        action_body=care_tasks.CareTaskAction,
        view=care_tasks.CareTaskView,
        query=CareTaskQuery,
        noun="a care task",
    ),
)
