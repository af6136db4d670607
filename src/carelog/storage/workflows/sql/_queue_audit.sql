-- The audit row of a queue read: a search; the cases' newest transition events are what was
-- seen (the patient named when the page holds one patient's cases only).
), audit AS (
    {{audit._audit_row}}
           'search', 'success', NULL::smallint,
           CASE WHEN count(DISTINCT f.patient_id) = 1 THEN max(f.patient_id) END,
           COALESCE(array_agg(f.event_ids[cardinality(f.event_ids)]), '{}'), count(*)
    FROM found AS f
)
SELECT * FROM found
