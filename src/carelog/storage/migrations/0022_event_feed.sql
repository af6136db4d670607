-- The live feed (GET /patient-events/stream): a position in the log that a reader can trust,
-- and a NOTIFY as events commit.
--
-- Event ids come from a sequence and commit out of order: a reader that keeps "the highest id
-- seen" can step past an id whose transaction commits after it read. Each row therefore
-- records the writing transaction's id (tx_id, xid8: 64 bits, never wraps), and the feed's
-- position is (tx_id, id). A reader hands out only rows with tx_id below the oldest
-- transaction still running when its statement started (pg_snapshot_xmin of its snapshot):
-- every transaction below that horizon has ended, and a transaction that begins later gets a
-- larger id, so no row can ever appear behind a position once handed out. (A subtransaction's
-- rows take the top transaction's id: they commit with it.)
--
-- The default is evaluated per row by every INSERT, the batch path's INSERT ... SELECT from
-- its COPY staging table included: no trigger, no UPDATE (the log stays append-only). Rows
-- written before this migration read as tx_id 0: all committed long ago, ordered by id.
-- carelog_event_json takes the row type, so (as in 0009 and 0012) PostgreSQL < 16 needs it
-- dropped around the ALTER TABLE; its body is unchanged.

DROP FUNCTION carelog_event_json(patient_events);

ALTER TABLE patient_events ADD COLUMN tx_id xid8 NOT NULL DEFAULT '0';  -- no rewrite
ALTER TABLE patient_events ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id();

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

-- The feed reads one tenant's log in position order from a position: an index range scan.
-- Appends land on its right edge (transaction ids only grow), as with the other indexes.
CREATE INDEX patient_events_feed ON patient_events (tenant_id, tx_id, id);

-- One NOTIFY per tenant per writing statement, delivered by PostgreSQL at commit (never for a
-- rolled-back write; repeats in one transaction are folded into one). The payload is the
-- tenant id, so a process wakes only that tenant's streams. A lost notification loses
-- nothing: streams also read the log at an interval.
CREATE FUNCTION carelog_notify_events() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('carelog_events', t.tenant_id)
    FROM (SELECT DISTINCT tenant_id FROM new_events) AS t;
    RETURN NULL;
END
$$;

CREATE TRIGGER patient_events_notify
    AFTER INSERT ON patient_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION carelog_notify_events();
