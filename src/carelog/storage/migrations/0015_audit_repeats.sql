-- Repeated failed attempts of unknown callers, recorded compactly (issue 9, item 8).
--
-- A flood of requests with a made-up token used to leave one permanent row each. Now the
-- first failure of a client address (per route, action and status, per window) is one row as
-- before, and the repeats in that window are counted in the service's memory and written as
-- ONE row: attempts = how many attempts it stands for, first_attempt_at / last_attempt_at when
-- the first and the last of them arrived (recorded_at is when the row was written). A row
-- with attempts NULL stands for the one attempt it describes, so sum(COALESCE(attempts, 1))
-- over the rows is the number of attempts. See services/attempts.py and docs/security.md.
ALTER TABLE audit_events
    ADD COLUMN attempts integer,
    ADD COLUMN first_attempt_at timestamptz,
    ADD COLUMN last_attempt_at timestamptz,
    ADD CONSTRAINT audit_events_attempts_summary CHECK (
        (attempts IS NULL AND first_attempt_at IS NULL AND last_attempt_at IS NULL)
        OR (attempts >= 1 AND first_attempt_at <= last_attempt_at)
    );

-- The summary's fields are in the chained content, so a changed count breaks the chain like
-- any other edit. A row without them hashes exactly as before this migration: every row
-- written earlier still verifies.
CREATE OR REPLACE FUNCTION carelog_audit_content(a audit_events) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN convert_to((jsonb_build_array(
        a.tenant_id, a.lane, a.seq, carelog_utc(a.recorded_at), a.principal_kind,
        a.principal_id, a.agent_name, a.action, a.outcome, a.status, a.route, a.patient_id,
        a.event_ids, a.result_count, a.purpose_of_use, a.break_glass, a.break_glass_reason,
        a.request_id, a.client_address
    ) || CASE WHEN a.attempts IS NULL THEN '[]'::jsonb
              ELSE jsonb_build_array(a.attempts, carelog_utc(a.first_attempt_at),
                                     carelog_utc(a.last_attempt_at)) END)::text, 'UTF8');
