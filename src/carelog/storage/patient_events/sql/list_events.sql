-- One page of a patient's events, newest first, resuming strictly after the cursor position,
-- and the audit row of the search (the ids of the page returned, not the look-ahead row) when
-- the page has any: an empty page is either a 404 or an empty answer, which the service
-- decides and audits.
-- A range scan on patient_events_timeline: O(page), whatever the patient's history.
-- (labels = '{}' in the label filter is for the planner: its statistics know most events
-- carry no label, where a bare labels <@ ... looks selective and invites scan-and-sort.)
WITH page AS (
    SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
    FROM patient_events AS e
    WHERE tenant_id = %(tenant_id)s
      AND patient_id = %(patient_id)s
      AND occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
      AND occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
      AND (occurred_at, id) < (COALESCE(%(after_at)s, 'infinity'::timestamptz),
                               COALESCE(%(after_id)s, 9223372036854775807))
      AND (%(visible_labels)s::text[] IS NULL OR labels = '{}' OR labels <@ %(visible_labels)s::text[])
      AND recorded_at <= COALESCE(%(as_of)s, 'infinity'::timestamptz)
      AND (%(history)s OR (e.status <> 'entered-in-error' AND NOT EXISTS (
              SELECT 1 FROM patient_events AS s
              WHERE s.tenant_id = e.tenant_id AND s.supersedes = e.id AND s.supersedes IS NOT NULL
                AND s.recorded_at <= COALESCE(%(as_of)s, 'infinity'::timestamptz))))
    ORDER BY occurred_at DESC, id DESC
    LIMIT %(limit)s
), audit AS (
    {{audit._audit_row}}
           'search', 'success', NULL::smallint, %(patient_id)s,
           COALESCE((array_agg(p.id ORDER BY p.occurred_at DESC, p.id DESC))[1:%(page_size)s], '{}'),
           LEAST(count(p.id), %(page_size)s)
    FROM page AS p
    HAVING count(p.id) > 0
), withheld AS (
    -- What the principal may not see, as a count: the labelled-events index only.
    SELECT count(*) AS n
    FROM patient_events
    WHERE %(visible_labels)s::text[] IS NOT NULL
      AND tenant_id = %(tenant_id)s
      AND patient_id = %(patient_id)s
      AND labels <> '{}'
      AND NOT (labels <@ %(visible_labels)s::text[])
      AND (%(event_types)s::text[] IS NULL OR event_type = ANY (%(event_types)s::text[]))
      AND occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
      AND occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
)
SELECT page.id, page.occurred_at, page.doc, withheld.n
FROM page CROSS JOIN withheld
ORDER BY page.occurred_at DESC, page.id DESC
