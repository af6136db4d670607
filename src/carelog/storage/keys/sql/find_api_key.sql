-- The live key (not revoked, not expired) with this token hash.
-- tenant-scope: authentication looks a token up before its tenant is known; the owner-run
-- function carelog_find_api_key does only this, and the row found names the tenant.
SELECT * FROM carelog_find_api_key(%(key_hash)s)
