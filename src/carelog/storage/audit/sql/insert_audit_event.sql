-- One audit row on its own: denied and failed attempts, idempotent replays, audit reads,
-- contexts. The chain trigger sets lane, seq, recorded_at and the hashes.
-- With if_version set, the row is written only if the patient's version (patient_heads) is
-- still that one: a context served from the cache is audited by the very statement that
-- confirms it is current (no row: the patient changed, build afresh).
{{_audit_row}}
       %(action)s, %(outcome)s, %(status)s::smallint, %(patient_id)s, %(event_ids)s::bigint[],
       %(result_count)s::integer
WHERE %(if_version)s::bigint IS NULL
   OR %(if_version)s::bigint = (SELECT h.version FROM patient_heads AS h
                               WHERE h.tenant_id = %(tenant_id)s AND h.patient_id = %(patient_id)s)
