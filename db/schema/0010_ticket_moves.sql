-- +goose Up
-- Kitchen tickets follow sent lines that move to another table's order
-- (DESIGN.md section 11: "Sent lines keep their kitchen tickets, and the
-- kitchen sees the new table on them"). A ticket keeps its id, its order
-- and its lines as they were fired; moves lists, oldest first, each move of
-- one of its lines (or of a part of one) from one order to another, as the
-- transfer or merge that made it wrote it in both orders' logs. At most 500
-- moves per ticket. Each append is also a signed 'moved' row in the
-- ticket's log, and audit verify checks the moves against the orders' logs.
ALTER TABLE kitchen_tickets
    ADD COLUMN moves jsonb NOT NULL DEFAULT '[]',
    ADD CONSTRAINT kitchen_tickets_moves CHECK (jsonb_typeof(moves) = 'array' AND jsonb_array_length(moves) <= 500);
GRANT UPDATE (moves) ON kitchen_tickets TO posd_app;
-- A transfer finds the tickets of the lines it moves: by the order that
-- fired them, or by a move that brought them to the order.
CREATE INDEX kitchen_tickets_by_order ON kitchen_tickets (venue_id, order_id);
CREATE INDEX kitchen_tickets_moved_to ON kitchen_tickets USING gin (moves jsonb_path_ops)
    WHERE moves <> '[]';
ALTER TABLE kitchen_ticket_events DROP CONSTRAINT kitchen_ticket_events_action_check,
    ADD CONSTRAINT kitchen_ticket_events_action_check CHECK (action IN ('created', 'bumped', 'recalled', 'moved'));

-- +goose Down
-- Undoing a move would put a cooked line back on a table it left: Down
-- refuses while any ticket has moved.
SELECT set_config('posd.scope', 'system', true);
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM kitchen_tickets WHERE moves <> '[]')
       OR EXISTS (SELECT 1 FROM kitchen_ticket_events WHERE action = 'moved') THEN
        RAISE EXCEPTION 'kitchen tickets have moved with their lines, which the schema before 0010 cannot hold';
    END IF;
END
$$;
-- +goose StatementEnd
ALTER TABLE kitchen_ticket_events DROP CONSTRAINT kitchen_ticket_events_action_check,
    ADD CONSTRAINT kitchen_ticket_events_action_check CHECK (action IN ('created', 'bumped', 'recalled'));
DROP INDEX kitchen_tickets_moved_to;
DROP INDEX kitchen_tickets_by_order;
REVOKE UPDATE (moves) ON kitchen_tickets FROM posd_app;
ALTER TABLE kitchen_tickets DROP CONSTRAINT kitchen_tickets_moves, DROP COLUMN moves;
