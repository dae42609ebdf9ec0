-- name: InsertConflict :exec
INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role,
                             expected_version, current_version, via, at, signature)
VALUES (@venue_id, @id, @order_id, @table_id, @device, @staff, @role,
        @expected_version, @current_version, @via, @at, sqlc.narg('signature'));

-- ShiftLineActions lists the first ops named @op (void_item or comp_item)
-- of the order.patched events in [from, to): at most @max_rows, by time,
-- order, version and place in the event, each op as the JSON text stored,
-- with the order's table. Postgres decodes the ops (json_array_elements,
-- ->>), so an op written with other spacing or escapes is one too; the
-- caller decodes the listed ones as posd's decoder reads them.
-- name: ShiftLineActions :many
SELECT e.order_id, o.table_id, e.version, e.at, e.actor_staff, op.value::text AS op
FROM order_events e
JOIN orders o ON o.venue_id = e.venue_id AND o.id = e.order_id
CROSS JOIN LATERAL json_array_elements(e.ops) WITH ORDINALITY AS op (value, n)
WHERE e.venue_id = @venue_id AND e.at >= @from_time AND e.at < @to_time
  AND e.type = 'order.patched' AND op.value ->> 'op' = @op::text
ORDER BY e.at, e.order_id, e.version, op.n
LIMIT @max_rows;

-- ShiftLineActionCounts counts the ops named in @ops (void_item, comp_item)
-- of the order.patched events in [from, to) that ShiftLineActions lists,
-- listed or not, per staff member who made them and op.
-- name: ShiftLineActionCounts :many
SELECT e.actor_staff, (op.value ->> 'op')::text AS op, count(*)::bigint AS actions
FROM order_events e
JOIN orders o ON o.venue_id = e.venue_id AND o.id = e.order_id
CROSS JOIN LATERAL json_array_elements(e.ops) AS op (value)
WHERE e.venue_id = @venue_id AND e.at >= @from_time AND e.at < @to_time
  AND e.type = 'order.patched' AND op.value ->> 'op' = ANY(@ops::text[])
GROUP BY e.actor_staff, op.value ->> 'op'
ORDER BY e.actor_staff, op.value ->> 'op';

-- ShiftForcedOverrides lists the first forced writes in [from, to): at most
-- @max_rows, by time, order and version. total counts the range's forced
-- writes, listed or not.
-- name: ShiftForcedOverrides :many
WITH forced AS (
    SELECT e.order_id, o.table_id, e.version, e.overridden_version::bigint AS overridden_version,
           e.actor_staff, e.at
    FROM order_events e
    JOIN orders o ON o.venue_id = e.venue_id AND o.id = e.order_id
    WHERE e.venue_id = @venue_id AND e.forced AND e.at >= @from_time AND e.at < @to_time
)
SELECT forced.*, (SELECT count(*) FROM forced)::bigint AS total
FROM forced
ORDER BY at, order_id, version
LIMIT @max_rows;

-- ShiftConflictsByTable counts the refused writes in [from, to) per table
-- and lists the tables with the most: at most @max_rows, most first, then
-- by table. tables counts the tables with refused writes, listed or not;
-- refused the refused writes of them all.
-- name: ShiftConflictsByTable :many
WITH by_table AS (
    SELECT table_id, count(*)::bigint AS conflicts
    FROM order_conflicts
    WHERE venue_id = @venue_id AND at >= @from_time AND at < @to_time
    GROUP BY table_id
)
SELECT table_id, conflicts,
       (SELECT count(*) FROM by_table)::bigint AS tables,
       (SELECT coalesce(sum(conflicts), 0) FROM by_table)::bigint AS refused
FROM by_table
ORDER BY conflicts DESC, table_id
LIMIT @max_rows;

-- name: VenueExists :one
SELECT EXISTS (SELECT 1 FROM venues WHERE id = @venue_id);

-- VerifyOrdersFull pages through a venue's orders for the verifier.
-- name: VerifyOrdersFull :many
SELECT * FROM orders_full
WHERE venue_id = @venue_id AND id > @after_order::uuid
ORDER BY id
LIMIT @page_size;

-- name: VerifyOrderEvents :many
SELECT version, id, type, at, actor_device, actor_staff, actor_role, ops::text AS ops,
       forced, overridden_version, hash, signature
