-- The staged items whose keys were claimed before this batch (the key's event is not the
-- item's own): each becomes a replay of the event first stored under its key (not inserted
-- again), with whether its request matches that first one. A statement of its own, after the
-- claim: its snapshot sees a concurrent claimant's commit.
UPDATE batch_staging AS s
SET replay_of = k.event_id
FROM idempotency_keys AS k
WHERE k.tenant_id = %(tenant_id)s AND k.idempotency_key = s.idempotency_key
  AND k.event_id <> s.id
RETURNING s.ord, k.request_hash = s.request_hash AS same_request
