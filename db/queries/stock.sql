-- Availability and portions on the write path: both run inside an order's
-- write transaction (internal/store/write.go), so they are decided by the
-- database at commit time, on every replica alike, whatever a menu cache
-- holds.

-- AssertAvailable aborts the write when the venue's menu is no longer at
-- @menu_version, the version the write was planned with ('menu-stale': a
-- menu cache may be behind another replica's change, so the write re-plans
-- from a fresh read), or when one of the SKUs it adds is 86'd at @at
-- (available false, and unavailable_until unset or still ahead).
-- name: AssertAvailable :exec
SELECT posd_assert((SELECT menu_version FROM venues WHERE id = @venue_id) = @menu_version::bigint, 'menu-stale'),
       posd_assert(NOT EXISTS (
    SELECT 1 FROM menu_items
    WHERE venue_id = @venue_id AND sku = ANY(@skus::text[]) AND NOT available
      AND (unavailable_until IS NULL OR unavailable_until > @at::timestamptz)), 'item-unavailable');

-- TakePortions takes (delta > 0) or gives back (delta < 0) the portions of
-- the counted items among @skus; items whose remaining is null are not
-- counted and stay as they are. The rows are locked in SKU order, so two
-- writes taking several counted items never deadlock. A take past zero
-- breaks menu_items_remaining_bound and aborts the write (sold out).
-- name: TakePortions :exec
WITH d AS (
    SELECT unnest(@skus::text[]) AS sku, unnest(@deltas::int[]) AS delta
), locked AS (
    SELECT m.sku FROM menu_items m
    WHERE m.venue_id = @venue_id AND m.sku = ANY(@skus::text[]) AND m.remaining IS NOT NULL
    ORDER BY m.sku
    FOR UPDATE
)
UPDATE menu_items m SET remaining = m.remaining - d.delta
FROM d, locked
WHERE m.venue_id = @venue_id AND m.sku = d.sku AND locked.sku = d.sku;

-- ListStock reads the availability and remaining portions of @skus, for
-- the body of a refusal.
-- name: ListStock :many
SELECT sku, available, unavailable_until, remaining FROM menu_items
WHERE venue_id = @venue_id AND sku = ANY(@skus::text[])
ORDER BY sku;
