-- One audit row on its own: denied and failed attempts, idempotent replays, audit reads,
-- contexts. The chain trigger sets lane, seq, recorded_at and the hashes.
-- With if_version set, the row is written only if the patient's version (patient_heads) is
-- still that one: a context served from the cache is audited by the very statement that
-- confirms it is current (no row: the patient changed, build afresh).
INSERT INTO audit_events
    (tenant_id, principal_kind, principal_id, agent_name, action, outcome, status, route,
     patient_id, event_ids, result_count, purpose_of_use, break_glass, break_glass_reason, request_id,
     client_address)
SELECT %(tenant_id)s, %(audit_principal_kind)s, %(audit_principal_id)s, %(audit_agent_name)s,
       %(action)s, %(outcome)s, %(status)s::smallint, %(audit_route)s, %(patient_id)s,
       %(event_ids)s::bigint[], %(result_count)s::integer, %(audit_purpose)s,
       %(audit_break_glass)s, %(audit_break_glass_reason)s, %(audit_request_id)s,
       %(audit_client_address)s
WHERE %(if_version)s::bigint IS NULL
   OR %(if_version)s::bigint = (SELECT h.version FROM patient_heads AS h
                               WHERE h.tenant_id = %(tenant_id)s AND h.patient_id = %(patient_id)s)
