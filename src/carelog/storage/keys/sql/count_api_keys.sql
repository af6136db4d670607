-- Whether any key exists at all (first start creates the admin key).
-- tenant-scope: deliberately global, a fresh database has no tenant yet.
SELECT count(*) AS n FROM api_keys
