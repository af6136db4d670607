-- The events a patient's context can use, chosen here so that only they are read and sent.
-- Every filter applies first: current versions (as recorded by as_of) that occurred in
-- [since, until), of the asked-for types, that the reader may see. Among those: the latest of
-- each allergy, condition and medication key and the two latest results of each lab key
-- (grouped by fact_key, the rule of fact_key() in domain/context/facts.py), each vital sign's
-- latest reading, and the ten latest notes. Also how many events the labels withheld.
--
-- The work grows with what is shown, not with the patient's history: `facts` walks the
-- distinct (kind, fact_key) pairs with one index probe each (a loose index scan on
-- patient_events_facts), `signs` walks the distinct measurements the same way on
-- patient_measurements, then each one's newest current rows are read from the same index.
-- (Under row-level security only leakproof operators are index conditions: the label and
-- type filters are plain filters on the few rows each probe reads.)
WITH RECURSIVE facts (event_type, fact) AS (
    SELECT k.event_type, f.fact
    FROM (VALUES ('allergy'), ('condition'), ('lab_result'), ('medication')) AS k (event_type)
    CROSS JOIN LATERAL (
        SELECT e.fact_key AS fact FROM patient_events AS e
        WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
          AND e.event_type = k.event_type AND e.fact_key IS NOT NULL
        ORDER BY e.fact_key LIMIT 1
    ) AS f
    WHERE %(types)s::text[] IS NULL OR k.event_type = ANY (%(types)s::text[])
    UNION ALL
    SELECT facts.event_type, f.fact
    FROM facts
    CROSS JOIN LATERAL (
        SELECT e.fact_key AS fact FROM patient_events AS e
        WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
          AND e.event_type = facts.event_type AND e.fact_key > facts.fact
        ORDER BY e.fact_key LIMIT 1
    ) AS f
), signs (sign) AS (
    (SELECT m.sign FROM patient_measurements AS m
     WHERE m.tenant_id = %(tenant_id)s AND m.patient_id = %(patient_id)s
       AND (%(types)s::text[] IS NULL OR 'vital_signs' = ANY (%(types)s::text[]))
     ORDER BY m.sign LIMIT 1)
    UNION ALL
    SELECT s.sign
    FROM signs
    CROSS JOIN LATERAL (
        SELECT m.sign FROM patient_measurements AS m
        WHERE m.tenant_id = %(tenant_id)s AND m.patient_id = %(patient_id)s
          AND m.sign > signs.sign
        ORDER BY m.sign LIMIT 1
    ) AS s
), standing AS NOT MATERIALIZED (
    -- Recorded by as_of, not a retraction, no successor recorded by as_of; in the window.
    SELECT e.* FROM patient_events AS e
    WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
      AND e.recorded_at <= %(as_of)s AND e.status <> 'entered-in-error'
      AND e.occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
      -- occurred_at < until, as a row comparison: a generic plan takes a pair of bounds on one
      -- column for a narrow range (0.5%% of rows) and would rather sort it than walk it.
      AND (e.occurred_at, e.id) < (COALESCE(%(until)s, 'infinity'::timestamptz), 0)
      AND NOT EXISTS (
          SELECT 1 FROM patient_events AS s
          WHERE s.tenant_id = e.tenant_id AND s.supersedes = e.id
            AND s.supersedes IS NOT NULL AND s.recorded_at <= %(as_of)s)
), visible AS NOT MATERIALIZED (
    -- (labels = '{}' is for the planner: its statistics know most events carry no label.)
    SELECT * FROM standing AS e
    WHERE %(visible_labels)s::text[] IS NULL OR e.labels = '{}'
       OR e.labels <@ %(visible_labels)s::text[]
), picked AS (
    SELECT c.* FROM facts
    CROSS JOIN LATERAL (
        SELECT * FROM visible AS e
        WHERE e.event_type = facts.event_type AND e.fact_key = facts.fact
        ORDER BY e.occurred_at DESC, e.id DESC
        LIMIT CASE WHEN facts.event_type = 'lab_result' THEN 2 ELSE 1 END
    ) AS c
    UNION ALL
    -- Each sign's latest reading (one event can be the latest of several signs).
    SELECT * FROM patient_events AS e
    WHERE e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
      AND e.id = ANY (ARRAY(
        SELECT r.event_id FROM signs
        CROSS JOIN LATERAL (
            -- Newest first down the sign's index range, each reading's event probed by its
            -- own primary-key lookup. A bare boolean subquery on purpose: as a join the
            -- planner may hash every vital of the patient and sort them to keep one, and a
            -- comparison with the subquery's result it takes to pass 0.5%% of rows (so again
            -- sorts); a bare subquery it takes to pass half of them, and walks.
            SELECT m.event_id FROM patient_measurements AS m
            WHERE m.tenant_id = %(tenant_id)s AND m.patient_id = %(patient_id)s
              AND m.sign = signs.sign
              AND m.occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
              AND (m.occurred_at, m.event_id) < (COALESCE(%(until)s, 'infinity'::timestamptz), 0)
              AND (SELECT true FROM visible AS v
                   WHERE v.id = m.event_id AND v.event_type = 'vital_signs')
            ORDER BY m.occurred_at DESC, m.event_id DESC LIMIT 1
        ) AS r))
    UNION ALL
    -- The ten latest notes: the ten latest of each asked-for kind, each an ordered index
    -- range (the kinds spelt out so that the planner sees each one's own statistics), merged.
    (SELECT * FROM (
        (SELECT * FROM visible AS e WHERE e.event_type = 'triage_note'
           AND (%(types)s::text[] IS NULL OR 'triage_note' = ANY (%(types)s::text[]))
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10)
        UNION ALL
        (SELECT * FROM visible AS e WHERE e.event_type = 'document'
           AND (%(types)s::text[] IS NULL OR 'document' = ANY (%(types)s::text[]))
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10)
        UNION ALL
        (SELECT * FROM visible AS e WHERE e.event_type = 'encounter'
           AND (%(types)s::text[] IS NULL OR 'encounter' = ANY (%(types)s::text[]))
         ORDER BY e.occurred_at DESC, e.id DESC LIMIT 10)
     ) AS n
     ORDER BY n.occurred_at DESC, n.id DESC LIMIT 10)
), withheld AS (
    -- What the labels hid, as a count: the labelled-events index only (the type filter is
    -- the count's, so that no type index is preferred to it), each one's successor looked up
    -- by its own probe (as an anti-join the planner would merge it with every successor in
    -- the tenant).
    SELECT count(*) FILTER (
               WHERE %(types)s::text[] IS NULL OR e.event_type = ANY (%(types)s::text[])) AS n
    FROM patient_events AS e
    WHERE %(visible_labels)s::text[] IS NOT NULL
      AND e.tenant_id = %(tenant_id)s AND e.patient_id = %(patient_id)s
      AND e.labels <> '{}' AND NOT (e.labels <@ %(visible_labels)s::text[])
      AND e.recorded_at <= %(as_of)s AND e.status <> 'entered-in-error'
      AND e.occurred_at >= COALESCE(%(since)s, '-infinity'::timestamptz)
      AND e.occurred_at < COALESCE(%(until)s, 'infinity'::timestamptz)
      AND (SELECT count(*) FROM patient_events AS s
           WHERE s.tenant_id = e.tenant_id AND s.supersedes = e.id
             AND s.supersedes IS NOT NULL AND s.recorded_at <= %(as_of)s) = 0
)
-- One row: the patient's version and newest recorded time (no row in patient_heads: no
-- events at all), read in the same snapshot as the candidates, the withheld count, and the
-- candidates as one JSON array (parsed in one call).
SELECT h.version, h.changed_at, (SELECT n FROM withheld),
       (SELECT '[' || string_agg(carelog_event_json(picked::patient_events), ',') || ']'
        FROM picked)
FROM (VALUES (1)) AS one
LEFT JOIN patient_heads AS h
       ON h.tenant_id = %(tenant_id)s AND h.patient_id = %(patient_id)s
