-- The events a patient's context can use, chosen here so that only they are rendered and sent:
-- among the current versions (as recorded by as_of), the latest of each allergy, condition and
-- medication and the two latest results of each lab test (grouped by what they are about, the
-- same rule as fact_key in domain/context.py), the latest vitals and the ten latest notes.
-- One pass over the patient's rows; JSON only for the few picked.
WITH current_rows AS MATERIALIZED (
    SELECT e.id, e.event_type, e.occurred_at,
           lower(COALESCE(e.payload ->> 'loinc', e.payload ->> 'icd10', e.payload ->> 'snomed',
                          e.payload ->> 'rxnorm', e.payload ->> 'substance',
                          e.payload ->> 'test', e.payload ->> 'name', '#' || e.id)) AS fact
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
    SELECT id FROM (
        SELECT id, event_type, row_number() OVER (
            PARTITION BY event_type, fact ORDER BY occurred_at DESC, id DESC) AS rank
        FROM current_rows
        WHERE event_type IN ('lab_result', 'allergy', 'condition', 'medication')
    ) AS coded
    WHERE rank <= CASE WHEN event_type = 'lab_result' THEN 2 ELSE 1 END
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
