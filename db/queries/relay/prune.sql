-- PruneOutbox is the relay's; the store's target lists this file too while
-- internal/audit's tests still call it through internal/dbsqlc.

-- PruneOutbox deletes published rows written before @before. The app role
-- cannot DELETE from the outbox itself (db/schema/0001_baseline.sql).
-- name: PruneOutbox :one
SELECT posd_prune_outbox(@name::text, @before::timestamptz)::bigint AS pruned;
