-- Search a tenant's current events: full text over note-like events and/or a code contained in
-- coded events, optionally for one patient; newest first, keyset paged; audited as a search.
-- Under row-level security neither the text match (@@) nor the containment (@>) is leakproof,
-- so neither can be an index condition: they filter one B-tree range, the patient's searched
-- types (patient_events_by_type) when a patient is named, the tenant's rows otherwise. Search
-- keeps no GIN index of its own, paid for on every write and never usable here (0025).
WITH page AS (
    SELECT e.id, e.occurred_at, carelog_event_json(e) AS doc, e.patient_id
    FROM patient_events AS e
    WHERE e.tenant_id = %(tenant_id)s
      AND (%(patient_id)s::text IS NULL OR e.patient_id = %(patient_id)s)
      AND (%(patients)s::text[] IS NULL OR e.patient_id = ANY (%(patients)s::text[]))
      AND (%(query)s::text IS NULL OR (
              e.event_type IN ('triage_note', 'document', 'encounter', 'agent_decision')
              AND jsonb_to_tsvector('english', e.payload, '["string"]')
                  @@ websearch_to_tsquery('english', %(query)s)))
      AND (%(contains)s::jsonb IS NULL OR (
              e.event_type IN ('lab_result', 'medication', 'condition', 'allergy')
              AND e.payload @> %(contains)s::jsonb))
      AND (%(visible_labels)s::text[] IS NULL OR e.labels = '{}'
           OR e.labels <@ %(visible_labels)s::text[])
      AND e.status <> 'entered-in-error'
      AND NOT EXISTS (
          SELECT 1 FROM patient_events AS s
          WHERE s.tenant_id = e.tenant_id AND s.supersedes = e.id AND s.supersedes IS NOT NULL)
      AND (e.occurred_at, e.id) < (COALESCE(%(after_at)s, 'infinity'::timestamptz),
                                   COALESCE(%(after_id)s, 9223372036854775807))
    ORDER BY e.occurred_at DESC, e.id DESC
    LIMIT %(limit)s
), audit AS (
    {{audit._audit_row}}
           'search', 'success', NULL::smallint, %(patient_id)s,
           COALESCE((array_agg(p.id ORDER BY p.occurred_at DESC, p.id DESC))[1:%(page_size)s], '{}'),
           LEAST(count(p.id), %(page_size)s)
    FROM page AS p
)
SELECT id, occurred_at, doc FROM page ORDER BY occurred_at DESC, id DESC
