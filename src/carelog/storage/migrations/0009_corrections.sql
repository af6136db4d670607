-- Corrections and retractions without rewriting history. A correction is a new event that
-- supersedes an earlier one (status 'amended'); a retraction is a new event that marks it
-- entered-in-error (status 'entered-in-error'). The original row never changes. An event has
-- at most one successor, enforced here, so two concurrent corrections of one version cannot
-- both succeed: the second is told which version is now current.

DROP FUNCTION carelog_event_json(patient_events);

ALTER TABLE patient_events ADD COLUMN reason text;

CREATE UNIQUE INDEX patient_events_one_successor
    ON patient_events (tenant_id, supersedes) WHERE supersedes IS NOT NULL;

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
        'reason', e.reason,
        'labels', e.labels,
        'schema_version', e.schema_version
    )::text;
