-- A correction ('amended', a new payload) or retraction ('entered-in-error') of one event, and
-- its audit row, in one statement. The partial unique index on (tenant_id, supersedes) lets an
-- event be superseded once: an empty result means another revision got there first.
WITH target AS (
    SELECT t.*
    FROM patient_events AS t
    WHERE t.id = %(supersedes)s AND t.tenant_id = %(tenant_id)s
), inserted AS (
    INSERT INTO patient_events AS e
        (tenant_id, patient_id, event_type, payload, occurred_at, recorded_by, recorded_by_kind,
         agent_name, source, labels, status, supersedes, reason)
    SELECT t.tenant_id, t.patient_id, t.event_type, COALESCE(%(payload)s, '{}'::jsonb),
           COALESCE(%(occurred_at)s, t.occurred_at), %(recorded_by)s, %(recorded_by_kind)s,
           %(agent_name)s, %(source)s, t.labels, %(status)s, t.id, %(reason)s
    FROM target AS t
    ON CONFLICT (tenant_id, supersedes) WHERE supersedes IS NOT NULL DO NOTHING
    RETURNING e.id, e.occurred_at, carelog_event_json(e) AS doc, e.patient_id, e.supersedes
), audit AS (
    {{audit._audit_row}}
           'update', 'success', NULL::smallint, i.patient_id, ARRAY[i.id, i.supersedes], 1
    FROM inserted AS i
)
SELECT id, occurred_at, doc FROM inserted