FROM order_events
WHERE venue_id = @venue_id AND order_id = @order_id
ORDER BY version;

-- OrphanEvents finds events whose order row is gone.
-- name: OrphanEvents :many
SELECT DISTINCT e.order_id, max(e.version)::bigint AS version
FROM order_events e
WHERE e.venue_id = @venue_id
  AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.venue_id = e.venue_id AND o.id = e.order_id)
GROUP BY e.order_id
ORDER BY e.order_id
LIMIT 1;

-- name: ListSeals :many
SELECT seq, sealed_at, heads::text AS heads, hash, signature
FROM venue_seals
WHERE venue_id = @venue_id
ORDER BY seq;

-- name: LastSeal :one
SELECT seq, sealed_at, hash, signature FROM venue_seals
WHERE venue_id = @venue_id
ORDER BY seq DESC
LIMIT 1;

-- name: InsertSeal :exec
INSERT INTO venue_seals (venue_id, seq, sealed_at, heads, hash, signature)
VALUES (@venue_id, @seq, @sealed_at, @heads, @hash, @signature);

-- OrderHeadsSince lists the heads of orders that changed at or after since.
-- name: OrderHeadsSince :many
SELECT id, version, last_hash
FROM orders
WHERE venue_id = @venue_id AND updated_at >= @since
ORDER BY id;

-- name: ListVenues :many
SELECT id FROM venues ORDER BY id;

-- name: SQLEventHash :one
SELECT posd_event_hash(@prev::bytea, e) AS hash
FROM order_events e
WHERE e.venue_id = @venue_id AND e.order_id = @order_id AND e.version = @version;

-- VerifyOrderTickets lists the kitchen tickets of a page of orders for the
-- verifier, with the actions their log records.
-- name: VerifyOrderTickets :many
SELECT t.id, t.order_id, t.table_id, t.station, t.kind, t.lines::text AS lines, t.status, t.server,
       t.order_version, t.created_at, t.bumped_at, t.moves::text AS moves,
       coalesce((SELECT array_agg(te.action ORDER BY te.at, te.id)
                 FROM kitchen_ticket_events te
                 WHERE te.venue_id = t.venue_id AND te.ticket_id = t.id), '{}')::text[] AS actions
FROM kitchen_tickets t
WHERE t.venue_id = @venue_id AND t.order_id = ANY(@order_ids::uuid[])
ORDER BY t.order_id, t.order_version, t.id;

-- VerifyMovedTickets is a page of a venue's kitchen tickets that moved
-- with their lines, for checking the moves against the orders' logs.
-- name: VerifyMovedTickets :many
SELECT id, order_id, table_id, order_version, lines::text AS lines, moves::text AS moves
FROM kitchen_tickets
WHERE venue_id = @venue_id AND moves <> '[]' AND id > @after_id
ORDER BY id
LIMIT @page_size;

-- VerifyConflicts finds a recorded refused write that cannot be true: its
-- order does not exist, or it names a current version the order never
-- reached or an expected version equal to it.
-- name: VerifyConflicts :many
SELECT c.id, c.order_id, c.expected_version, c.current_version
FROM order_conflicts c
LEFT JOIN orders o ON o.venue_id = c.venue_id AND o.id = c.order_id
WHERE c.venue_id = @venue_id
  AND (o.id IS NULL OR c.current_version < 1 OR c.current_version > o.version
       OR c.expected_version = c.current_version OR c.expected_version < 0)
ORDER BY c.at, c.id
LIMIT 1;

-- VerifyDevices lists who may appear as an event's actor: every device the
-- venue has had (revoked ones too: their old events stay valid). posd's role
-- cannot insert devices.
-- name: VerifyDevices :many
SELECT name, role, staff FROM devices WHERE venue_id = @venue_id;

-- JournalSignedSince is when posd began signing ticket events and refused
-- writes (the row the baseline migration writes): rows dated before it may be
-- unsigned.
-- name: JournalSignedSince :one
SELECT at FROM journal_signed_since;

-- VerifyTicketEventsPage is a page of a venue's kitchen ticket events, with
-- the order (and version) of their ticket, for checking signatures.
-- name: VerifyTicketEventsPage :many
SELECT te.id, te.ticket_id, te.action, te.at, te.actor_device, te.actor_staff, te.signature,
       t.order_id, t.order_version
