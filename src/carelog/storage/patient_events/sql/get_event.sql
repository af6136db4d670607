-- One event by id, only if it belongs to the tenant (and to one of the principal's patients,
-- when it is limited to some, and only if its sensitivity labels are all visible to the
-- principal), and the audit row of the read if it was found (not found, the service answers
-- 404 and the route's failure audit records that, as for every other 404).
WITH found AS (
    SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc, e.patient_id
    FROM patient_events AS e
    WHERE id = %(id)s
      AND tenant_id = %(tenant_id)s
      AND (%(patients)s::text[] IS NULL OR patient_id = ANY (%(patients)s::text[]))
      AND (%(visible_labels)s::text[] IS NULL OR labels = '{}' OR labels <@ %(visible_labels)s::text[])
), audit AS (
    {{audit._audit_row}}
           'read', 'success', NULL::smallint, max(f.patient_id),
           COALESCE(array_agg(f.id) FILTER (WHERE f.id IS NOT NULL), '{}'), count(f.id)
    FROM found AS f
    HAVING count(f.id) > 0
)
SELECT id, occurred_at, doc FROM found
