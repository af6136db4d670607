-- The events a patient's context can use, chosen here so that only they are rendered and sent:
-- the current versions (as recorded by as_of) of every allergy, condition and medication, the
-- two latest results of each lab test, the latest vitals and the ten latest notes. One pass
-- over the patient's rows (the timeline index); JSON only for the few picked.
WITH current_rows AS MATERIALIZED (
    SELECT e.id, e.event_type, e.occurred_at,
           lower(COALESCE(e.payload ->> 'loinc', e.payload ->> 'test', '#' || e.id)) AS lab_key
    FROM patient_events AS e
    WHERE e.tenant_id = %(tenant_id)s
      AND e.patient_id = %(patient_id)s
      AND e.recorded_at <= %(as_of)s
      AND e.status <> 'entered-in-error'
      AND NOT EXISTS (
          SELECT 1 FROM patient_events AS s
          WHERE s.tenant_id = e.tenant_id AND s.supersedes = e.id
            AND s.supersedes IS NOT NULL AND s.recorded_at <= %(as_of)s)
), picked AS (
    SELECT id FROM current_rows WHERE event_type IN ('allergy', 'condition', 'medication')
    UNION ALL
    SELECT id FROM (
        SELECT id, row_number() OVER (
            PARTITION BY lab_key ORDER BY occurred_at DESC, id DESC) AS rank
        FROM current_rows WHERE event_type = 'lab_result'
    ) AS labs
    WHERE rank <= 2
    UNION ALL
    (SELECT id FROM current_rows WHERE event_type = 'vital_signs'
     ORDER BY occurred_at DESC, id DESC LIMIT 1)
    UNION ALL
    (SELECT id FROM current_rows WHERE event_type IN ('triage_note', 'document', 'encounter')
     ORDER BY occurred_at DESC, id DESC LIMIT 10)
)
SELECT carelog_event_json(e)
FROM patient_events AS e
JOIN picked ON picked.id = e.id
WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
