-- An event's public JSON, rendered by PostgreSQL in one place. Reads hand these documents to
-- the client as they are: no per-row parse, model build and re-serialisation in Python.
-- Times are UTC with microseconds and a Z, the same on every route.

CREATE FUNCTION carelog_utc(t timestamptz) RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    RETURN to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

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
        'source', e.source,
        'status', e.status,
        'supersedes', e.supersedes,
        'labels', e.labels,
        'schema_version', e.schema_version
    )::text;
