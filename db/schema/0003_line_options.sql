-- +goose Up
-- A line keeps the modifier options chosen with it (group and option ids,
-- with the names and prices the menu had then; its unit_price_cents already
-- includes those prices) and the tax class of its item then, so a later
-- menu change never alters an open check and folding the log reproduces
-- every total. Lines written before have no options and no tax class.
ALTER TABLE order_lines
    ADD COLUMN options jsonb NOT NULL DEFAULT '[]',
    ADD COLUMN tax_class text NOT NULL DEFAULT '',
    ADD CONSTRAINT order_lines_options_len
        CHECK (jsonb_typeof(options) = 'array' AND jsonb_array_length(options) <= 20);

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
                    'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::jsonb AS payments
FROM orders o;

-- +goose Down
CREATE OR REPLACE VIEW orders_full WITH (security_invoker = true) AS
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
ALTER TABLE order_lines DROP COLUMN options, DROP COLUMN tax_class;
