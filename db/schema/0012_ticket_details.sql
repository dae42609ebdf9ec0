-- +goose Up
-- What the cook needs on a ticket besides its lines: the order's note
-- (allergies) and guest count when the ticket was made, and on a void ticket
-- the reason and who voided. The recent-ready index serves the "recently
-- bumped" list a kitchen screen loads to recall tickets bumped before it.
ALTER TABLE kitchen_tickets
    ADD COLUMN order_note text NOT NULL DEFAULT '',
    ADD COLUMN guests     integer NOT NULL DEFAULT 0,
    ADD COLUMN reason     text NOT NULL DEFAULT '',
    ADD COLUMN voided_by  text NOT NULL DEFAULT '';
CREATE INDEX kitchen_tickets_recent_ready ON kitchen_tickets (venue_id, station, bumped_at DESC)
    WHERE status = 'ready';

-- +goose Down
DROP INDEX kitchen_tickets_recent_ready;
ALTER TABLE kitchen_tickets DROP COLUMN order_note, DROP COLUMN guests, DROP COLUMN reason, DROP COLUMN voided_by;
