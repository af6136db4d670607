-- The feed's positions kept by writing statement, not by event (issue 13: the write path's
-- cost). 0022 gave every row of the log its transaction's id (tx_id) and an index entry in
-- patient_events_feed (tenant_id, tx_id, id): about 2 us of the database's CPU an event on
-- the batch path, for a structure only the feed reads. Now the statement-level trigger that
-- already notifies the feed's listeners writes the statement's ids into event_feed, one row
-- per tenant, transaction and bucket of 1,000 ids (bucket = id / 1000), the ids in order. A
-- batch of 10,000 events writes about ten rows (a full bucket's ids, 8 kB, are stored out of
-- line) instead of 10,000 index entries.
--
-- The feed's position and rule are unchanged: (tx_id, id), handed out only below the oldest
-- transaction still running (0022). A bucket holds at most 1,000 ids, and the buckets of one
-- transaction are disjoint ranges of ids, so the feed in position order is its buckets in
-- (tx_id, bucket) order, each bucket's ids sorted. A reader (carelog_feed_after, below) walks
-- the primary key from its position, sorts the ids of one bucket at a time (one row, or a
-- few when several statements of a transaction wrote into the bucket: each statement adds
-- its own row, keyed by its smallest id, and never rewrites another's), reads their events
-- by id from the log's primary key, and stops when its page is full.
--
-- Written by the writer's own statement, in the trigger (carelog_app under its tenant's
-- policy, or the owner for the operator's commands), committed or rolled back with the
-- events. carelog_app may read and insert its tenant's rows, never update or delete them, as
-- with the log itself. (A SECURITY DEFINER trigger, with carelog_app only reading, cost a
-- single-event INSERT about 35 us more: the function's own search_path is set on each call.)
-- A row names its own transaction (WITH CHECK), so carelog_app cannot place positions in
-- another transaction's place. Ids are unique within a tenant (the sequence's; a bucket
-- reads each id once even if not).
--
-- The rows of the log before this migration are carried over (a row a bucket); those
-- written before 0022 keep tx_id 0. Writers wait for the migration (the lock below): an
-- event inserted before the copy's snapshot and committed after it would otherwise be
-- neither copied nor written by the new trigger, and missing from the feed for good.
LOCK TABLE patient_events IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE event_feed (
    tenant_id  text NOT NULL,
    tx_id      xid8 NOT NULL,
    bucket     bigint NOT NULL,
    first_id   bigint NOT NULL,
    ids        bigint[] NOT NULL,
    PRIMARY KEY (tenant_id, tx_id, bucket, first_id)
);

INSERT INTO event_feed (tenant_id, tx_id, bucket, first_id, ids)
SELECT tenant_id, tx_id, id / 1000, min(id), array_agg(id ORDER BY id)
FROM patient_events
GROUP BY tenant_id, tx_id, id / 1000;

GRANT SELECT, INSERT ON event_feed TO carelog_app;
ALTER TABLE event_feed ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON event_feed TO carelog_app
    USING (tenant_id = current_setting('carelog.tenant_id', true))
    WITH CHECK (tenant_id = current_setting('carelog.tenant_id', true)
                AND tx_id = pg_current_xact_id());

-- One NOTIFY per tenant per writing statement, as before (0022), after the statement's
-- feed rows. plpgsql, whose body PostgreSQL does not track (see 0024).
CREATE FUNCTION carelog_feed_events() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_feed (tenant_id, tx_id, bucket, first_id, ids)
    SELECT n.tenant_id, pg_current_xact_id(), n.id / 1000, min(n.id), array_agg(n.id ORDER BY n.id)
    FROM new_events AS n
    GROUP BY n.tenant_id, n.id / 1000;
    PERFORM pg_notify('carelog_events', t.tenant_id)
    FROM (SELECT DISTINCT tenant_id FROM new_events) AS t;
    RETURN NULL;
END
$$;

-- One bucket's events for carelog_feed_after: its ids sorted (at most 1,000), after the
-- position, that pass the filters, up to wanted, each read by id from the log's primary key.
-- The ids are sorted before the join (OFFSET 0 keeps the subquery from being flattened), so
-- the reads by id run in that order and stop at the limit.
CREATE FUNCTION carelog_feed_bucket(
    tenant text, bucket_tx xid8, ids bigint[], after_tx xid8, after_id bigint,
    patients text[], event_types text[], visible_labels text[], wanted integer
) RETURNS TABLE (tx_id xid8, id bigint, patient_id text, event_type text, labels text[],
                 doc text)
    LANGUAGE sql STABLE AS $$
    SELECT bucket_tx, e.id, e.patient_id, e.event_type, e.labels, carelog_event_json(e)
    FROM (SELECT DISTINCT u.id FROM unnest(ids) AS u (id)
          WHERE (bucket_tx, u.id) > (after_tx, after_id)
          ORDER BY u.id OFFSET 0) AS u
    JOIN patient_events AS e ON e.id = u.id AND e.tenant_id = tenant
    WHERE (patients IS NULL OR e.patient_id = ANY (patients))
      AND (event_types IS NULL OR e.event_type = ANY (event_types))
      AND (visible_labels IS NULL OR e.labels = '{}' OR e.labels <@ visible_labels)
    ORDER BY u.id
    LIMIT wanted
$$;

-- A page of the feed: up to page_size of the tenant's events after (after_tx, after_id) and
-- below the horizon, in position order, that pass the stream's filters and the principal's
-- reach (patients: NULL for any; the event list's labels rule, visible_labels NULL for all).
-- A loop and not one statement, so that the order is the walk's own (a bucket's ids are
-- gathered, then sorted, before the page is cut) and a filtered read stops at a full page.
-- Runs as the caller, under its tenant's policies. plpgsql, whose body PostgreSQL does not
-- track.
CREATE FUNCTION carelog_feed_after(
    tenant text, after_tx xid8, after_id bigint, horizon xid8, patients text[],
    event_types text[], visible_labels text[], page_size integer
) RETURNS TABLE (tx_id xid8, id bigint, patient_id text, event_type text, labels text[],
                 doc text)
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    r record;
    wanted integer := page_size;
    got integer;
    group_tx xid8;
    group_bucket bigint;
    group_ids bigint[] := '{}';
BEGIN
    IF page_size IS NULL OR page_size < 1 THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT f.tx_id, f.bucket, f.ids
        FROM event_feed AS f
        WHERE f.tenant_id = tenant
          AND (f.tx_id, f.bucket) >= (after_tx, after_id / 1000)
          AND f.tx_id < horizon
        ORDER BY f.tx_id, f.bucket, f.first_id
    LOOP
        IF r.tx_id = group_tx AND r.bucket = group_bucket THEN
            group_ids := group_ids || r.ids;
            CONTINUE;
        END IF;
        IF cardinality(group_ids) > 0 THEN
            RETURN QUERY SELECT * FROM carelog_feed_bucket(
                tenant, group_tx, group_ids, after_tx, after_id, patients, event_types,
                visible_labels, wanted);
            GET DIAGNOSTICS got = ROW_COUNT;
            wanted := wanted - got;
            EXIT WHEN wanted <= 0;
        END IF;
        group_tx := r.tx_id;
        group_bucket := r.bucket;
        group_ids := r.ids;
    END LOOP;
    IF wanted > 0 AND cardinality(group_ids) > 0 THEN
        RETURN QUERY SELECT * FROM carelog_feed_bucket(
            tenant, group_tx, group_ids, after_tx, after_id, patients, event_types,
            visible_labels, wanted);
    END IF;
END
$$;

DROP TRIGGER patient_events_notify ON patient_events;
DROP FUNCTION carelog_notify_events();
-- After patient_events_bump_heads and before patient_events_outbox (name order).
CREATE TRIGGER patient_events_feed_rows
    AFTER INSERT ON patient_events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION carelog_feed_events();

-- The column and its index go. carelog_event_json takes the row type, so (as in 0009, 0012
-- and 0022) PostgreSQL < 16 needs it dropped around the ALTER TABLE; its body is unchanged.
DROP INDEX patient_events_feed;
DROP FUNCTION carelog_event_json(patient_events);

ALTER TABLE patient_events DROP COLUMN tx_id;

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
