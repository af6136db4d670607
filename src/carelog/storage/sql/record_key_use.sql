-- Record when keys were last used (batched by each process; never moves backwards).
-- tenant-scope: key ids are global; this writes only the use time of keys that authenticated.
UPDATE api_keys AS k
SET last_used_at = GREATEST(k.last_used_at, u.used_at)
FROM unnest(%(key_ids)s::text[], %(used_at)s::timestamptz[]) AS u (key_id, used_at)
WHERE k.key_id = u.key_id
