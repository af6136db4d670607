-- What a claimed delivery sends: the subscription's URL and secret, and the event as the
-- API answers it.
SELECT d.id, d.state, d.subscription_id, d.patient_id, d.event_id, d.attempts,
       d.round_attempts, s.url, s.secret, s.active, carelog_event_json(e) AS doc
FROM webhook_deliveries AS d
JOIN webhook_subscriptions AS s ON s.tenant_id = d.tenant_id AND s.id = d.subscription_id
JOIN patient_events AS e
    ON e.id = d.event_id AND e.tenant_id = d.tenant_id AND e.patient_id = d.patient_id
WHERE d.tenant_id = %(tenant_id)s AND d.id = %(delivery_id)s
