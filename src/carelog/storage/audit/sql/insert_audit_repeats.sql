-- Rows that each stand for repeated failed attempts of an unknown caller (issue 9, item 8):
-- one per (address, route, action, status) and window, with the count and the first and last
-- arrival. Chained by the trigger like every other row.
INSERT INTO audit_events
    (tenant_id, action, outcome, status, route, client_address, attempts, first_attempt_at,
     last_attempt_at)
VALUES (%(tenant_id)s, %(action)s, %(outcome)s, %(status)s::smallint, %(route)s,
        %(client_address)s, %(attempts)s::integer, %(first_attempt_at)s, %(last_attempt_at)s)
