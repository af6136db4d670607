-- tenant-scope: the session's own staging table (create_revision_staging), no tenant's rows.
-- Empties the transaction's revision staging table for another batch in the same transaction.
TRUNCATE revision_staging
