-- What the tenant says about one event type: its registered schema (if any) and whether
-- unregistered types are refused.
SELECT
    (SELECT schema FROM tenant_event_types
     WHERE tenant_id = %(tenant_id)s AND event_type = %(event_type)s) AS schema,
    COALESCE((SELECT reject_unregistered_types FROM tenants WHERE tenant_id = %(tenant_id)s),
             false) AS reject_unregistered
