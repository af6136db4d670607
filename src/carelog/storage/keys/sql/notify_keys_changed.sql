-- Tell every Carelog process to drop its cached principals (delivered when this commits).
-- tenant-scope: a signal, no data: every process forgets every cached key.
SELECT pg_notify('carelog_api_keys', '')
