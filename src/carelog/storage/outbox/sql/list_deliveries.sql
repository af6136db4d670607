-- A subscription's deliveries, newest first, a page after a delivery id, each with its
-- attempts in order.
SELECT d.id, d.event_id, d.patient_id, d.event_type, d.state, d.attempts, d.replays,
       CASE WHEN d.state = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
       d.created_at, d.delivered_at,
       COALESCE((
           SELECT json_agg(json_build_object(
                      'attempt', a.attempt, 'started_at', a.started_at,
                      'duration_ms', a.duration_ms, 'status_code', a.status_code,
                      'error', a.error) ORDER BY a.attempt)
           FROM webhook_attempts AS a
           WHERE a.tenant_id = %(tenant_id)s AND a.delivery_id = d.id
       ), '[]') AS history
FROM webhook_deliveries AS d
WHERE d.tenant_id = %(tenant_id)s AND d.subscription_id = %(subscription_id)s
  AND (%(before)s::bigint IS NULL OR d.id < %(before)s::bigint)
ORDER BY d.id DESC
LIMIT %(limit)s
