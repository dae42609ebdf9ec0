-- name: InsertOrder :exec
INSERT INTO orders (venue_id, id, table_id, status, guests, note, version, server_staff, opened_at, updated_at, last_hash)
VALUES (@venue_id, @id, @table_id, 'open', @guests, '', 1, @server_staff, @opened_at, @opened_at, @last_hash);

-- GetOrderFull reads an order with its lines and payments in one statement, so
-- the three come from one snapshot.
-- name: GetOrderFull :one
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
FROM orders o
WHERE o.venue_id = @venue_id AND o.id = @id;

-- name: GetOpenOrderIDByTable :one
SELECT id FROM orders
WHERE venue_id = @venue_id AND table_id = @table_id AND status = 'open';

-- name: ListOrdersFull :many
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
FROM orders o
WHERE o.venue_id = @venue_id
  AND (sqlc.narg('status')::text IS NULL OR o.status = sqlc.narg('status'))
  AND (sqlc.narg('table_id')::text IS NULL OR o.table_id = sqlc.narg('table_id'))
ORDER BY o.opened_at DESC, o.id DESC
LIMIT @row_limit;

-- BumpOrderVersion is the versioned write: it changes the order only if it is
-- still at the version the change was computed from. Zero rows is a conflict.
-- name: BumpOrderVersion :execrows
UPDATE orders
SET version    = version + 1,
    table_id   = @table_id,
    status     = @status,
    guests     = @guests,
    note       = @note,
    updated_at = @updated_at,
    closed_at  = @closed_at,
    last_hash  = @last_hash
WHERE venue_id = @venue_id AND id = @id AND version = @expected_version;
