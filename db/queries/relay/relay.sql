-- The outbox relay's own queries (internal/outbox/internal/relaydb).

-- OutboxBatch returns the next committed rows after the cursor, in commit-safe
-- order: only transactions older than the oldest one still running are read,
-- because a running transaction with a lower txid may still commit rows that
-- sort before anything newer.
-- name: OutboxBatch :many
SELECT o.id, o.txid::text AS txid, o.venue_id, o.subject, o.msg_id, o.msg_type, o.order_id,
       o.order_version, o.payload, o.created_at
FROM outbox o
WHERE (o.txid, o.id) > ((sqlc.arg(after_txid)::text)::xid8, @after_id::bigint)
  AND o.txid < pg_snapshot_xmin(pg_current_snapshot())
-- Order by the xid8 column itself, not the text copy in the select list.
ORDER BY o.txid, o.id
LIMIT @batch_size;

-- name: GetOutboxCursor :one
SELECT txid::text AS txid, id FROM outbox_cursor WHERE name = @name;

-- SaveOutboxCursor only moves the cursor forward.
-- name: SaveOutboxCursor :execrows
UPDATE outbox_cursor
SET txid = (sqlc.arg(txid)::text)::xid8, id = @id, updated_at = now()
WHERE name = @name AND (txid, id) < ((sqlc.arg(txid)::text)::xid8, @id);

-- RelayLagSeconds is the age of the first row after the cursor in commit
-- order (the oldest unpublished one, give or take transactions still
-- running), 0 when the relay has caught up. One index probe: the cursor is
-- read first, as a bound of the index scan (joined to the outbox, the
-- planner filters every row the cursor has passed).
-- name: RelayLagSeconds :one
SELECT coalesce((
    SELECT extract(epoch FROM clock_timestamp() - o.created_at)
    FROM outbox o
    WHERE (o.txid, o.id) > (SELECT c.txid, c.id FROM outbox_cursor c WHERE c.name = @name)
    ORDER BY o.txid, o.id
    LIMIT 1), 0)::float8 AS lag_seconds;

-- SetAsideOutbox copies outbox rows NATS refused for good into the dead
-- letters with their errors. A row already set aside stays as it was.
-- name: SetAsideOutbox :execrows
INSERT INTO outbox_dead_letters (outbox_id, txid, venue_id, subject, msg_id, msg_type, order_id,
                                 order_version, payload, created_at, error)
SELECT o.id, o.txid, o.venue_id, o.subject, o.msg_id, o.msg_type, o.order_id, o.order_version,
       o.payload, o.created_at, d.error
FROM (SELECT unnest(@ids::bigint[]) AS id, unnest(@errors::text[]) AS error) d
JOIN outbox o ON o.id = d.id
ON CONFLICT (outbox_id) DO NOTHING;

-- CountDeadLetters counts the dead letters not replayed yet.
-- name: CountDeadLetters :one
SELECT count(*) FROM outbox_dead_letters WHERE replayed_at IS NULL;

-- name: ListDeadLetters :many
SELECT outbox_id, venue_id, subject, msg_id, msg_type, order_id, order_version,
       octet_length(payload)::bigint AS bytes, error, created_at, failed_at, replayed_at
FROM outbox_dead_letters
WHERE (sqlc.narg('venue_id')::text IS NULL OR venue_id = sqlc.narg('venue_id'))
  AND (@include_replayed::boolean OR replayed_at IS NULL)
ORDER BY outbox_id
LIMIT @row_limit;

-- ReplayDeadLetter puts a copy of a dead letter back into the outbox, as a
-- new row with the same message id (JetStream drops it if the original did
-- arrive after all), and stamps the dead letter replayed. No row: there is
-- no such dead letter, or it was replayed already.
-- name: ReplayDeadLetter :one
WITH d AS (
    UPDATE outbox_dead_letters SET replayed_at = now()
    WHERE outbox_id = @outbox_id AND replayed_at IS NULL
    RETURNING venue_id, subject, msg_id, msg_type, order_id, order_version, payload
)
INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
SELECT venue_id, subject, msg_id, msg_type, order_id, order_version, payload FROM d
RETURNING id;
