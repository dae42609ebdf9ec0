-- InsertOrder writes a new order at version 1 with the pricing rules it
-- keeps for its life (the venue's tax classes and service charge now).
-- name: InsertOrder :exec
INSERT INTO orders (venue_id, id, table_id, status, guests, note, version, server_staff, opened_at, updated_at, last_hash, pricing)
VALUES (@venue_id, @id, @table_id, 'open', @guests, '', 1, @server_staff, @opened_at, @opened_at, @last_hash, @pricing);

-- GetOrderFull reads an order with its lines and payments in one statement, so
-- the three come from one snapshot.
-- name: GetOrderFull :one
SELECT * FROM orders_full
WHERE venue_id = @venue_id AND id = @id;

-- name: GetOpenOrderIDByTable :one
SELECT id FROM orders
WHERE venue_id = @venue_id AND table_id = @table_id AND status = 'open';

-- name: ListOrdersFull :many
SELECT f.* FROM orders_full f
WHERE f.venue_id = @venue_id
  AND (sqlc.narg('status')::text IS NULL OR f.status = sqlc.narg('status'))
  AND (sqlc.narg('table_id')::text IS NULL OR f.table_id = sqlc.narg('table_id'))
  -- The page after an order (GET /v1/orders?after=): older in the same order.
  AND (sqlc.narg('after_id')::uuid IS NULL OR (f.opened_at, f.id) <
       (SELECT a.opened_at, a.id FROM orders a WHERE a.id = sqlc.narg('after_id')))
ORDER BY f.opened_at DESC, f.id DESC
LIMIT @row_limit;

-- BumpOrderVersion is the versioned write: it changes the order only if it is
-- still at the version, and the chain head, the change was computed from (the
-- head is the hash of the order's whole history, so a change planned on a
-- cached copy of the order can only land on that very state). Zero rows is a
-- conflict.
-- name: BumpOrderVersion :execrows
UPDATE orders
SET version    = version + 1,
    table_id   = @table_id,
    status     = @status,
    guests     = @guests,
    note       = @note,
    updated_at = @updated_at,
    closed_at  = @closed_at,
    last_hash  = @last_hash,
    discounts  = @discounts,
    service_charge_waiver = @service_charge_waiver,
    merged_into = @merged_into
WHERE venue_id = @venue_id AND id = @id AND version = @expected_version AND last_hash = @expected_hash;

-- AssertOrderHead aborts the transaction unless the order now carries this
-- version and head hash, i.e. unless this transaction's versioned UPDATE
-- happened (only it writes that hash), and, when @menu_version is not 0,
-- unless the venue's menu is still at the version the change was planned
-- on (its prices, options and which items are counted or 86'd came from a
-- cached menu; 'menu-stale' makes the store re-plan on a fresh one), and,
-- when @token_hash is not null, unless the active device with that token is
-- still the writer the caller authenticated from its cache (name, role,
-- staff): a device revoked or changed since is 'device-changed', so a
-- write skips the token's own lookup and revocation still holds at once.
-- name: AssertOrderHead :exec
SELECT posd_assert(EXISTS (
    SELECT 1 FROM orders o
    WHERE o.venue_id = @venue_id AND o.id = @id AND o.version = @version AND o.last_hash = @last_hash
), 'stale write: the order moved on'),
posd_assert(@menu_version::bigint = 0 OR EXISTS (
    SELECT 1 FROM venues v WHERE v.id = @venue_id AND v.menu_version = @menu_version::bigint
), 'menu-stale'),
posd_assert(sqlc.narg('token_hash')::bytea IS NULL OR EXISTS (
    SELECT 1 FROM devices d
    WHERE d.venue_id = @venue_id AND d.token_hash = sqlc.narg('token_hash')::bytea AND d.revoked_at IS NULL
      AND d.name = @device_name AND d.role = @device_role AND d.staff = @device_staff
), 'device-changed');
