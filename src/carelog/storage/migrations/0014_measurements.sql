-- Each vital sign on its own: the context shows every measurement's latest reading, so a
-- later pulse must not hide the blood pressure taken an hour before it. One vital_signs event
-- holds several measurements, and an index entry is one row, so this table holds one row per
-- (event, measurement): the payload's members that are objects with a value or a blood
-- pressure, keys of up to 64 characters (the rule of is_measurement() in
-- domain/context/sections.py, which a test holds it to). The context finds the signs by a
-- loose index scan on the primary key and each one's newest reading from the same index.
--
-- Derived and append-only like the log: written by the same statement-level trigger that
-- bumps patient_heads, in the writer's transaction, for every path (API, corrections, COPY).
CREATE TABLE patient_measurements (
    tenant_id   text NOT NULL,
    patient_id  text NOT NULL,
    sign        text NOT NULL,
    occurred_at timestamptz NOT NULL,
    event_id    bigint NOT NULL,
    PRIMARY KEY (tenant_id, patient_id, sign, occurred_at, event_id)
);

-- The members of a vital_signs payload that may be measurements ('{}' for any other event,
-- and for a payload that is not an object, which jsonb_each would refuse).
CREATE FUNCTION carelog_measured(event_type text, payload jsonb) RETURNS jsonb
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN event_type = 'vital_signs' AND jsonb_typeof(payload) = 'object'
                THEN payload ELSE '{}'::jsonb END;

CREATE OR REPLACE FUNCTION carelog_bump_patient_heads() RETURNS trigger
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
    INSERT INTO patient_measurements (tenant_id, patient_id, sign, occurred_at, event_id)
    SELECT e.tenant_id, e.patient_id, m.key, e.occurred_at, e.id
    FROM new_events AS e
    CROSS JOIN LATERAL jsonb_each(carelog_measured(e.event_type, e.payload)) AS m
    WHERE jsonb_typeof(m.value) = 'object' AND (m.value ? 'value' OR m.value ? 'systolic')
      AND length(m.key) <= 64;
    RETURN NULL;
END
$$;

INSERT INTO patient_measurements (tenant_id, patient_id, sign, occurred_at, event_id)
SELECT e.tenant_id, e.patient_id, m.key, e.occurred_at, e.id
FROM patient_events AS e
CROSS JOIN LATERAL jsonb_each(carelog_measured(e.event_type, e.payload)) AS m
WHERE jsonb_typeof(m.value) = 'object' AND (m.value ? 'value' OR m.value ? 'systolic')
  AND length(m.key) <= 64;

GRANT SELECT, INSERT ON patient_measurements TO carelog_app;
ALTER TABLE patient_measurements ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON patient_measurements TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true));
