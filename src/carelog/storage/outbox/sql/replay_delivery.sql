-- A dead letter sent again: pending, due now, with a new round of attempts (of an active
-- subscription only). Returns the delivery's id, or nothing.
UPDATE webhook_deliveries AS d
SET state = 'pending', round_attempts = 0, replays = d.replays + 1, next_attempt_at = now()
FROM webhook_subscriptions AS s
WHERE d.tenant_id = %(tenant_id)s AND d.subscription_id = %(subscription_id)s
  AND d.id = %(delivery_id)s AND d.state = 'dead'
  AND s.tenant_id = %(tenant_id)s AND s.id = d.subscription_id AND s.active
RETURNING d.id
