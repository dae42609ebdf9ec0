-- The catalog of one venue (internal/store/catalog.go). Reads run in one
-- repeatable-read transaction, so they see one state of the menu.

-- name: GetVenue :one
SELECT id, name, timezone, currency, tenders, service_charge_min_guests, service_charge_rate_bps,
       service_charge_tax_class, menu_version
FROM venues
WHERE id = @id;

-- LockVenue takes the venue's row for the catalog change in progress, so
-- changes of one venue's catalog run one after the other.
-- name: LockVenue :one
SELECT menu_version FROM venues WHERE id = @id FOR UPDATE;

-- name: ListVenueSettings :many
SELECT id, name, timezone, currency FROM venues ORDER BY id;

-- name: InsertVenue :exec
INSERT INTO venues (id, name, timezone, currency) VALUES (@id, @name, @timezone, @currency);

-- name: UpdateVenueCatalog :exec
UPDATE venues
SET tenders = @tenders, service_charge_min_guests = @service_charge_min_guests,
    service_charge_rate_bps = @service_charge_rate_bps, service_charge_tax_class = @service_charge_tax_class,
    menu_version = @menu_version
WHERE id = @id;

-- name: ListTables :many
SELECT id, label, seats FROM dining_tables WHERE venue_id = @venue_id ORDER BY length(id), id;

-- name: DeleteTable :exec
DELETE FROM dining_tables WHERE venue_id = @venue_id AND id = @id;

-- TablesInUse lists the venue's tables some order names, and whether one
-- of them is open.
-- name: TablesInUse :many
SELECT table_id, bool_or(status = 'open')::boolean AS open
FROM orders WHERE venue_id = @venue_id GROUP BY table_id;

-- OpenLineSKUs lists the SKUs on live lines of the venue's open orders.
-- name: OpenLineSKUs :many
SELECT DISTINCT l.sku
FROM order_lines l JOIN orders o ON o.venue_id = l.venue_id AND o.id = l.order_id
WHERE l.venue_id = @venue_id AND o.status = 'open' AND l.status <> 'voided';

-- name: ListTaxClasses :many
SELECT id, name, rate_bps, inclusive FROM tax_classes WHERE venue_id = @venue_id ORDER BY position;

-- name: UpsertTaxClass :exec
INSERT INTO tax_classes (venue_id, id, position, name, rate_bps, inclusive)
VALUES (@venue_id, @id, @position, @name, @rate_bps, @inclusive)
ON CONFLICT (venue_id, id) DO UPDATE
SET position = EXCLUDED.position, name = EXCLUDED.name, rate_bps = EXCLUDED.rate_bps, inclusive = EXCLUDED.inclusive;

-- name: DeleteTaxClass :exec
DELETE FROM tax_classes WHERE venue_id = @venue_id AND id = @id;

-- name: ListModifierGroups :many
SELECT id, name, min_choices, max_choices, version FROM modifier_groups WHERE venue_id = @venue_id ORDER BY position;

-- name: ListModifierOptions :many
SELECT o.group_id, o.id, o.name, o.price_cents
FROM modifier_options o
WHERE o.venue_id = @venue_id
ORDER BY o.group_id, o.position;

-- name: UpsertModifierGroup :exec
INSERT INTO modifier_groups (venue_id, id, position, name, min_choices, max_choices, version)
VALUES (@venue_id, @id, @position, @name, @min_choices, @max_choices, @version)
ON CONFLICT (venue_id, id) DO UPDATE
SET position = EXCLUDED.position, name = EXCLUDED.name, min_choices = EXCLUDED.min_choices,
    max_choices = EXCLUDED.max_choices, version = EXCLUDED.version;

-- name: DeleteModifierGroup :exec
DELETE FROM modifier_groups WHERE venue_id = @venue_id AND id = @id;

-- name: DeleteModifierOptions :exec
DELETE FROM modifier_options WHERE venue_id = @venue_id AND group_id = @group_id;

-- name: InsertModifierOption :exec
INSERT INTO modifier_options (venue_id, group_id, id, position, name, price_cents)
VALUES (@venue_id, @group_id, @id, @position, @name, @price_cents);

-- ListCatalogItems lists the venue's items in menu order. until_passed:
-- the item was 86'd until a time that has passed (by the database's clock),
-- so it is available again.
-- name: ListCatalogItems :many
SELECT sku, name, category, price_cents, station, coalesce(tax_class, '')::text AS tax_class,
       available, unavailable_until, coalesce(unavailable_until <= now(), false)::boolean AS until_passed,
       remaining, version
FROM menu_items
WHERE venue_id = @venue_id
ORDER BY position;

-- name: ListItemGroups :many
SELECT sku, group_id FROM menu_item_groups WHERE venue_id = @venue_id ORDER BY sku, position;

-- UpsertCatalogItem writes an item's definition; its availability and
-- remaining portions are left as they are (a new item is available and
-- not counted).
-- name: UpsertCatalogItem :exec
INSERT INTO menu_items (venue_id, sku, position, name, category, price_cents, station, tax_class, version)
VALUES (@venue_id, @sku, @position, @name, @category, @price_cents, @station, @tax_class, @version)
ON CONFLICT (venue_id, sku) DO UPDATE
SET position = EXCLUDED.position, name = EXCLUDED.name, category = EXCLUDED.category,
    price_cents = EXCLUDED.price_cents, station = EXCLUDED.station, tax_class = EXCLUDED.tax_class,
    version = EXCLUDED.version;

-- name: DeleteMenuItem :exec
DELETE FROM menu_items WHERE venue_id = @venue_id AND sku = @sku;

-- name: DeleteItemGroups :exec
DELETE FROM menu_item_groups WHERE venue_id = @venue_id AND sku = @sku;

-- name: InsertItemGroup :exec
INSERT INTO menu_item_groups (venue_id, sku, group_id, position) VALUES (@venue_id, @sku, @group_id, @position);

-- SetItemAvailability sets an item's availability and remaining portions,
-- at the menu version given, when they differ from what it has.
-- name: SetItemAvailability :execrows
UPDATE menu_items
SET available = @available, unavailable_until = @unavailable_until, remaining = @remaining, version = @version
WHERE venue_id = @venue_id AND sku = @sku
  AND (available, unavailable_until, remaining) IS DISTINCT FROM (@available, @unavailable_until, @remaining);

-- name: SetMenuVersion :exec
UPDATE venues SET menu_version = @menu_version WHERE id = @id;

-- name: MenuItemExists :one
SELECT EXISTS (SELECT 1 FROM menu_items WHERE venue_id = @venue_id AND sku = @sku);
