-- tenant-scope: the session's own staging table (create_batch_staging), no tenant's rows.
-- Empties the transaction's staging table for another batch in the same transaction (an
-- NDJSON import's lines that must be stored before the rest of their chunk is read).
TRUNCATE batch_staging
