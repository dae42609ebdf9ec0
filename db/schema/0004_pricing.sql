-- +goose Up
-- Pricing wired into orders (DESIGN.md section 9, docs/PRICING.md).
--
-- An order keeps the venue's tax classes and service charge as they were
-- when it was opened (pricing: {"tax_classes":[…],"service_charge":…}; the
-- order.opened event carries the same), so its rates never change under
-- it; NULL for an order opened before this migration, which carries no tax
-- and no service charge. discounts are the manager's discounts in the order
-- given ([{"id","line_id"?,"percent_bps"|"amount_cents","reason","by"}], at
-- most order.MaxDiscountsPerOrder); service_charge_waiver is a manager's
-- waiver ({"reason","by"}) or NULL.
ALTER TABLE orders
    ADD COLUMN pricing jsonb,
    ADD COLUMN discounts jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN service_charge_waiver jsonb,
    ADD CONSTRAINT orders_pricing_shape CHECK (pricing IS NULL OR jsonb_typeof(pricing) = 'object'),
    ADD CONSTRAINT orders_discounts_len
        CHECK (jsonb_typeof(discounts) = 'array' AND jsonb_array_length(discounts) <= 50),
    ADD CONSTRAINT orders_service_charge_waiver_shape
        CHECK (service_charge_waiver IS NULL OR jsonb_typeof(service_charge_waiver) = 'object');

-- A money movement is a payment (amount > 0, tip ≥ 0) or a refund of one
-- (amount < 0, tip 0, refund_of the position of the payment refunded, a
-- reason). id is posd's id of the movement; NULL for payments taken before
-- this migration. An order takes at most order.MaxPaymentsPerOrder payments
-- and as many refunds, so positions run to 1999.
ALTER TABLE order_payments
    DROP CONSTRAINT order_payments_amount_cents_check,
    DROP CONSTRAINT order_payments_amount_bound,
    DROP CONSTRAINT order_payments_per_order,
    ADD COLUMN id uuid,
    ADD COLUMN refund_of integer,
    ADD COLUMN reason text NOT NULL DEFAULT '',
    ADD CONSTRAINT order_payments_amount_bound
        CHECK (amount_cents BETWEEN -100000000 AND 100000000 AND amount_cents <> 0),
    ADD CONSTRAINT order_payments_per_order CHECK (position BETWEEN 0 AND 1999),
    ADD CONSTRAINT order_payments_refund
        CHECK ((refund_of IS NULL) = (amount_cents > 0)
               AND (refund_of IS NULL OR (tip_cents = 0 AND refund_of >= 0 AND refund_of < position))),
    ADD CONSTRAINT order_payments_reason_len CHECK (length(reason) <= 280);

CREATE OR REPLACE VIEW orders_full WITH (security_invoker = true) AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped, 'options', l.options,
                    'tax_class', l.tax_class) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::jsonb AS lines,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'id', p.id, 'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents,
                    'refund_of', p.refund_of, 'reason', p.reason)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::jsonb AS payments,
       o.pricing, o.discounts, o.service_charge_waiver
FROM orders o;

-- +goose Down
-- Row-level security applies to the table owner too (FORCE): removing the
-- refunds must see every venue.
SELECT set_config('posd.scope', 'system', true);
DROP VIEW orders_full;
CREATE VIEW orders_full WITH (security_invoker = true) AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped, 'options', l.options,
                    'tax_class', l.tax_class) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::jsonb AS lines,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::jsonb AS payments
FROM orders o;
GRANT SELECT ON orders_full TO posd_app;
DELETE FROM order_payments WHERE refund_of IS NOT NULL;
ALTER TABLE order_payments
    DROP CONSTRAINT order_payments_refund,
    DROP CONSTRAINT order_payments_reason_len,
    DROP CONSTRAINT order_payments_amount_bound,
    DROP CONSTRAINT order_payments_per_order,
    DROP COLUMN id,
    DROP COLUMN refund_of,
    DROP COLUMN reason,
    ADD CONSTRAINT order_payments_amount_cents_check CHECK (amount_cents > 0),
    ADD CONSTRAINT order_payments_amount_bound CHECK (amount_cents BETWEEN 1 AND 100000000),
    ADD CONSTRAINT order_payments_per_order CHECK (position BETWEEN 0 AND 999);
ALTER TABLE orders
    DROP COLUMN pricing,
    DROP COLUMN discounts,
    DROP COLUMN service_charge_waiver;
