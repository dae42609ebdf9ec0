-- +goose Up
-- Row-level security: every venue-owned table shows and accepts only the rows
-- of the venue named by the transaction-local setting posd.venue, which posd
-- sets from the request's token. A query that forgets its venue filter then
-- returns nothing rather than another venue's rows. FORCE applies the policy
-- to the tables' owner too (superusers and BYPASSRLS roles are exempt, which
-- is why posd's own role is neither).
--
-- Components that work across venues by design (the outbox relay, the
-- sealer's venue list, token lookup before the venue is known) set
-- posd.scope = 'system' on their own connection or transaction; request
-- handling never sets it.

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dining_tables', 'menu_items', 'devices', 'orders', 'order_lines',
                             'order_payments', 'order_events', 'kitchen_tickets', 'kitchen_ticket_events',
                             'outbox', 'order_conflicts', 'venue_seals', 'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY venue_scope ON %I
            USING (venue_id = current_setting('posd.venue', true)
                   OR current_setting('posd.scope', true) = 'system')
            WITH CHECK (venue_id = current_setting('posd.venue', true)
                        OR current_setting('posd.scope', true) = 'system')$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE venues ENABLE ROW LEVEL SECURITY;
ALTER TABLE venues FORCE ROW LEVEL SECURITY;
CREATE POLICY venue_scope ON venues
    USING (id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system')
    WITH CHECK (id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system');

-- The view must apply the policies of whoever queries it, not of its owner
-- (a superuser owner would bypass them).
ALTER VIEW orders_full SET (security_invoker = true);

-- +goose Down
ALTER VIEW orders_full RESET (security_invoker);
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['venues', 'dining_tables', 'menu_items', 'devices', 'orders', 'order_lines',
                             'order_payments', 'order_events', 'kitchen_tickets', 'kitchen_ticket_events',
                             'outbox', 'order_conflicts', 'venue_seals', 'idempotency_keys'] LOOP
        EXECUTE format('DROP POLICY venue_scope ON %I', t);
        EXECUTE format('ALTER TABLE %I NO FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I DISABLE ROW LEVEL SECURITY', t);
    END LOOP;
END
$$;
-- +goose StatementEnd
