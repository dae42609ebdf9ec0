-- name: ListTablesWithOpenOrder :many
SELECT t.id, t.label, t.seats, o.id AS open_order_id
FROM dining_tables t
LEFT JOIN orders o
       ON o.venue_id = t.venue_id AND o.table_id = t.id AND o.status = 'open'
WHERE t.venue_id = @venue_id
ORDER BY length(t.id), t.id;

-- name: TableExists :one
SELECT EXISTS (SELECT 1 FROM dining_tables WHERE venue_id = @venue_id AND id = @table_id);

-- UpsertVenue writes a seeded venue; its catalog is ApplyCatalog's.
-- name: UpsertVenue :exec
INSERT INTO venues (id, name, timezone, currency) VALUES (@id, @name, @timezone, @currency)
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, currency = EXCLUDED.currency;

-- name: UpsertTable :exec
INSERT INTO dining_tables (venue_id, id, label, seats) VALUES (@venue_id, @id, @label, @seats)
ON CONFLICT (venue_id, id) DO UPDATE SET label = EXCLUDED.label, seats = EXCLUDED.seats;
