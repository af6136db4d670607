-- Record when keys were last used (batched by each process; never moves backwards).
-- tenant-scope: key ids are global; the owner-run function writes only last_used_at.
SELECT carelog_record_key_use(%(key_ids)s::text[], %(used_at)s::timestamptz[])
