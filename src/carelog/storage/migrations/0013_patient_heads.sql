-- Each patient's change counter. Every statement that adds events bumps the counter of each
-- patient it touched (a statement-level trigger, so API writes, corrections, retractions and
-- bulk COPY alike), in the writer's own transaction. The log is append-only, so a reader that
-- sees the same version twice knows that nothing was recorded for the patient in between:
-- the per-process context cache (services/context_cache.py) is validated by it on every read.
CREATE TABLE patient_heads (
    tenant_id  text NOT NULL,
    patient_id text NOT NULL,
    version    bigint NOT NULL,       -- events recorded for the patient so far
    changed_at timestamptz NOT NULL,  -- the newest recorded_at among them
    PRIMARY KEY (tenant_id, patient_id)
);

CREATE FUNCTION carelog_bump_patient_heads() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO patient_heads AS h (tenant_id, patient_id, version, changed_at)
    SELECT tenant_id, patient_id, count(*), max(recorded_at)
    FROM new_events
    GROUP BY tenant_id, patient_id
    ORDER BY tenant_id, patient_id  -- one lock order for every writer: no deadlocks
    ON CONFLICT (tenant_id, patient_id) DO UPDATE
        SET version = h.version + excluded.version,
            changed_at = greatest(h.changed_at, excluded.changed_at);
    RETURN NULL;
END
$$;

CREATE TRIGGER patient_events_bump_heads
    AFTER INSERT ON patient_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION carelog_bump_patient_heads();

INSERT INTO patient_heads (tenant_id, patient_id, version, changed_at)
SELECT tenant_id, patient_id, count(*), max(recorded_at)
FROM patient_events
GROUP BY tenant_id, patient_id;

GRANT SELECT, INSERT, UPDATE ON patient_heads TO carelog_app;
ALTER TABLE patient_heads ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON patient_heads TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
