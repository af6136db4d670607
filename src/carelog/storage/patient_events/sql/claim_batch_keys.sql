-- Claim the idempotency keys of a staged batch, in one lock order (by key) for every writer,
-- each for its item's event id. A key already claimed (committed by an earlier request, or
-- by a concurrent one this waits for) is left out. Returns how many this batch now owns.
WITH claimed AS (
    INSERT INTO idempotency_keys (tenant_id, idempotency_key, request_hash, patient_id, event_id)
    SELECT %(tenant_id)s, s.idempotency_key, s.request_hash, s.patient_id, s.id
    FROM batch_staging AS s
    WHERE s.idempotency_key IS NOT NULL
    ORDER BY s.idempotency_key
    ON CONFLICT (tenant_id, idempotency_key) DO NOTHING
    RETURNING 1
)
SELECT count(*) FROM claimed