FROM kitchen_ticket_events te
JOIN kitchen_tickets t ON t.venue_id = te.venue_id AND t.id = te.ticket_id
WHERE te.venue_id = @venue_id AND te.id > @after_id
ORDER BY te.id
LIMIT @page_size;

-- VerifyConflictsPage is a page of a venue's recorded refused writes, for
-- checking signatures.
-- name: VerifyConflictsPage :many
SELECT id, order_id, table_id, device, staff, role, expected_version, current_version, via, at, signature
FROM order_conflicts
WHERE venue_id = @venue_id AND id > @after_id
ORDER BY id
LIMIT @page_size;

-- VerifyOutboxOrphans finds outbox rows (published or not) whose message
-- id names no event or ticket event of their order, nor a menu log row (a
-- menu message carries the row's id as its order id and the menu version
-- as its version): messages the log does not hold.
-- name: VerifyOutboxOrphans :many
WITH o AS MATERIALIZED (
    SELECT id, msg_id, msg_type, order_id, order_version,
           CASE WHEN msg_id ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                THEN msg_id::uuid END AS mid
    FROM outbox WHERE venue_id = @venue_id)
SELECT o.id, o.msg_id, o.msg_type, o.order_id, o.order_version
FROM o
WHERE NOT EXISTS (SELECT 1 FROM order_events e
                  WHERE e.venue_id = @venue_id AND e.order_id = o.order_id AND e.version = o.order_version
                    AND e.id = o.mid)
  AND NOT EXISTS (SELECT 1 FROM kitchen_ticket_events te
                  JOIN kitchen_tickets t ON t.venue_id = te.venue_id AND t.id = te.ticket_id
                  WHERE te.venue_id = @venue_id AND te.id = o.mid AND t.order_id = o.order_id)
  AND NOT EXISTS (SELECT 1 FROM menu_log m
                  WHERE m.venue_id = @venue_id AND m.id = o.mid AND m.id = o.order_id
                    AND m.menu_version = o.order_version)
ORDER BY o.id
LIMIT 1;

-- VerifyPendingOutbox lists, per order of the venue, the newest order
-- version with an outbox row the relay has not passed yet (in flight: not
-- on JetStream yet, rightly). Without a cursor every row is pending.
-- name: VerifyPendingOutbox :many
SELECT o.order_id, max(o.order_version)::bigint AS order_version
FROM outbox o
LEFT JOIN outbox_cursor c ON c.name = @relay::text
WHERE o.venue_id = @venue_id AND (c.name IS NULL OR (o.txid, o.id) > (c.txid, c.id))
GROUP BY o.order_id;

-- TrySealLock takes the advisory lock that lets one process seal at a time,
-- for the rest of the transaction, if no other holds it.
-- name: TrySealLock :one
SELECT pg_try_advisory_xact_lock(@key::bigint) AS locked;

-- ShiftClosedOrders pages through the orders closed in [from, to), by id,
-- with everything pricing reads (the report prices each one).
-- name: ShiftClosedOrders :many
SELECT f.* FROM orders_full f
WHERE f.venue_id = @venue_id AND f.status = 'closed'
  AND f.closed_at >= @from_time::timestamptz AND f.closed_at < @to_time::timestamptz
  AND f.id > @after_order::uuid
ORDER BY f.id
LIMIT @page_size;

-- ReadSource is where a read off the primary runs, taken as the first
-- statement of its snapshot: whether the server is a standby, whether its
-- WAL receiver is running (streaming from a primary), whether it has
-- replayed a transaction since it started and, if so, that transaction's
-- commit time and its age (else now and 0), and whether it has replayed all
-- the WAL it has received. On a primary: false, false, false, now, 0,
-- false.
-- name: ReadSource :one
SELECT pg_is_in_recovery()::boolean AS standby,
       ((pg_stat_get_wal_receiver()).pid IS NOT NULL)::boolean AS streaming,
       (pg_last_xact_replay_timestamp() IS NOT NULL)::boolean AS replayed_any,
       coalesce(pg_last_xact_replay_timestamp(), clock_timestamp())::timestamptz AS replayed_at,
       coalesce(extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()), 0)::float8 AS replay_age_seconds,
       coalesce(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), false)::boolean AS replayed_all;
