-- Append a staged batch's new events (not its replays) and the batch's audit rows, in one
-- statement. The statement-level trigger moves each patient's version once, set-based, over
-- the whole batch. One audit row a patient of the batch, naming that patient and its items'
-- events (a replay's first event) in the batch's order, so that the patient's accounting
-- finds the write; the rows are small, so none is compressed. Returns every item's event id
-- in the batch's order. (A data-modifying CTE runs whether or not the statement reads it:
-- inserted is not read.)
WITH inserted AS (
    INSERT INTO patient_events AS e
        (id, tenant_id, patient_id, event_type, payload, occurred_at, recorded_by,
         recorded_by_kind, agent_name, source, idempotency_key, labels)
    SELECT s.id, %(tenant_id)s, s.patient_id, s.event_type, s.payload,
           COALESCE(s.occurred_at, now()), %(recorded_by)s, %(recorded_by_kind)s,
           %(agent_name)s, s.source, s.idempotency_key, s.labels
    FROM batch_staging AS s
    WHERE s.replay_of IS NULL
), patients AS (
    SELECT s.patient_id, array_agg(COALESCE(s.replay_of, s.id) ORDER BY s.ord) AS ids
    FROM batch_staging AS s
    GROUP BY s.patient_id
    ORDER BY s.patient_id
), audit AS (
    {{audit._audit_row}}
           'create', 'success', NULL::smallint, p.patient_id, p.ids, cardinality(p.ids)
    FROM patients AS p
)
SELECT array_agg(COALESCE(s.replay_of, s.id) ORDER BY s.ord) FROM batch_staging AS s
