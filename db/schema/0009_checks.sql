-- +goose Up
-- Checks (DESIGN.md section 11). Each line is billed on one check
-- (check_no, 1 by default) or shared evenly by two or more (check_no 0 and
-- shared_by the checks, ascending); each payment settles one check. An
-- order merged into another closes with merged_into naming it. Rows
-- written before hold check 1, which is what their orders' logs fold to.
ALTER TABLE order_lines
    ADD COLUMN check_no int NOT NULL DEFAULT 1,
    ADD COLUMN shared_by int[],
    ADD CONSTRAINT order_lines_check CHECK (
        CASE WHEN shared_by IS NULL THEN check_no BETWEEN 1 AND 99
             ELSE check_no = 0 AND cardinality(shared_by) BETWEEN 2 AND 99
                  AND 1 <= ALL (shared_by) AND 99 >= ALL (shared_by) END);
ALTER TABLE order_payments
    ADD COLUMN check_no int NOT NULL DEFAULT 1,
    ADD CONSTRAINT order_payments_check CHECK (check_no BETWEEN 1 AND 99);
ALTER TABLE orders
    ADD COLUMN merged_into uuid,
    ADD CONSTRAINT orders_merged_into FOREIGN KEY (venue_id, merged_into) REFERENCES orders (venue_id, id),
    ADD CONSTRAINT orders_merged_closed CHECK (merged_into IS NULL OR (status = 'closed' AND merged_into <> id));

DROP VIEW orders_full;
CREATE VIEW orders_full WITH (security_invoker = true) AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT json_agg(json_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped, 'options', l.options,
                    'tax_class', l.tax_class, 'portions', l.portions,
                    'check', l.check_no, 'shared_by', l.shared_by) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::json AS lines,
       COALESCE((SELECT json_agg(json_build_object(
                    'id', p.id, 'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents,
                    'refund_of', p.refund_of, 'reason', p.reason, 'check', p.check_no)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::json AS payments,
       o.pricing, o.discounts, o.service_charge_waiver, o.merged_into
FROM orders o;
GRANT SELECT ON orders_full TO posd_app;

-- +goose Down
-- A split order or a merge cannot be kept under the old shape, and undoing
-- one would move money the log records: Down refuses while any is stored.
SELECT set_config('posd.scope', 'system', true);
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM order_lines WHERE check_no <> 1)
       OR EXISTS (SELECT 1 FROM order_payments WHERE check_no <> 1)
       OR EXISTS (SELECT 1 FROM orders WHERE merged_into IS NOT NULL) THEN
        RAISE EXCEPTION 'orders are split into checks or merged, which the schema before 0009 cannot hold';
    END IF;
END
$$;
-- +goose StatementEnd
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
ALTER TABLE orders DROP CONSTRAINT orders_merged_closed, DROP CONSTRAINT orders_merged_into, DROP COLUMN merged_into;
ALTER TABLE order_payments DROP CONSTRAINT order_payments_check, DROP COLUMN check_no;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_check, DROP COLUMN shared_by, DROP COLUMN check_no;
