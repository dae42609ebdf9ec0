-- +goose Up
-- Kitchen ticket events (created, bumped, recalled) and recorded refused
-- writes carry an Ed25519 signature made with posd's seal key, like order
-- events (docs/AUDIT.md, "Signed ticket events and refused writes"): posd's
-- role can insert these rows, but without the key it cannot make one that
-- verifies, so a forged bump (with its log row) or an invented conflict is
-- detected.
ALTER TABLE kitchen_ticket_events ADD COLUMN signature bytea CHECK (octet_length(signature) = 64);
ALTER TABLE order_conflicts ADD COLUMN signature bytea CHECK (octet_length(signature) = 64);

-- When signing began: rows dated before it may be unsigned (written by an
-- older posd); from then on verify refuses an unsigned row. One row, written
-- here; posd's role may only read it.
CREATE TABLE journal_signed_since (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    at  timestamptz NOT NULL
);
INSERT INTO journal_signed_since (at) VALUES (now());
GRANT SELECT ON journal_signed_since TO posd_app;

-- +goose Down
DROP TABLE journal_signed_since;
ALTER TABLE order_conflicts DROP COLUMN signature;
ALTER TABLE kitchen_ticket_events DROP COLUMN signature;
