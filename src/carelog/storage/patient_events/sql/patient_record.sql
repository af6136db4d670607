-- Every version of a patient's events recorded by as_of (corrections, retractions and what
-- they superseded) that the principal may see, in the order they were recorded: what a FHIR
-- Bundle of the patient is made of (domain/fhir). The read is audited with every id it
-- returns; a patient with more than max_versions is refused by the service (no row here,
-- and the refusal is audited as a failure).
WITH found AS (
    SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
    FROM patient_events AS e
    WHERE tenant_id = %(tenant_id)s
      AND patient_id = %(patient_id)s
      AND (%(visible_labels)s::text[] IS NULL OR labels = '{}' OR labels <@ %(visible_labels)s::text[])
      AND recorded_at <= COALESCE(%(as_of)s, 'infinity'::timestamptz)
    ORDER BY id
    LIMIT %(max_versions)s + 1
), audit AS (
    {{audit._audit_row}}
           'read', 'success', NULL::smallint, %(patient_id)s,
           COALESCE(array_agg(f.id ORDER BY f.id), '{}'), count(f.id)
    FROM found AS f
    HAVING count(f.id) BETWEEN 1 AND %(max_versions)s
)
SELECT id, occurred_at, doc FROM found ORDER BY id
