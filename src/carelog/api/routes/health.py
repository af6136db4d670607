"""Public health probes: no authentication, no patient data."""

from __future__ import annotations

from fastapi import APIRouter

from carelog.api.deps import DbPool
from carelog.api.problems import problem_responses
from carelog.services.health import check_ready

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(503))
async def readyz(pool: DbPool) -> dict[str, str]:
    """The database is reachable and its migrations are applied (503 otherwise)."""
    await check_ready(pool)
    return {"status": "ready"}
