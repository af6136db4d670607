"""Queue reads are O(page): over 40,000 cases each queue shape is an ordered index range
read a page at a time, planned as the service runs it (carelog_app, row-level security)."""

from __future__ import annotations

import pytest

from carelog.domain.audit import AuditContext
from carelog.storage.db import Connection
from carelog.storage.queries import Queries

pytestmark = pytest.mark.integration

load = Queries("carelog.storage.workflows")
TENANT = "t-plan-workflows"


async def test_every_queue_is_an_index_range(dba: Connection) -> None:
    await dba.execute(
        "INSERT INTO workflow_cases (tenant_id, case_id, workflow, patient_id, state, is_open,"
        " version, data, rank, sort_at, due_at, assignee, payer_id, opened_at, opened_by,"
        " opened_by_kind, updated_at, event_ids)"
        " SELECT %(t)s, gen_random_uuid(), 'escalation', 'P-' || (g %% 5000),"
        " (ARRAY['open', 'acknowledged', 'resolved', 'cancelled'])[1 + g %% 4],"
        " g %% 4 < 2, 1, '{}', g %% 3, now() - make_interval(secs => g),"
        " CASE WHEN g %% 4 = 0 THEN now() + make_interval(secs => 40000 - 2 * g) END,"
        " 'rn-' || (g %% 50), 'payer-' || (g %% 10), now() - make_interval(secs => g),"
        " 'key:x', 'agent', now(),"
        " ARRAY[g::bigint] FROM generate_series(1, 40000) AS g",
        {"t": TENANT},
    )
    await dba.execute("ANALYZE workflow_cases")
    await dba.execute("SET ROLE carelog_app")
    await dba.execute("SELECT set_config('carelog.tenant_id', %s, false)", (TENANT,))
    base: dict[str, object] = {
        "tenant_id": TENANT,
        "workflow": "escalation",
        "states": None,
        "patient_id": None,
        "assignee": None,
        "payer_id": None,
        "patients": None,
        "visible_labels": ["BH"],  # a principal that may see only one label
        "now": None,
        "after_rank": None,
        "after_sort_at": None,
        "after_case": None,
        "limit": 51,
        **AuditContext(request_id="plan", client_address=None).params(),
    }
    shapes: list[tuple[str, dict[str, object], str]] = [
        ("list_cases", {}, "workflow_cases_order"),
        # A quarter of the rows are open: either the state's range or the whole order's,
        # filtered (about four rows read per row kept), never a sort.
        ("list_cases_in_states", {"states": ["open"]}, "workflow_cases_"),
        ("list_overdue", {"now": "now"}, "workflow_cases_due"),
        # A payer's queue (prior authorization's ?payer=): the order's range, filtered by
        # payer (a tenth of the rows kept here), never a sort.
        ("list_cases", {"payer_id": "payer-3"}, "workflow_cases_order"),
        ("list_cases", {"after_rank": 1, "after_sort_at": "2026-01-01T00:00:00Z",
                        "after_case": "6f1d0d3e-0000-4000-8000-000000000001"},
         "workflow_cases_order"),
    ]  # fmt: skip
    for name, extra, index in shapes:
        params = base | extra
        if params["now"] == "now":
            cur = await dba.execute("SELECT now()")
            row = await cur.fetchone()
            assert row is not None
            params["now"] = row[0]
        cur = await dba.execute(b"EXPLAIN " + load(name), params)
        plan = "\n".join(r[0] for r in await cur.fetchall())
        found = plan.split("CTE found", 1)[1].split("CTE audit", 1)[0]
        assert "Limit" in found, (name, plan)
        assert index in found, (name, plan)
        assert "Sort" not in found, (name, plan)
        assert "Seq Scan" not in plan, (name, plan)
