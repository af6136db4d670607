-- Append a staged batch's new events (not its replays) and the batch's one audit row, in one
-- statement. The statement-level trigger moves each patient's version once, set-based, over
-- the whole batch. The audit row names every item's event in the batch's order (a replay's
-- first event), and the patient when the batch is one patient's. Returns those ids. (A
-- data-modifying CTE runs whether or not the statement reads it: inserted is not read.)
WITH inserted AS (
    INSERT INTO patient_events AS e
        (id, tenant_id, patient_id, event_type, payload, occurred_at, recorded_by,
         recorded_by_kind, agent_name, source, idempotency_key, labels)
    SELECT s.id, %(tenant_id)s, s.patient_id, s.event_type, s.payload,
           COALESCE(s.occurred_at, now()), %(recorded_by)s, %(recorded_by_kind)s,
           %(agent_name)s, s.source, s.idempotency_key, s.labels
    FROM batch_staging AS s
    WHERE s.replay_of IS NULL
), items AS (
    SELECT array_agg(COALESCE(s.replay_of, s.id) ORDER BY s.ord) AS ids,
           CASE WHEN min(s.patient_id) = max(s.patient_id) THEN min(s.patient_id) END AS patient
    FROM batch_staging AS s
), audit AS (
    {{audit._audit_row}}
           'create', 'success', NULL::smallint, i.patient, i.ids, cardinality(i.ids)
    FROM items AS i
)
SELECT i.ids FROM items AS i
