-- The patient's change counter (migration 0013); no row: no events recorded.
SELECT version FROM patient_heads
WHERE tenant_id = %(tenant_id)s AND patient_id = %(patient_id)s
