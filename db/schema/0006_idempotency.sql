-- +goose Up
-- Idempotency keys: the stored answer to a POST or PATCH sent with an
-- Idempotency-Key, per device. The record commits in the transaction of the
-- change it answers, so a retry either finds it (and gets the same answer) or
-- finds no change either.
CREATE TABLE idempotency_keys (
    venue_id    text NOT NULL REFERENCES venues (id),
    device_id   uuid NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint bytea NOT NULL CHECK (octet_length(fingerprint) = 32),
    status      integer NOT NULL,
    headers     jsonb NOT NULL,
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (venue_id, device_id, key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- UPDATE only replaces an expired key's record (InsertIdempotency).
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO posd_app;

-- +goose Down
DROP TABLE idempotency_keys;
