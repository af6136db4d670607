-- The tenant's events after a feed position, in position order (transaction id, then event
-- id), up to a limit, and only below the horizon: the oldest transaction still running when
-- this statement's snapshot was taken. Every transaction below it has ended, so what this
-- returns is final: no row can later appear between two positions it handed out (migration
-- 0022). The stream's filters and the principal's reach (patients, sensitivity labels: the
-- event list's rule, an unlabelled event or one whose labels are all visible) apply here.
-- Also returns the horizon (the next read may start there when this one was not full) and
-- whether committed events wait above it (a writer older than them is still running: look
-- again soon, as no NOTIFY may come when that writer ends).
-- The walk over event_feed (0026) is carelog_feed_after's, below the horizon it is given.
WITH horizon AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin
), page AS (
    SELECT p.*
    FROM horizon AS h,
         carelog_feed_after(%(tenant_id)s, %(after_tx)s::xid8, %(after_id)s::bigint, h.xmin,
                            %(patients)s::text[], %(event_types)s::text[],
                            %(visible_labels)s::text[], %(limit)s::integer) AS p
), waiting AS (
    SELECT EXISTS (SELECT 1 FROM event_feed AS w, horizon AS h
                   WHERE w.tenant_id = %(tenant_id)s AND w.tx_id >= h.xmin) AS waiting
)
SELECT h.xmin::text AS horizon, w.waiting,
       p.tx_id::text AS tx, p.id, p.patient_id, p.event_type, p.labels, p.doc
FROM horizon AS h CROSS JOIN waiting AS w LEFT JOIN page AS p ON true
ORDER BY p.tx_id, p.id
