-- tenant-scope: the session's own staging table (create_revision_staging), no tenant's rows.
COPY revision_staging (ord, supersedes, payload, occurred_at, status, reason) FROM STDIN
