-- name: GetDeviceByTokenHash :one
SELECT venue_id, id, name, role, staff
FROM devices
WHERE token_hash = @token_hash AND revoked_at IS NULL;

-- DeviceActive reports whether a device still exists and is not revoked; a
-- long-lived request (the kitchen stream) asks it again while it runs.
-- name: DeviceActive :one
SELECT EXISTS (
    SELECT 1 FROM devices
    WHERE venue_id = @venue_id AND id = @id AND revoked_at IS NULL
);

-- DeviceIsActor reports whether the active device with this token is
-- still the actor a cached principal names (AssertOrderHead's device check,
-- for a write that is refused before it writes).
-- name: DeviceIsActor :one
SELECT EXISTS (
    SELECT 1 FROM devices d
    WHERE d.venue_id = @venue_id AND d.token_hash = @token_hash AND d.revoked_at IS NULL
      AND d.name = @device_name AND d.role = @device_role AND d.staff = @device_staff
);

-- UpsertDevice writes a seeded device under its stable id. It never clears
-- revoked_at: a device an operator revoked stays revoked when seeding runs
-- again.
-- name: UpsertDevice :exec
INSERT INTO devices (venue_id, id, name, role, staff, token_hash)
VALUES (@venue_id, @id, @name, @role, @staff, @token_hash)
ON CONFLICT (venue_id, id) DO UPDATE
SET name = EXCLUDED.name, role = EXCLUDED.role, staff = EXCLUDED.staff, token_hash = EXCLUDED.token_hash;

-- InsertDevice adds a device; an active device of the same name in the venue
-- is a unique violation (devices_active_name), never a replacement.
-- name: InsertDevice :one
INSERT INTO devices (venue_id, id, name, role, staff, token_hash)
VALUES (@venue_id, @id, @name, @role, @staff, @token_hash)
RETURNING created_at;

-- name: ListDevices :many
SELECT id, name, role, staff, created_at, revoked_at
FROM devices
WHERE venue_id = @venue_id
ORDER BY name, created_at, id;

-- RevokeDevice revokes the active device of that name, if there is one.
-- name: RevokeDevice :one
UPDATE devices
SET revoked_at = now()
WHERE venue_id = @venue_id AND name = @name AND revoked_at IS NULL
RETURNING id, name, role, staff, created_at, revoked_at;

-- LatestDeviceNamed is the most recently added device of that name, active
-- or not (to tell "never existed" from "already revoked").
-- name: LatestDeviceNamed :one
SELECT id, name, role, staff, created_at, revoked_at
FROM devices
WHERE venue_id = @venue_id AND name = @name
ORDER BY created_at DESC, id DESC
LIMIT 1;
