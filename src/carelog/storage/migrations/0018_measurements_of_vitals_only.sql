-- The statement-level trigger of every write looks for measurements in vital_signs events
-- only (issue 13, bulk ingest). carelog_measured() already gives '{}' for any other event,
-- so the rows written are the same; but it was called, and jsonb_each run on its '{}', for
-- each row of the statement: a filter on event_type before the lateral join skips the other
-- 84% of a typical batch (10,000 events: 49 ms of the measurements' insert became 35 ms;
-- docs/benchmarks.md, "Bulk ingest"). The function is otherwise 0014's.
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
    WHERE e.event_type = 'vital_signs'
      AND jsonb_typeof(m.value) = 'object' AND (m.value ? 'value' OR m.value ? 'systolic')
      AND length(m.key) <= 64;
    RETURN NULL;
END
$$;
