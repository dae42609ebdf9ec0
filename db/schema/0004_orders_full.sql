-- +goose Up
-- orders_full is an order with its lines and payments aggregated as JSON, so
-- one statement (one snapshot) reads the whole order.
CREATE VIEW orders_full AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::jsonb AS lines,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::jsonb AS payments
FROM orders o;

GRANT SELECT ON orders_full TO posd_app;

-- +goose Down
DROP VIEW orders_full;
