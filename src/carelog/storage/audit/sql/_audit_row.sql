-- The one definition of a request's audit row, for every statement that audits itself (the
-- read, search or write and its audit row in one statement). A statement includes it where its
-- audit CTE begins, as a line {{audit._audit_row}} (storage.queries puts it in), and goes on
-- with the six values that are the statement's own, in this order, and its FROM:
--     action, outcome, status, patient_id, event_ids, result_count
-- Who, how and why come from the request: the audit_ parameters of AuditContext.params().
-- The chain trigger sets lane, seq, recorded_at and the hashes. (A window of an unknown
-- caller's counted attempts, with no request of its own, is insert_audit_repeats.)
INSERT INTO audit_events
    (tenant_id, principal_kind, principal_id, agent_name, route, purpose_of_use, break_glass,
     break_glass_reason, request_id, client_address,
     action, outcome, status, patient_id, event_ids, result_count)
SELECT %(tenant_id)s, %(audit_principal_kind)s, %(audit_principal_id)s, %(audit_agent_name)s,
       %(audit_route)s, %(audit_purpose)s, %(audit_break_glass)s, %(audit_break_glass_reason)s,
       %(audit_request_id)s, %(audit_client_address)s,
