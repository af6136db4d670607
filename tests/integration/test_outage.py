"""The database stopped and started again under a running service: 503, then recovery."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from carelog.api.app import create_app
from carelog.settings import Settings
from carelog.storage.embedded import EmbeddedPostgres
from tests.factories import bearer, make_token, new_tenant

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_outage_gives_503_then_recovers_without_restart(tmp_path: Path) -> None:
    embedded = EmbeddedPostgres(tmp_path / "pg")
    url = embedded.start()
    try:
        settings = Settings(database_url=url, pool_min_size=2, pool_max_size=4, pool_timeout=1)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            token = await make_token(app.state.runtime.pool, new_tenant())
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                event = {"patient_id": "P-1", "event_type": "x", "payload": {"n": 1}}
                ok = await client.post("/patient-events", json=event, headers=bearer(token))
                assert ok.status_code == 200

                embedded.stop(force=True)
                for path in ["/patient-events/P-1", "/readyz"]:
                    down = await client.get(path, headers=bearer(token))
                    assert down.status_code == 503, down.text
                    assert down.headers["content-type"] == "application/problem+json"
                    assert int(down.headers["retry-after"]) >= 1
                    assert down.json()["code"] == "service-unavailable"
                    assert "psycopg" not in down.text
                    assert "SELECT" not in down.text
                write = await client.post("/patient-events", json=event, headers=bearer(token))
                assert write.status_code == 503
                assert (await client.get("/healthz")).status_code == 200

                embedded.start()
                deadline = time.monotonic() + 30
                status = 0
                while time.monotonic() < deadline:
                    response = await client.get("/patient-events/P-1", headers=bearer(token))
                    status = response.status_code
                    if status == 200:
                        break
                    assert status == 503
                    await asyncio.sleep(0.2)
                assert status == 200
                assert len(response.json()) == 1
                again = await client.post("/patient-events", json=event, headers=bearer(token))
                assert again.status_code == 200
    finally:
        embedded.stop(force=True)
