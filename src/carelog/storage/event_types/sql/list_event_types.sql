-- A tenant's registered event types and its rule for unregistered ones.
SELECT t.event_type, t.description, t.schema
FROM tenant_event_types AS t
WHERE t.tenant_id = %(tenant_id)s
ORDER BY t.event_type
