-- name: ListMenuItems :many
SELECT sku, name, price_cents, station
FROM menu_items
WHERE venue_id = @venue_id
ORDER BY station, sku;

-- name: ListTablesWithOpenOrder :many
SELECT t.id, t.label, t.seats, o.id AS open_order_id
FROM dining_tables t
LEFT JOIN orders o
       ON o.venue_id = t.venue_id AND o.table_id = t.id AND o.status = 'open'
WHERE t.venue_id = @venue_id
ORDER BY length(t.id), t.id;

-- name: TableExists :one
SELECT EXISTS (SELECT 1 FROM dining_tables WHERE venue_id = @venue_id AND id = @table_id);

-- name: UpsertVenue :exec
INSERT INTO venues (id, name) VALUES (@id, @name)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;

-- name: UpsertTable :exec
INSERT INTO dining_tables (venue_id, id, label, seats) VALUES (@venue_id, @id, @label, @seats)
ON CONFLICT (venue_id, id) DO UPDATE SET label = EXCLUDED.label, seats = EXCLUDED.seats;

-- name: UpsertMenuItem :exec
INSERT INTO menu_items (venue_id, sku, name, price_cents, station)
VALUES (@venue_id, @sku, @name, @price_cents, @station)
ON CONFLICT (venue_id, sku) DO UPDATE
SET name = EXCLUDED.name, price_cents = EXCLUDED.price_cents, station = EXCLUDED.station;
