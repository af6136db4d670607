-- For each of these events, the newest version of its chain (following its successors, one
-- primary-key probe of the one-successor index a step) and what a correction or retraction of
-- it needs: the batched form of current_version then get_revision_target, for a FHIR
-- import's changed resources. visible: whether the principal may see that newest version.
WITH RECURSIVE chain AS (
    SELECT s.start, s.start AS id
    FROM unnest(%(ids)b::bigint[]) AS s (start)
    UNION ALL
    SELECT c.start, n.id
    FROM chain AS c
    CROSS JOIN LATERAL (
        SELECT e.id
        FROM patient_events AS e
        WHERE e.tenant_id = %(tenant_id)s AND e.supersedes = c.id AND e.supersedes IS NOT NULL
        LIMIT 1
    ) AS n
), newest AS (
    SELECT c.start, max(c.id) AS id FROM chain AS c GROUP BY c.start
)
SELECT n.start, t.id, t.patient_id, t.event_type, t.status, t.labels,
       (%(patients)s::text[] IS NULL OR t.patient_id = ANY (%(patients)s::text[]))
       AND (%(visible_labels)s::text[] IS NULL OR t.labels = '{}'
            OR t.labels <@ %(visible_labels)s::text[]) AS visible
FROM newest AS n
CROSS JOIN LATERAL (
    SELECT e.id, e.patient_id, e.event_type, e.status, e.labels
    FROM patient_events AS e
    WHERE e.tenant_id = %(tenant_id)s AND e.id = n.id
    LIMIT 1
) AS t
