-- name: InsertTickets :exec
INSERT INTO kitchen_tickets (venue_id, id, order_id, table_id, station, kind, lines, status, server,
                             order_version, created_at, part, parts, order_note, guests, reason, voided_by)
SELECT @venue_id, unnest(@ids::uuid[]), @order_id, @table_id, unnest(@stations::text[]),
       unnest(@kinds::text[]), unnest(@lines::jsonb[]), 'new', @server, @order_version, @created_at,
       unnest(@part_nums::int[]), unnest(@part_counts::int[]),
       @order_note, @guests, unnest(@reasons::text[]), unnest(@voided_by::text[]);

-- name: InsertTicketEvents :exec
INSERT INTO kitchen_ticket_events (venue_id, id, ticket_id, action, at, actor_device, actor_staff, signature)
SELECT @venue_id, unnest(@ids::uuid[]), unnest(@ticket_ids::uuid[]), unnest(@actions::text[]),
       @at, @actor_device, @actor_staff, unnest(@signatures::bytea[]);

-- name: ListOpenTickets :many
SELECT venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at, bumped_at,
       part, parts, order_note, guests, reason, voided_by, moves
FROM kitchen_tickets
WHERE venue_id = @venue_id AND station = @station AND status = 'new'
ORDER BY created_at, id
LIMIT @max_tickets;

-- ListRecentReady is a station's most recently bumped tickets, newest first.
-- name: ListRecentReady :many
SELECT venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at, bumped_at,
       part, parts, order_note, guests, reason, voided_by, moves
FROM kitchen_tickets
WHERE venue_id = @venue_id AND station = @station AND status = 'ready' AND bumped_at > @since
ORDER BY bumped_at DESC
LIMIT @max_tickets;

-- name: GetTicket :one
SELECT venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at, bumped_at,
       part, parts, order_note, guests, reason, voided_by, moves
FROM kitchen_tickets
WHERE venue_id = @venue_id AND id = @id;

-- SetTicketStatus is the conditional update behind bump and recall: it only
-- moves a ticket that is in the expected status.
-- name: SetTicketStatus :one
UPDATE kitchen_tickets
SET status = @new_status, bumped_at = sqlc.narg('bumped_at')
WHERE venue_id = @venue_id AND id = @id AND status = @from_status
RETURNING venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at, bumped_at,
       part, parts, order_note, guests, reason, voided_by, moves;

-- ListLineTickets lists the fire tickets that may hold lines of an order:
-- those the order fired with one of the lines, and those a move brought to
-- the order (kitchen.Ticket.Pieces says which line each holds now).
-- name: ListLineTickets :many
SELECT venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at, bumped_at,
       part, parts, order_note, guests, reason, voided_by, moves
FROM kitchen_tickets t
WHERE t.venue_id = @venue_id AND t.kind = 'fire'
  AND ((t.order_id = @order_id AND EXISTS (
           SELECT 1 FROM jsonb_array_elements(t.lines) l WHERE (l->>'line_id')::uuid = ANY(@line_ids::uuid[])))
       OR (t.moves <> '[]' AND t.moves @> jsonb_build_array(jsonb_build_object('to_order', @order_id::text))))
ORDER BY t.id;

-- AppendTicketMoves appends moves to a ticket's (under its row lock, so
-- concurrent moves of its other lines all stay) and returns the ticket.
-- name: AppendTicketMoves :one
UPDATE kitchen_tickets
SET moves = moves || @moves::jsonb
WHERE venue_id = @venue_id AND id = @id
RETURNING venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at, bumped_at,
       part, parts, order_note, guests, reason, voided_by, moves;

-- name: ListStations :many
SELECT DISTINCT station FROM menu_items WHERE venue_id = @venue_id ORDER BY station;
