-- The newest version of an event: follow the chain of successors from it.
WITH RECURSIVE chain AS (
    SELECT id FROM patient_events WHERE tenant_id = %(tenant_id)s AND id = %(id)s
    UNION ALL
    SELECT e.id
    FROM patient_events AS e
    JOIN chain AS c ON e.supersedes = c.id
    WHERE e.tenant_id = %(tenant_id)s
)
SELECT max(id) FROM chain
