-- PruneOutbox is the relay's; the store's target lists this file too, for
-- the store's test of what posd's role may do to the outbox.

-- PruneOutbox deletes published rows written before @before. The app role
-- cannot DELETE from the outbox itself (db/schema/0001_baseline.sql).
-- name: PruneOutbox :one
SELECT posd_prune_outbox(@name::text, @before::timestamptz)::bigint AS pruned;
