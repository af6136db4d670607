-- The events a patient's context can use, chosen here so that only they are read and sent:
-- among the current versions (as recorded by as_of), the latest of each allergy, condition and
-- medication and the two latest results of each lab test (grouped by fact_key, the rule of
-- fact_key() in domain/context.py), the latest vitals and the ten latest notes.
--
-- The work grows with what is shown, not with the patient's history: `facts` walks the
-- distinct (kind, fact_key) pairs with one index probe each (a loose index scan on
-- patient_events_facts), then each fact's newest current rows are read from the same index.
WITH RECURSIVE facts (event_type, fact) AS (
    SELECT k.event_type, f.fact
    FROM (VALUES ('allergy'), ('condition'), ('lab_result'), ('medication')) AS k (event_type)
    CROSS JOIN LATERAL (
        SELECT e.fact_key AS fact FROM patient_events AS e
        WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
          AND e.event_type = k.event_type AND e.fact_key IS NOT NULL
        ORDER BY e.fact_key LIMIT 1
    ) AS f
    UNION ALL
    SELECT facts.event_type, f.fact
    FROM facts
    CROSS JOIN LATERAL (
        SELECT e.fact_key AS fact FROM patient_events AS e
        WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
          AND e.event_type = facts.event_type AND e.fact_key > facts.fact
        ORDER BY e.fact_key LIMIT 1
    ) AS f
), current_events AS NOT MATERIALIZED (
    -- Recorded by as_of, not a retraction, no successor recorded by as_of.
    SELECT e.* FROM patient_events AS e
    WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
      AND e.recorded_at <= %(as_of)s AND e.status <> 'entered-in-error'
      AND NOT EXISTS (
          SELECT 1 FROM patient_events AS s
          WHERE s.tenant_id = e.tenant_id AND s.supersedes = e.id
            AND s.supersedes IS NOT NULL AND s.recorded_at <= %(as_of)s)
), picked AS (
    SELECT c.* FROM facts
    CROSS JOIN LATERAL (
        SELECT * FROM current_events AS e
        WHERE e.event_type = facts.event_type AND e.fact_key = facts.fact
        ORDER BY e.occurred_at DESC, e.id DESC
        LIMIT CASE WHEN facts.event_type = 'lab_result' THEN 2 ELSE 1 END
    ) AS c
    UNION ALL
    (SELECT * FROM current_events AS e WHERE e.event_type = 'vital_signs'
     ORDER BY e.occurred_at DESC, e.id DESC LIMIT 1)
    UNION ALL
    -- The ten latest notes: the ten latest of each kind, each an ordered index range (the
    -- kinds spelt out so that the planner sees each one's own statistics), then merged.
    (SELECT * FROM (
        (SELECT * FROM current_events AS e WHERE e.event_type = 'triage_note'
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10)
        UNION ALL
        (SELECT * FROM current_events AS e WHERE e.event_type = 'document'
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10)
        UNION ALL
        (SELECT * FROM current_events AS e WHERE e.event_type = 'encounter'
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10)
     ) AS n
     ORDER BY n.occurred_at DESC, n.id DESC LIMIT 10)
)
-- One row: the patient's version and newest recorded time (no row in patient_heads: no
-- events at all), read in the same snapshot as the candidates, and the candidates as one JSON
-- array (parsed in one call).
SELECT h.version, h.changed_at,
       (SELECT '[' || string_agg(carelog_event_json(picked::patient_events), ',') || ']'
        FROM picked)
FROM (VALUES (1)) AS one
LEFT JOIN patient_heads AS h
       ON h.tenant_id = %(tenant_id)s AND h.patient_id = %(patient_id)s
