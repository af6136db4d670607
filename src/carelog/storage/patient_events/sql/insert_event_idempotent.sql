-- Append one event under an Idempotency-Key, with its audit row, in one statement. The key's
-- row is claimed first; ON CONFLICT DO NOTHING waits for a concurrent claimant to commit and
-- then yields nothing, so exactly one event is written per (tenant, key). An empty result
-- means "replay the first" (and nothing, not even an audit row, was written here).
WITH new_event AS (
    SELECT nextval(pg_get_serial_sequence('patient_events', 'id')) AS id
), claim AS (
    INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, patient_id, event_id)
    SELECT %(tenant_id)s, %(idempotency_key)s, %(request_hash)s, %(patient_id)s, new_event.id
    FROM new_event
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING event_id
), inserted AS (
    INSERT INTO patient_events AS e
        (id, tenant_id, patient_id, event_type, payload, occurred_at, recorded_by,
         recorded_by_kind, agent_name, source, idempotency_key, labels)
    SELECT claim.event_id, %(tenant_id)s, %(patient_id)s, %(event_type)s, %(payload)s,
           COALESCE(%(occurred_at)s, now()), %(recorded_by)s, %(recorded_by_kind)s,
           %(agent_name)s, %(source)s, %(idempotency_key)s, %(labels)s
    FROM claim
    RETURNING e.id, e.occurred_at, carelog_event_json(e) AS doc, e.patient_id
), audit AS (
    {{audit._audit_row}}
           'create', 'success', NULL::smallint, i.patient_id, ARRAY[i.id], 1
    FROM inserted AS i
)
SELECT id, occurred_at, doc FROM inserted
