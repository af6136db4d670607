-- A new subscription, with what its creator's key could read fixed now.
INSERT INTO webhook_subscriptions
    (tenant_id, id, url, secret, patient_ids, event_types, description, patients,
     visible_labels, created_by)
VALUES (%(tenant_id)s, %(id)s, %(url)s, %(secret)s, %(patient_ids)s, %(event_types)s,
        %(description)s, %(patients)s, %(visible_labels)s, %(created_by)s)
RETURNING id, url, patient_ids, event_types, description, patients, visible_labels, active,
          created_by, created_at, deactivated_at
