-- One case, if the principal may see it, and the audit row of the read (its transition
-- events are what was read).
WITH found AS (
    SELECT
{{_case_columns}}
    FROM workflow_cases AS c
    WHERE c.tenant_id = %(tenant_id)s
      AND c.case_id = %(case_id)s
      AND c.workflow = %(workflow)s
{{_case_visible}}
), audit AS (
    {{audit._audit_row}}
           'read', 'success', NULL::smallint, max(f.patient_id),
           COALESCE(max(f.event_ids), '{}'), count(*)
    FROM found AS f
    HAVING count(*) > 0 AND %(audit)s
)
SELECT * FROM found
