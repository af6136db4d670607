-- Append one event for a tenant's patient, and its audit row, in one statement.
WITH inserted AS (
    INSERT INTO patient_events AS e
        (tenant_id, patient_id, event_type, payload, occurred_at, recorded_by, recorded_by_kind,
         agent_name, source, labels)
    VALUES
        (%(tenant_id)s, %(patient_id)s, %(event_type)s, %(payload)s,
         COALESCE(%(occurred_at)s, now()), %(recorded_by)s, %(recorded_by_kind)s,
         %(agent_name)s, %(source)s, %(labels)s)
    RETURNING e.id, e.occurred_at, carelog_event_json(e) AS doc, e.patient_id
), audit AS (
    INSERT INTO audit_events
        (tenant_id, principal_kind, principal_id, agent_name, action, outcome, route,
         patient_id, event_ids, result_count, purpose_of_use, break_glass, break_glass_reason, request_id,
         client_address)
    SELECT %(tenant_id)s, %(audit_principal_kind)s, %(audit_principal_id)s, %(audit_agent_name)s,
           'create', 'success', %(audit_route)s, i.patient_id, ARRAY[i.id], 1, %(audit_purpose)s,
           %(audit_break_glass)s, %(audit_break_glass_reason)s, %(audit_request_id)s, %(audit_client_address)s
    FROM inserted AS i
)
SELECT id, occurred_at, doc FROM inserted
