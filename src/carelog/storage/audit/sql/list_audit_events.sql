-- A tenant's audit rows, newest first, filtered, resuming after a (recorded_at, lane, seq).
-- A patient-limited reader (patients not NULL) sees its patients' rows, and of the rows naming
-- no patient only those it wrote itself (reader = its principal name).
SELECT tenant_id, lane, seq, recorded_at, principal_kind, principal_id, agent_name, action, outcome,
       status, route, patient_id, event_ids, result_count, purpose_of_use, break_glass, break_glass_reason,
       request_id, client_address, COALESCE(attempts, 1) AS attempts, first_attempt_at,
       last_attempt_at
FROM audit_events
WHERE tenant_id = %(tenant_id)s
  AND (%(patient_id)s::text IS NULL OR patient_id = %(patient_id)s)
  AND (%(patients)s::text[] IS NULL OR patient_id = ANY(%(patients)s)
       OR (patient_id IS NULL AND principal_id = %(reader)s))
  AND (%(principal_id)s::text IS NULL OR principal_id = %(principal_id)s)
  AND (%(action)s::text IS NULL OR action = %(action)s)
  AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)
  AND (%(break_glass)s::boolean IS NULL OR break_glass = %(break_glass)s)
  AND recorded_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
  AND recorded_at < COALESCE(%(until)s, 'infinity'::timestamptz)
  AND (recorded_at, lane, seq) < (COALESCE(%(after_at)s, 'infinity'::timestamptz),
                                  COALESCE(%(after_lane)s, 32767),
                                  COALESCE(%(after_seq)s, 9223372036854775807))
ORDER BY recorded_at DESC, lane DESC, seq DESC
LIMIT %(limit)s
