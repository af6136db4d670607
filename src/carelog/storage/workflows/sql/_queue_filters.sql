-- A queue read's filters besides its order (the patient, the assignee, the payer) and the
-- principal's visibility: plain filters on the rows the queue's index range reads.
      AND (%(patient_id)s::text IS NULL OR c.patient_id = %(patient_id)s::text)
      AND (%(assignee)s::text IS NULL OR c.assignee = %(assignee)s::text)
      AND (%(payer_id)s::text IS NULL OR c.payer_id = %(payer_id)s::text)
{{_case_visible}}
