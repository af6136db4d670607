-- Whether the tenant has any event for this patient (tells "no such patient" from "no match").
SELECT EXISTS (
    SELECT 1 FROM patient_events WHERE tenant_id = %(tenant_id)s AND patient_id = %(patient_id)s
) AS found
