-- One page of a patient's events of the given types, newest first, and the audit row of the
-- search. One bounded range scan on patient_events_by_type per type, merged: O(types x page).
WITH page AS (
    SELECT typed.id, typed.occurred_at, typed.doc
    FROM unnest(%(event_types)s::text[]) AS t (event_type)
    CROSS JOIN LATERAL (
        SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc
        FROM patient_events AS e
        WHERE tenant_id = %(tenant_id)s
          AND patient_id = %(patient_id)s
          AND e.event_type = t.event_type
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
    ) AS typed
    ORDER BY typed.occurred_at DESC, typed.id DESC
    LIMIT %(limit)s
), audit AS (
    {{audit._audit_row}}
           'search', 'success', NULL::smallint, %(patient_id)s,
           COALESCE((array_agg(p.id ORDER BY p.occurred_at DESC, p.id DESC))[1:%(page_size)s], '{}'),
           LEAST(count(p.id), %(page_size)s)
    FROM page AS p
    HAVING count(p.id) > 0  -- (an empty page: the service decides and audits)
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
