-- One delivery's state and its subscription's activity (why a replay was refused).
SELECT d.state, s.active
FROM webhook_deliveries AS d
JOIN webhook_subscriptions AS s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id
WHERE d.tenant_id = %(tenant_id)s AND d.subscription_id = %(subscription_id)s
  AND d.id = %(delivery_id)s
