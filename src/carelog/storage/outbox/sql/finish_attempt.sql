-- An attempt's outcome: its row, and the delivery delivered, due again after the backoff,
-- or dead (out of attempts). Only a delivery still pending is moved (a deactivation may have
-- cancelled it meanwhile); the attempt is recorded either way.
WITH attempt AS (
    INSERT INTO webhook_attempts
        (tenant_id, delivery_id, attempt, started_at, duration_ms, status_code, error)
    VALUES (%(tenant_id)s, %(delivery_id)s, %(attempt)s, %(started_at)s, %(duration_ms)s,
            %(status_code)s, %(error)s)
    ON CONFLICT DO NOTHING
    RETURNING attempt
)
UPDATE webhook_deliveries
SET state = %(state)s,
    attempts = attempts + 1,
    round_attempts = round_attempts + 1,
    delivered_at = CASE WHEN %(state)s = 'delivered' THEN now() END,
    next_attempt_at = now() + make_interval(secs => %(retry_in)s)
WHERE tenant_id = %(tenant_id)s AND id = %(delivery_id)s AND state = 'pending'
RETURNING state
