-- name: GetDeviceByTokenHash :one
SELECT venue_id, id, name, role, staff
FROM devices
WHERE token_hash = @token_hash AND revoked_at IS NULL;

-- name: UpsertDevice :exec
INSERT INTO devices (venue_id, id, name, role, staff, token_hash)
VALUES (@venue_id, @id, @name, @role, @staff, @token_hash)
ON CONFLICT (venue_id, name) DO UPDATE
SET role = EXCLUDED.role, staff = EXCLUDED.staff, token_hash = EXCLUDED.token_hash, revoked_at = NULL;
