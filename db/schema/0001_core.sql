-- +goose Up
-- The core of posd: venues, their tables, menus and devices; orders with their
-- lines and payments; and the append-only event log, one row per accepted change.
-- Every key begins with the venue so the data can later be distributed by venue.

-- posd_app is the role the server runs as. It owns nothing and is neither
-- superuser nor BYPASSRLS; an operator creates a LOGIN role that is a member of
-- it (posd dev does this itself: role "posd").
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'posd_app') THEN
        CREATE ROLE posd_app NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

CREATE TABLE venues (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE dining_tables (
    venue_id text NOT NULL REFERENCES venues (id),
    id       text NOT NULL CHECK (length(id) BETWEEN 1 AND 32),
    label    text NOT NULL,
    seats    integer NOT NULL CHECK (seats > 0),
    PRIMARY KEY (venue_id, id)
);

CREATE TABLE menu_items (
    venue_id    text NOT NULL REFERENCES venues (id),
    sku         text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    station     text NOT NULL CHECK (length(station) BETWEEN 1 AND 32),
    PRIMARY KEY (venue_id, sku)
);

-- A device is a handheld, a kitchen screen or a back-office login. Its bearer
-- token is stored only as a SHA-256 digest.
CREATE TABLE devices (
    venue_id   text NOT NULL REFERENCES venues (id),
    id         uuid NOT NULL,
    name       text NOT NULL,
    role       text NOT NULL CHECK (role IN ('waiter', 'manager', 'kitchen', 'auditor')),
    staff      text NOT NULL,
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    PRIMARY KEY (venue_id, id),
    UNIQUE (venue_id, name)
);

CREATE TABLE orders (
    venue_id     text NOT NULL REFERENCES venues (id),
    id           uuid NOT NULL,
    table_id     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'closed')),
    guests       integer NOT NULL CHECK (guests BETWEEN 1 AND 999),
    note         text NOT NULL DEFAULT '',
    version      bigint NOT NULL CHECK (version >= 1),
    server_staff text NOT NULL,
    opened_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    closed_at    timestamptz,
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, table_id) REFERENCES dining_tables (venue_id, id),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- One open order per table, enforced by the database: racing opens of one table
-- give one order and a unique violation for the others.
CREATE UNIQUE INDEX orders_one_open_per_table ON orders (venue_id, table_id) WHERE status = 'open';
CREATE INDEX orders_by_venue_opened ON orders (venue_id, opened_at);

CREATE TABLE order_lines (
    venue_id         text NOT NULL,
    order_id         uuid NOT NULL,
    id               uuid NOT NULL,
    position         integer NOT NULL,
    sku              text NOT NULL,
    name             text NOT NULL,
    qty              integer NOT NULL CHECK (qty BETWEEN 1 AND 99),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    seat             integer NOT NULL CHECK (seat >= 0),
    course           integer NOT NULL CHECK (course >= 1),
    modifiers        jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(modifiers) = 'array'),
    note             text NOT NULL DEFAULT '',
    station          text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'voided')),
    comped           boolean NOT NULL DEFAULT false,
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id)
);
CREATE INDEX order_lines_by_order ON order_lines (venue_id, order_id, position);

CREATE TABLE order_payments (
    venue_id     text NOT NULL,
    order_id     uuid NOT NULL,
    position     integer NOT NULL,
    tender       text NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    tip_cents    bigint NOT NULL CHECK (tip_cents >= 0),
    PRIMARY KEY (venue_id, order_id, position),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id)
);

-- The event log: version 1 is order.opened, each accepted change the next
-- version. ops holds the operations as applied (server-assigned line ids,
-- prices and stations resolved), so folding the log rebuilds the order without
-- consulting today's menu.
CREATE TABLE order_events (
    venue_id           text NOT NULL,
    order_id           uuid NOT NULL,
    version            bigint NOT NULL CHECK (version >= 1),
    id                 uuid NOT NULL UNIQUE,
    type               text NOT NULL CHECK (type IN ('order.opened', 'order.patched')),
    at                 timestamptz NOT NULL,
    actor_device       text NOT NULL,
    actor_staff        text NOT NULL,
    actor_role         text NOT NULL,
    ops                jsonb NOT NULL,
    forced             boolean NOT NULL DEFAULT false,
    overridden_version bigint,
    PRIMARY KEY (venue_id, order_id, version),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id),
    CHECK (forced = (overridden_version IS NOT NULL))
);
CREATE INDEX order_events_by_venue_time ON order_events (venue_id, at);

GRANT SELECT ON venues, dining_tables, menu_items, devices TO posd_app;
GRANT SELECT, INSERT, UPDATE ON orders, order_lines, order_payments TO posd_app;
GRANT DELETE ON order_lines TO posd_app;
GRANT SELECT, INSERT ON order_events TO posd_app;

-- +goose Down
DROP TABLE order_events, order_payments, order_lines, orders, devices, menu_items, dining_tables, venues;
