-- +goose Up
-- Pruning deletes published rows older than the retention; this index lets it
-- find them without scanning the whole outbox.
CREATE INDEX outbox_created ON outbox (created_at);

-- +goose Down
DROP INDEX outbox_created;
