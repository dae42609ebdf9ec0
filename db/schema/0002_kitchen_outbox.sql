-- +goose Up
-- Kitchen tickets and the outbox that carries every committed change to NATS.

-- A ticket is what one station must cook (kind fire) or stop cooking (kind
-- void) for one order. Its lines are a copy taken when it was created.
CREATE TABLE kitchen_tickets (
    venue_id   text NOT NULL REFERENCES venues (id),
    id         uuid NOT NULL,
    order_id   uuid NOT NULL,
    table_id   text NOT NULL,
    station    text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('fire', 'void')),
    lines      jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
    status     text NOT NULL CHECK (status IN ('new', 'ready')),
    server        text NOT NULL,
    order_version bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    bumped_at     timestamptz,
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id)
);
CREATE INDEX kitchen_tickets_rail ON kitchen_tickets (venue_id, station, status, created_at, id);

-- Append-only record of every ticket status change (created, bumped, recalled).
CREATE TABLE kitchen_ticket_events (
    venue_id     text NOT NULL,
    id           uuid NOT NULL,
    ticket_id    uuid NOT NULL,
    action       text NOT NULL CHECK (action IN ('created', 'bumped', 'recalled')),
    at           timestamptz NOT NULL,
    actor_device text NOT NULL,
    actor_staff  text NOT NULL,
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, ticket_id) REFERENCES kitchen_tickets (venue_id, id)
);
CREATE INDEX kitchen_ticket_events_by_ticket ON kitchen_ticket_events (venue_id, ticket_id, at);

-- The outbox: one row per message to publish, written in the transaction of
-- the change it announces. txid is the writing transaction's id; the relay
-- reads rows in (txid, id) order and only below the oldest transaction still
-- running, so a transaction that commits after a higher id became visible is
-- never skipped.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    txid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    venue_id      text NOT NULL,
    subject       text NOT NULL,
    msg_id        text NOT NULL,
    msg_type      text NOT NULL,
    order_id      uuid NOT NULL,
    order_version bigint NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX outbox_commit_order ON outbox (txid, id);

-- Where the relay has got to. One row per relay name.
CREATE TABLE outbox_cursor (
    name       text PRIMARY KEY,
    txid       xid8 NOT NULL,
    id         bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO outbox_cursor (name, txid, id) VALUES ('relay', '0', 0);

GRANT SELECT, INSERT ON kitchen_tickets, kitchen_ticket_events TO posd_app;
GRANT UPDATE (status, bumped_at) ON kitchen_tickets TO posd_app;
GRANT SELECT, INSERT, DELETE ON outbox TO posd_app;
GRANT SELECT, UPDATE ON outbox_cursor TO posd_app;

-- +goose Down
DROP TABLE outbox_cursor, outbox, kitchen_ticket_events, kitchen_tickets;
