-- +goose Up
-- A device name is unique among a venue's active devices only. A revoked
-- device keeps its row, so the record still says when it was added and
-- revoked (events name their device), and its name can go to the replacement
-- ("posd device revoke" then "posd device add" with the same --name).
ALTER TABLE devices DROP CONSTRAINT devices_venue_id_name_key;
CREATE UNIQUE INDEX devices_active_name ON devices (venue_id, name) WHERE revoked_at IS NULL;

-- +goose Down
DROP INDEX devices_active_name;
ALTER TABLE devices ADD CONSTRAINT devices_venue_id_name_key UNIQUE (venue_id, name);
