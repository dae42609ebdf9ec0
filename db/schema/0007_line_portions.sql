-- +goose Up
-- A line records the portions of its item's count it holds: what it took
-- when added or raised while the kitchen counted the item, at most its
-- quantity; it gives back only those when lowered, removed or voided (a
-- voided line holds none). Before, a line gave back its whole quantity, so
-- removing a line added before the kitchen began counting added portions
-- that were never taken (DESIGN.md invariant 10).
--
-- Lines written before hold none: their events record no portions, and
-- audit verify compares every line with the fold of its order's log. A
-- line of a counted item written before this migration therefore gives
-- nothing back when removed (the count can only be lower than the truth,
-- never sell a portion twice; the kitchen's next recount corrects it).
ALTER TABLE order_lines
    ADD COLUMN portions int NOT NULL DEFAULT 0,
    ADD CONSTRAINT order_lines_portions_bound CHECK (portions >= 0 AND portions <= qty);

DROP VIEW orders_full;
CREATE VIEW orders_full WITH (security_invoker = true) AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT json_agg(json_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped, 'options', l.options,
                    'tax_class', l.tax_class, 'portions', l.portions) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::json AS lines,
       COALESCE((SELECT json_agg(json_build_object(
                    'id', p.id, 'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents,
                    'refund_of', p.refund_of, 'reason', p.reason)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::json AS payments,
       o.pricing, o.discounts, o.service_charge_waiver
FROM orders o;
GRANT SELECT ON orders_full TO posd_app;

-- +goose Down
DROP VIEW orders_full;
CREATE VIEW orders_full WITH (security_invoker = true) AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT json_agg(json_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped, 'options', l.options,
                    'tax_class', l.tax_class) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::json AS lines,
       COALESCE((SELECT json_agg(json_build_object(
                    'id', p.id, 'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents,
                    'refund_of', p.refund_of, 'reason', p.reason)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::json AS payments,
       o.pricing, o.discounts, o.service_charge_waiver
FROM orders o;
GRANT SELECT ON orders_full TO posd_app;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_portions_bound, DROP COLUMN portions;
