-- The tenant's events after a feed position, in position order (transaction id, then event
-- id), up to a limit, and only below the horizon: the oldest transaction still running when
-- this statement's snapshot was taken. Every transaction below it has ended, so what this
-- returns is final: no row can later appear between two positions it handed out (migration
-- 0022). The stream's filters and the principal's reach (patients, sensitivity labels: the
-- event list's rule, an unlabelled event or one whose labels are all visible) apply here.
-- Also returns the horizon (the next read may start there when this one was not full) and
-- whether committed events wait above it (a writer older than them is still running: look
-- again soon, as no NOTIFY may come when that writer ends).
-- A range scan on patient_events_feed from the position.
WITH horizon AS (
    SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin
), page AS (
    SELECT e.tx_id, e.id, e.patient_id, e.event_type, e.labels, carelog_event_json(e) AS doc
    FROM patient_events AS e, horizon AS h
    WHERE e.tenant_id = %(tenant_id)s
      AND (e.tx_id, e.id) > (%(after_tx)s::xid8, %(after_id)s::bigint)
      AND e.tx_id < h.xmin
      AND (%(patients)s::text[] IS NULL OR e.patient_id = ANY (%(patients)s::text[]))
      AND (%(event_types)s::text[] IS NULL OR e.event_type = ANY (%(event_types)s::text[]))
      AND (%(visible_labels)s::text[] IS NULL OR e.labels = '{}'
           OR e.labels <@ %(visible_labels)s::text[])
    ORDER BY e.tx_id, e.id
    LIMIT %(limit)s
)
SELECT h.xmin::text AS horizon,
       EXISTS (SELECT 1 FROM patient_events AS w
               WHERE w.tenant_id = %(tenant_id)s AND w.tx_id >= h.xmin) AS waiting,
       p.tx_id::text AS tx, p.id, p.patient_id, p.event_type, p.labels, p.doc
FROM horizon AS h LEFT JOIN page AS p ON true
ORDER BY p.tx_id, p.id
