"""The workflows agents run on Carelog, each a table on the one state-machine core
(:mod:`.machine`), its cases projections of their transition events (:mod:`.case`)."""

from __future__ import annotations

from carelog.domain.workflows import care_tasks, escalations, prior_auth
from carelog.domain.workflows.definition import Workflow

# Every workflow by name (the ``workflow`` of its transition events).
WORKFLOWS: dict[str, Workflow] = {
    workflow.name: workflow
    for workflow in (escalations.WORKFLOW, prior_auth.WORKFLOW, care_tasks.WORKFLOW)
}
