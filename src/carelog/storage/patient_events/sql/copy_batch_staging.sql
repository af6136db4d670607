-- tenant-scope: the session's own staging table (create_batch_staging), no tenant's rows.
COPY batch_staging (ord, patient_id, event_type, payload, occurred_at, source, labels,
                    idempotency_key, request_hash) FROM STDIN
