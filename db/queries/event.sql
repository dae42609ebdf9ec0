-- name: InsertEvent :exec
INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff,
                          actor_role, ops, forced, overridden_version, hash, signature)
VALUES (@venue_id, @order_id, @version, @id, @type, @at, @actor_device, @actor_staff,
        @actor_role, @ops, @forced, @overridden_version, @hash, sqlc.narg('signature'));

-- name: ListEvents :many
SELECT venue_id, order_id, version, id, type, at, actor_device, actor_staff, actor_role, ops,
       forced, overridden_version, hash
FROM order_events
WHERE venue_id = @venue_id AND order_id = @order_id
  AND version > @after_version AND version <= @until_version
ORDER BY version;
