-- One audit row on its own: denied and failed attempts, idempotent replays, audit reads.
-- The chain trigger sets lane, seq, recorded_at and the hashes.
INSERT INTO audit_events
    (tenant_id, principal_kind, principal_id, agent_name, action, outcome, status, route,
     patient_id, event_ids, result_count, purpose_of_use, break_glass, break_glass_reason, request_id,
     client_address)
VALUES
    (%(tenant_id)s, %(audit_principal_kind)s, %(audit_principal_id)s, %(audit_agent_name)s,
     %(action)s, %(outcome)s, %(status)s, %(audit_route)s, %(patient_id)s, %(event_ids)s,
     %(result_count)s, %(audit_purpose)s, %(audit_break_glass)s, %(audit_break_glass_reason)s, %(audit_request_id)s,
     %(audit_client_address)s)
