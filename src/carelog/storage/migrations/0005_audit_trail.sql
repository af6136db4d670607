-- The audit trail: one row per read, write or denied attempt, append-only, hash-chained.
--
-- Each tenant's rows form hash chains: row_hash = sha256(prev_hash || content), where content
-- is the row's own fields (carelog_audit_content) and prev_hash the row_hash of the row before
-- it in the chain. A tenant's chain is striped over 64 lanes (by database backend), so that
-- concurrent requests do not all queue on one chain head; each lane is a complete chain, and
-- verification walks every lane. audit_heads holds each lane's last (seq, row_hash): editing,
-- deleting or reordering rows breaks a link, and deleting the newest rows leaves the head
-- pointing past the end.
--
-- Rows hold ids, codes and outcomes, never clinical values. The tenant '-' holds attempts
-- whose tenant is unknown (a missing or invalid credential).

CREATE TABLE audit_events (
    tenant_id       text NOT NULL,
    lane            smallint NOT NULL,
    seq             bigint NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    principal_kind  text,
    principal_id    text,
    agent_name      text,
    action          text NOT NULL
        CHECK (action IN ('create', 'read', 'search', 'update', 'execute')),
    outcome         text NOT NULL CHECK (outcome IN ('success', 'denied', 'failed')),
    status          smallint,
    route           text,
    patient_id      text,
    event_ids       bigint[] NOT NULL DEFAULT '{}',
    result_count    integer,
    purpose_of_use  text,
    break_glass     boolean NOT NULL DEFAULT false,
    break_glass_reason text,
    request_id      text,
    client_address  text,
    prev_hash       bytea NOT NULL,
    row_hash        bytea NOT NULL,
    PRIMARY KEY (tenant_id, lane, seq)
);

CREATE INDEX audit_events_by_time ON audit_events (tenant_id, recorded_at DESC);
CREATE INDEX audit_events_by_patient
    ON audit_events (tenant_id, patient_id, recorded_at DESC) WHERE patient_id IS NOT NULL;

CREATE TABLE audit_heads (
    tenant_id text NOT NULL,
    lane      smallint NOT NULL,
    seq       bigint NOT NULL,
    row_hash  bytea NOT NULL,
    PRIMARY KEY (tenant_id, lane)
);

-- The canonical content a row's hash covers: every field but the hashes themselves.
CREATE FUNCTION carelog_audit_content(a audit_events) RETURNS bytea
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN convert_to(jsonb_build_array(
        a.tenant_id, a.lane, a.seq, carelog_utc(a.recorded_at), a.principal_kind,
        a.principal_id, a.agent_name, a.action, a.outcome, a.status, a.route, a.patient_id,
        a.event_ids, a.result_count, a.purpose_of_use, a.break_glass, a.break_glass_reason,
        a.request_id, a.client_address
    )::text, 'UTF8');

-- Chains each new row onto its lane. SELECT ... FOR UPDATE waits for a concurrent writer of
-- the same lane and then sees its committed head, so the chain has no forks or gaps.
CREATE FUNCTION carelog_audit_chain() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head audit_heads%ROWTYPE;
BEGIN
    NEW.lane := pg_backend_pid() % 64;
    NEW.recorded_at := clock_timestamp();
    SELECT * INTO head FROM audit_heads
    WHERE tenant_id = NEW.tenant_id AND lane = NEW.lane
    FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_heads (tenant_id, lane, seq, row_hash)
        VALUES (NEW.tenant_id, NEW.lane, 0, '\x'::bytea)
        ON CONFLICT (tenant_id, lane) DO NOTHING;
        SELECT * INTO head FROM audit_heads
        WHERE tenant_id = NEW.tenant_id AND lane = NEW.lane
        FOR UPDATE;
    END IF;
    NEW.seq := head.seq + 1;
    NEW.prev_hash := head.row_hash;
    NEW.row_hash := sha256(NEW.prev_hash || carelog_audit_content(NEW));
    UPDATE audit_heads SET seq = NEW.seq, row_hash = NEW.row_hash
    WHERE tenant_id = NEW.tenant_id AND lane = NEW.lane;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_events_chain
    BEFORE INSERT ON audit_events
    FOR EACH ROW EXECUTE FUNCTION carelog_audit_chain();

-- One refusal for every append-only table, naming the table.
CREATE OR REPLACE FUNCTION carelog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;

-- Append-only, whoever asks (a test disables this trigger to play the tamperer).
CREATE TRIGGER audit_events_append_only
    BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION carelog_refuse_change();

CREATE TRIGGER audit_events_no_truncate
    BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION carelog_refuse_change();

-- Purpose of use sent when a request names none (HL7 v3 PurposeOfUse code).
ALTER TABLE api_keys ADD COLUMN default_purpose text NOT NULL DEFAULT 'TREAT';
