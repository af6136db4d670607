-- Append one event for a tenant's patient, and its audit row, in one statement.
WITH inserted AS (
    INSERT INTO patient_events AS e
        (tenant_id, patient_id, event_type, payload, occurred_at, recorded_by, recorded_by_kind,
         agent_name, source, labels)
    VALUES
        (%(tenant_id)s, %(patient_id)s, %(event_type)s, %(payload)s,
         COALESCE(%(occurred_at)s, now()), %(recorded_by)s, %(recorded_by_kind)s,
         %(agent_name)s, %(source)s, %(labels)s)
    RETURNING e.id, e.occurred_at, carelog_event_json(e) AS doc, e.patient_id
), audit AS (
    {{audit._audit_row}}
           'create', 'success', NULL::smallint, i.patient_id, ARRAY[i.id], 1
    FROM inserted AS i
)
SELECT id, occurred_at, doc FROM inserted
