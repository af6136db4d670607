-- tenant-scope: reads no table, only this statement's snapshot (the same for every tenant).
-- The oldest transaction still running: a new stream starts here, so it carries every event
-- whose transaction had not ended when it started (migration 0022).
SELECT pg_snapshot_xmin(pg_current_snapshot())::text
