-- Append a staged batch of corrections ('amended', a new payload) and retractions
-- ('entered-in-error'), each of the patient, type and labels of the event it supersedes, and
-- one audit row ('update') a patient naming each revision and the event it supersedes, in
-- one statement (insert_revision's, set-based). The partial unique index on (tenant_id,
-- supersedes) lets an event be superseded once: a revision that lost that race to another
-- writer is not inserted. Returns each staged revision's ord and its event id, NULL for one
-- not inserted. (Each target is one primary-key probe: LATERAL ... LIMIT 1.)
WITH inserted AS (
    INSERT INTO patient_events AS e
        (id, tenant_id, patient_id, event_type, payload, occurred_at, recorded_by,
         recorded_by_kind, agent_name, source, labels, status, supersedes, reason)
    SELECT r.id, t.tenant_id, t.patient_id, t.event_type, COALESCE(r.payload, '{}'::jsonb),
           COALESCE(r.occurred_at, t.occurred_at), %(recorded_by)s, %(recorded_by_kind)s,
           %(agent_name)s, NULL, t.labels, r.status, t.id, r.reason
    FROM revision_staging AS r
    CROSS JOIN LATERAL (
        SELECT p.tenant_id, p.id, p.patient_id, p.event_type, p.occurred_at, p.labels
        FROM patient_events AS p
        WHERE p.tenant_id = %(tenant_id)s AND p.id = r.supersedes
        LIMIT 1
    ) AS t
    ORDER BY t.patient_id, t.id  -- every writer in one order: no deadlock between two
    ON CONFLICT (tenant_id, supersedes) WHERE supersedes IS NOT NULL DO NOTHING
    RETURNING e.id, e.patient_id, e.supersedes
), patients AS (
    SELECT i.patient_id, array_agg(x.id ORDER BY i.id, x.at) AS ids, count(DISTINCT i.id) AS n
    FROM inserted AS i
    CROSS JOIN LATERAL (VALUES (i.id, 1), (i.supersedes, 2)) AS x (id, at)
    GROUP BY i.patient_id
    ORDER BY i.patient_id
), audit AS (
    {{audit._audit_row}}
           'update', 'success', NULL::smallint, p.patient_id, p.ids, p.n
    FROM patients AS p
)
SELECT r.ord, i.id
FROM revision_staging AS r
LEFT JOIN inserted AS i ON i.id = r.id
ORDER BY r.ord
