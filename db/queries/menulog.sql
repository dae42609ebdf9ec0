-- The menu log (db/schema/0005_menu_log.sql): one hash-chained, signed row
-- per change of a venue's menu, appended in the change's transaction while
-- the venue's row is locked (LockVenue), so a venue's rows are numbered
-- and chained one after the other.

-- MenuLogHead is the venue's newest row (no row: the log is empty).
-- name: MenuLogHead :one
SELECT seq, hash FROM menu_log
WHERE venue_id = @venue_id
ORDER BY seq DESC
LIMIT 1;

-- name: InsertMenuLog :exec
INSERT INTO menu_log (venue_id, seq, id, at, actor_device, actor_staff, actor_role, kind, entity_id,
                      before, after, menu_version, hash, signature)
VALUES (@venue_id, @seq, @id, @at, @actor_device, @actor_staff, @actor_role, @kind, @entity_id,
        @before, @after, @menu_version, @hash, sqlc.narg('signature'));

-- NotifyMenuChanged tells every posd listening on @channel that the venue's
-- menu changed; Postgres delivers it when (and only if) the change commits.
-- name: NotifyMenuChanged :exec
SELECT pg_notify(@channel::text, @venue_id::text);

-- VerifyMenuLog pages through a venue's menu log for the verifier, by seq.
-- name: VerifyMenuLog :many
SELECT seq, id, at, actor_device, actor_staff, actor_role, kind, entity_id,
       before::text AS before, after::text AS after, menu_version, hash, signature
FROM menu_log
WHERE venue_id = @venue_id AND seq > @after_seq
ORDER BY seq
LIMIT @page_size;

-- ShiftMenuChanges lists the first menu changes in [from, to), in log
-- order: at most @max_rows, and past the first only while the before and
-- after of those listed stay within @max_bytes together (a catalog row's
-- are whole catalogs). total counts the range's changes, listed or not.
-- name: ShiftMenuChanges :many
WITH first AS (
    SELECT seq, at, actor_device, actor_staff, actor_role, kind, entity_id,
           before::text AS before, after::text AS after, menu_version
    FROM menu_log
    WHERE venue_id = @venue_id AND at >= @from_time AND at < @to_time
    ORDER BY seq
    LIMIT @max_rows
), sized AS (
    SELECT first.*, row_number() OVER w AS n, sum(octet_length(before) + octet_length(after)) OVER w AS bytes
    FROM first
    WINDOW w AS (ORDER BY seq)
)
SELECT seq, at, actor_device, actor_staff, actor_role, kind, entity_id, before, after, menu_version,
       (SELECT count(*) FROM menu_log c
        WHERE c.venue_id = @venue_id AND c.at >= @from_time AND c.at < @to_time)::bigint AS total
FROM sized
WHERE n = 1 OR bytes <= @max_bytes::bigint
ORDER BY seq;
