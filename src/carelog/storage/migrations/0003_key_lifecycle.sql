-- Key lifecycle and principal kinds: keys say what they are (agent, user, service), agents carry
-- a name, keys can expire and be rotated, and their last use is tracked. Events record the kind
-- and agent name of the principal that wrote them.

ALTER TABLE api_keys
    ADD COLUMN kind text NOT NULL DEFAULT 'service'
        CONSTRAINT api_keys_kind CHECK (kind IN ('agent', 'user', 'service')),
    ADD COLUMN agent_name text,
    ADD COLUMN expires_at timestamptz,
    ADD COLUMN last_used_at timestamptz,
    -- Set on a key that was rotated: the key that replaces it.
    ADD COLUMN replaced_by text REFERENCES api_keys (key_id),
    ADD CONSTRAINT api_keys_agents_are_named CHECK (kind <> 'agent' OR agent_name IS NOT NULL);

-- PostgreSQL before 16 refuses to alter a table whose row type a SQL-body function uses.
DROP FUNCTION carelog_event_json(patient_events);

ALTER TABLE patient_events
    ADD COLUMN recorded_by_kind text NOT NULL DEFAULT 'service',
    ADD COLUMN agent_name text;

CREATE FUNCTION carelog_event_json(e patient_events) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN json_build_object(
        'id', e.id,
        'patient_id', e.patient_id,
        'event_type', e.event_type,
        'payload', e.payload,
        'occurred_at', carelog_utc(e.occurred_at),
        'created_at', carelog_utc(e.recorded_at),
        'recorded_by', e.recorded_by,
        'recorded_by_kind', e.recorded_by_kind,
        'agent_name', e.agent_name,
        'source', e.source,
        'status', e.status,
        'supersedes', e.supersedes,
        'labels', e.labels,
        'schema_version', e.schema_version
    )::text;
