-- +goose Up
-- Bounds that keep one order from stopping kitchen delivery or overflowing a
-- total (issue 8), enforced by the database as well as by posd's validation
-- (internal/order: MaxPriceCents, MaxQty, MaxLinesPerOrder,
-- MaxPaymentsPerOrder, MaxAmountCents; internal/kitchen: MaxTicketLines).
-- With them the largest possible order total is 500 lines x 99 x 10^8 cents
-- = 4.95 x 10^12 cents, and the largest amount paid 1,000 x 10^8 = 10^11,
-- far below int64's 9.2 x 10^18. A database holding a row outside a bound
-- fails this migration: correct the row, then migrate again.

ALTER TABLE menu_items
    ADD CONSTRAINT menu_items_price_bound CHECK (price_cents BETWEEN 0 AND 100000000),
    ADD CONSTRAINT menu_items_name_len CHECK (length(name) BETWEEN 1 AND 120),
    -- A station is one token of a NATS subject (pos.<venue>.kitchen.<station>):
    -- a space or a dot would make every ticket of the station undeliverable.
    ADD CONSTRAINT menu_items_station_token CHECK (station ~ '^[A-Za-z0-9_-]{1,32}$');

ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_price_bound CHECK (unit_price_cents BETWEEN 0 AND 100000000);

ALTER TABLE order_payments
    ADD CONSTRAINT order_payments_amount_bound CHECK (amount_cents BETWEEN 1 AND 100000000),
    ADD CONSTRAINT order_payments_tip_bound CHECK (tip_cents BETWEEN 0 AND 100000000),
    ADD CONSTRAINT order_payments_per_order CHECK (position BETWEEN 0 AND 999);

-- At most 500 lines per order. A CHECK cannot count rows, so a trigger
-- counts the order's lines (one index range of at most 501 rows) and refuses
-- with a check_violation naming the constraint. It runs only for a line at
-- position 500 or more: posd numbers an order's lines 0, 1, 2, ... (a new
-- line takes the highest position plus one), so an order can only pass 500
-- lines through such a line, and an order's ordinary writes pay nothing
-- (counting on every insert cost about half a millisecond per write).
-- +goose StatementBegin
CREATE FUNCTION posd_order_lines_bound() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM order_lines
    WHERE venue_id = NEW.venue_id AND order_id = NEW.order_id;
    IF n > 500 THEN
        RAISE EXCEPTION 'order % of venue % would hold % lines; at most 500', NEW.order_id, NEW.venue_id, n
            USING ERRCODE = 'check_violation', CONSTRAINT = 'order_lines_per_order',
                  TABLE = 'order_lines';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER order_lines_per_order AFTER INSERT ON order_lines
    FOR EACH ROW WHEN (NEW.position >= 500) EXECUTE FUNCTION posd_order_lines_bound();

-- A fire larger than one ticket is split into parts for its station: part
-- of parts, both 1 for a ticket that is whole.
ALTER TABLE kitchen_tickets
    ADD COLUMN part  integer NOT NULL DEFAULT 1,
    ADD COLUMN parts integer NOT NULL DEFAULT 1,
    ADD CONSTRAINT kitchen_tickets_part CHECK (parts BETWEEN 1 AND 500 AND part BETWEEN 1 AND parts);

-- Dead letters: outbox messages NATS refused for good (larger than its
-- max_payload, an invalid subject, a permanent JetStream error). The relay
-- copies the row here with the error, moves its cursor past it and goes on
-- with the messages after it. An operator lists them and replays one
-- (posd outbox dead-letters, posd outbox replay): a replay puts a copy back
-- into the outbox and stamps replayed_at; no dead letter is ever deleted,
-- so each one stays on record (docs/RELIABILITY.md, "Kitchen delivery
-- bounds").
CREATE TABLE outbox_dead_letters (
    outbox_id     bigint PRIMARY KEY,
    txid          xid8 NOT NULL,
    venue_id      text NOT NULL,
    subject       text NOT NULL,
    msg_id        text NOT NULL,
    msg_type      text NOT NULL,
    order_id      uuid NOT NULL,
    order_version bigint NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    error         text NOT NULL,
    failed_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz
);
ALTER TABLE outbox_dead_letters ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox_dead_letters FORCE ROW LEVEL SECURITY;
CREATE POLICY venue_scope ON outbox_dead_letters
    USING (venue_id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system')
    WITH CHECK (venue_id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system');
GRANT SELECT, INSERT ON outbox_dead_letters TO posd_app;
GRANT UPDATE (replayed_at) ON outbox_dead_letters TO posd_app;

-- +goose Down
DROP TABLE outbox_dead_letters;
ALTER TABLE kitchen_tickets DROP CONSTRAINT kitchen_tickets_part, DROP COLUMN parts, DROP COLUMN part;
DROP TRIGGER order_lines_per_order ON order_lines;
DROP FUNCTION posd_order_lines_bound();
ALTER TABLE order_payments DROP CONSTRAINT order_payments_per_order,
    DROP CONSTRAINT order_payments_tip_bound, DROP CONSTRAINT order_payments_amount_bound;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_price_bound;
ALTER TABLE menu_items DROP CONSTRAINT menu_items_station_token, DROP CONSTRAINT menu_items_name_len,
    DROP CONSTRAINT menu_items_price_bound;
