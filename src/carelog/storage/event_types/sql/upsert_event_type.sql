-- Register (or replace) a tenant's event type schema.
INSERT INTO tenant_event_types (tenant_id, event_type, description, schema)
VALUES (%(tenant_id)s, %(event_type)s, %(description)s, %(schema)s)
ON CONFLICT (tenant_id, event_type)
DO UPDATE SET description = EXCLUDED.description, schema = EXCLUDED.schema, updated_at = now()
RETURNING event_type, description, schema
