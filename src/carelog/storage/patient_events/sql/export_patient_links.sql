-- One page of the chain links of one patient's events recorded by as_of that the labels let
-- through (id, what it supersedes, status, recorded time), newest clinical time first,
-- strictly before a position: the first pass of how a Bulk Data export reads a patient with
-- more events than one read may hold (which versions are current), no event's content. A
-- range scan on patient_events_timeline: O(page), whatever the patient's history.
SELECT e.id, e.occurred_at, e.supersedes, e.status, e.recorded_at
FROM patient_events AS e
WHERE tenant_id = %(tenant_id)s
  AND patient_id = %(patient_id)s
  AND (occurred_at, id) < (COALESCE(%(before_at)s, 'infinity'::timestamptz),
                           COALESCE(%(before_id)s, 9223372036854775807))
  AND (%(visible_labels)s::text[] IS NULL OR labels = '{}' OR labels <@ %(visible_labels)s::text[])
  AND recorded_at <= %(as_of)s
ORDER BY occurred_at DESC, id DESC
LIMIT %(limit)s
