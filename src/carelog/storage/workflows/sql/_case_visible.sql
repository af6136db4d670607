-- The cases of the tenant (filtered by the statement) a principal may see: one of its
-- patients' (when the key is limited to some), and every label of it visible.
  AND (%(patients)s::text[] IS NULL OR c.patient_id = ANY (%(patients)s::text[]))
  AND (%(visible_labels)s::text[] IS NULL OR c.labels = '{}' OR c.labels <@ %(visible_labels)s::text[])
