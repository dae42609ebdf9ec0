-- +goose Up
-- posd's schema, as one baseline. It replaces the thirteen migrations written
-- before posd first shipped (0001_core … 0013_signed_ticket_events) and
-- creates exactly the schema they created: the same tables with their
-- columns in the same order, the same types, defaults, constraint and index
-- names, functions, triggers, privileges and row-level security policies
-- (internal/migrate's TestBaselineMatchesSchema compares the migrated
-- catalog with this directory as sqlc reads it). A database migrated with
-- the old files is at goose version 13 and has this schema already; goose
-- finds nothing to apply to it.
--
-- MIGRATIONS ARE APPEND-ONLY FROM HERE ON. Never edit this file or any
-- migration that has been committed: a database that ran it will never run
-- it again. Change the schema by adding the next file (0002_<what>.sql, with
-- its own goose Up and Down sections), then run `make generate`.
--
-- Sections: roles; venues, tables, menu and devices; orders, lines,
-- payments and the event log; kitchen tickets and the outbox; the journal
-- (hash chain, refused writes, seals, signatures, append-only triggers);
-- idempotency keys; the write guard; row-level security.

-- ---------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------

-- posd_app is the role the server runs as. It owns nothing and is neither
-- superuser nor BYPASSRLS; an operator creates a LOGIN role that is a member of
-- it (posd dev does this itself: role "posd"). deploy/postgres/roles.sql
-- creates it beforehand, so that the migrating owner needs no CREATEROLE.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'posd_app') THEN
        CREATE ROLE posd_app NOLOGIN;
    END IF;
END
$$;
-- +goose StatementEnd

-- ---------------------------------------------------------------------------
-- Venues, their tables, menus and devices
-- ---------------------------------------------------------------------------
-- Every key begins with the venue so the data can later be distributed by
-- venue.

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

-- Bounds that keep one order from stopping kitchen delivery or overflowing a
-- total are enforced by the database as well as by posd's validation
-- (internal/order: MaxPriceCents, MaxQty, MaxLinesPerOrder,
-- MaxPaymentsPerOrder, MaxAmountCents; internal/kitchen: MaxTicketLines).
-- With them the largest possible order total is 500 lines x 99 x 10^8 cents
-- = 4.95 x 10^12 cents, and the largest amount paid 1,000 x 10^8 = 10^11,
-- far below int64's 9.2 x 10^18. The bound constraints are the named ones
-- (*_bound, *_len, *_token, *_per_order); posd maps their names to fields.
CREATE TABLE menu_items (
    venue_id    text NOT NULL REFERENCES venues (id),
    sku         text NOT NULL CHECK (length(sku) BETWEEN 1 AND 64),
    name        text NOT NULL,
    price_cents bigint NOT NULL CHECK (price_cents >= 0),
    station     text NOT NULL CHECK (length(station) BETWEEN 1 AND 32),
    PRIMARY KEY (venue_id, sku),
    CONSTRAINT menu_items_price_bound CHECK (price_cents BETWEEN 0 AND 100000000),
    CONSTRAINT menu_items_name_len CHECK (length(name) BETWEEN 1 AND 120),
    -- A station is one token of a NATS subject (pos.<venue>.kitchen.<station>):
    -- a space or a dot would make every ticket of the station undeliverable.
    CONSTRAINT menu_items_station_token CHECK (station ~ '^[A-Za-z0-9_-]{1,32}$')
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
    PRIMARY KEY (venue_id, id)
);
-- A device name is unique among a venue's active devices only. A revoked
-- device keeps its row, so the record still says when it was added and
-- revoked (events name their device), and its name can go to the replacement
-- ("posd device revoke" then "posd device add" with the same --name).
CREATE UNIQUE INDEX devices_active_name ON devices (venue_id, name) WHERE revoked_at IS NULL;

GRANT SELECT ON venues, dining_tables, menu_items, devices TO posd_app;

-- ---------------------------------------------------------------------------
-- Orders, their lines and payments, and the event log
-- ---------------------------------------------------------------------------

-- last_hash is the hash of the order's newest event (the journal, below).
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
    last_hash    bytea NOT NULL,
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, table_id) REFERENCES dining_tables (venue_id, id),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);

-- One open order per table, enforced by the database: racing opens of one table
-- give one order and a unique violation for the others.
CREATE UNIQUE INDEX orders_one_open_per_table ON orders (venue_id, table_id) WHERE status = 'open';
CREATE INDEX orders_by_venue_opened ON orders (venue_id, opened_at);
CREATE INDEX orders_closed_in ON orders (venue_id, closed_at) WHERE status = 'closed';
CREATE INDEX orders_updated ON orders (venue_id, updated_at);

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
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id),
    CONSTRAINT order_lines_price_bound CHECK (unit_price_cents BETWEEN 0 AND 100000000)
);
CREATE INDEX order_lines_by_order ON order_lines (venue_id, order_id, position);

-- At most 500 lines per order. A CHECK cannot count rows, so a trigger
-- counts the order's lines (one index range of at most 501 rows) and refuses
-- with a check_violation naming the constraint. It runs only for a line at
-- position 500 or more: posd numbers an order's lines 0, 1, 2, ... (a new
-- line takes the highest position plus one), so an order can only pass 500
-- lines through such a line, and an order's ordinary writes pay nothing
-- (counting on every insert cost about half a millisecond per write).
-- +goose StatementBegin
CREATE FUNCTION posd_order_lines_bound() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    SELECT count(*) INTO n FROM order_lines
    WHERE venue_id = NEW.venue_id AND order_id = NEW.order_id;
    IF n > 500 THEN
        RAISE EXCEPTION 'order % of venue % would hold % lines; at most 500', NEW.order_id, NEW.venue_id, n
            USING ERRCODE = 'check_violation', CONSTRAINT = 'order_lines_per_order',
                  TABLE = 'order_lines';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER order_lines_per_order AFTER INSERT ON order_lines
    FOR EACH ROW WHEN (NEW.position >= 500) EXECUTE FUNCTION posd_order_lines_bound();

CREATE TABLE order_payments (
    venue_id     text NOT NULL,
    order_id     uuid NOT NULL,
    position     integer NOT NULL,
    tender       text NOT NULL,
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    tip_cents    bigint NOT NULL CHECK (tip_cents >= 0),
    PRIMARY KEY (venue_id, order_id, position),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id),
    CONSTRAINT order_payments_amount_bound CHECK (amount_cents BETWEEN 1 AND 100000000),
    CONSTRAINT order_payments_tip_bound CHECK (tip_cents BETWEEN 0 AND 100000000),
    CONSTRAINT order_payments_per_order CHECK (position BETWEEN 0 AND 999)
);

-- The event log: version 1 is order.opened, each accepted change the next
-- version. ops holds the operations as applied (server-assigned line ids,
-- prices and stations resolved), so folding the log rebuilds the order without
-- consulting today's menu. ops keeps the exact JSON text posd wrote (json,
-- unlike jsonb, stores it verbatim), because the hash covers those bytes.
-- hash is the event's chain link and signature its Ed25519 signature (the
-- journal, below).
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
    ops                json NOT NULL,
    forced             boolean NOT NULL DEFAULT false,
    overridden_version bigint,
    hash               bytea NOT NULL,
    signature          bytea CHECK (octet_length(signature) = 64),
    PRIMARY KEY (venue_id, order_id, version),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id),
    CHECK (forced = (overridden_version IS NOT NULL)),
    CONSTRAINT order_events_hash_len CHECK (octet_length(hash) = 32)
);
CREATE INDEX order_events_by_venue_time ON order_events (venue_id, at);

-- orders_full is an order with its lines and payments aggregated as JSON, so
-- one statement (one snapshot) reads the whole order. The view applies the
-- row-level security policies of whoever queries it, not of its owner (a
-- superuser owner would bypass them).
CREATE VIEW orders_full WITH (security_invoker = true) AS
SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at, o.last_hash,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::jsonb AS lines,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::jsonb AS payments
FROM orders o;

GRANT SELECT, INSERT, UPDATE ON orders, order_lines, order_payments TO posd_app;
GRANT DELETE ON order_lines TO posd_app;
GRANT SELECT, INSERT ON order_events TO posd_app;
GRANT SELECT ON orders_full TO posd_app;

-- ---------------------------------------------------------------------------
-- Kitchen tickets and the outbox that carries every committed change to NATS
-- ---------------------------------------------------------------------------

-- A ticket is what one station must cook (kind fire) or stop cooking (kind
-- void) for one order. Its lines are a copy taken when it was created. A
-- fire larger than one ticket is split into parts for its station: part of
-- parts, both 1 for a ticket that is whole. Besides its lines the cook sees
-- the order's note (allergies) and guest count when the ticket was made, and
-- on a void ticket the reason and who voided.
CREATE TABLE kitchen_tickets (
    venue_id      text NOT NULL REFERENCES venues (id),
    id            uuid NOT NULL,
    order_id      uuid NOT NULL,
    table_id      text NOT NULL,
    station       text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('fire', 'void')),
    lines         jsonb NOT NULL CHECK (jsonb_typeof(lines) = 'array'),
    status        text NOT NULL CHECK (status IN ('new', 'ready')),
    server        text NOT NULL,
    order_version bigint NOT NULL,
    created_at    timestamptz NOT NULL,
    bumped_at     timestamptz,
    part          integer NOT NULL DEFAULT 1,
    parts         integer NOT NULL DEFAULT 1,
    order_note    text NOT NULL DEFAULT '',
    guests        integer NOT NULL DEFAULT 0,
    reason        text NOT NULL DEFAULT '',
    voided_by     text NOT NULL DEFAULT '',
    PRIMARY KEY (venue_id, id),
    FOREIGN KEY (venue_id, order_id) REFERENCES orders (venue_id, id),
    CONSTRAINT kitchen_tickets_part CHECK (parts BETWEEN 1 AND 500 AND part BETWEEN 1 AND parts)
);
CREATE INDEX kitchen_tickets_rail ON kitchen_tickets (venue_id, station, status, created_at, id);
-- Serves the "recently bumped" list a kitchen screen loads to recall tickets
-- bumped before it.
CREATE INDEX kitchen_tickets_recent_ready ON kitchen_tickets (venue_id, station, bumped_at DESC)
    WHERE status = 'ready';

-- Append-only record of every ticket status change (created, bumped,
-- recalled), signed like order events (the journal, below).
CREATE TABLE kitchen_ticket_events (
    venue_id     text NOT NULL,
    id           uuid NOT NULL,
    ticket_id    uuid NOT NULL,
    action       text NOT NULL CHECK (action IN ('created', 'bumped', 'recalled')),
    at           timestamptz NOT NULL,
    actor_device text NOT NULL,
    actor_staff  text NOT NULL,
    signature    bytea CHECK (octet_length(signature) = 64),
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
-- Pruning deletes published rows older than the retention; this index lets it
-- find them without scanning the whole outbox.
CREATE INDEX outbox_created ON outbox (created_at);

-- Where the relay has got to. One row per relay name.
CREATE TABLE outbox_cursor (
    name       text PRIMARY KEY,
    txid       xid8 NOT NULL,
    id         bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO outbox_cursor (name, txid, id) VALUES ('relay', '0', 0);

-- Dead letters: outbox messages NATS refused for good (larger than its
-- max_payload, an invalid subject, a permanent JetStream error). The relay
-- copies the row here with the error, moves its cursor past it and goes on
-- with the messages after it. An operator lists them and replays one
-- (posd outbox dead-letters, posd outbox replay): a replay puts a copy back
-- into the outbox and stamps replayed_at; no dead letter is ever deleted,
-- so each one stays on record (docs/RELIABILITY.md, "Kitchen delivery
-- bounds").
CREATE TABLE outbox_dead_letters (
    outbox_id     bigint PRIMARY KEY,
    txid          xid8 NOT NULL,
    venue_id      text NOT NULL,
    subject       text NOT NULL,
    msg_id        text NOT NULL,
    msg_type      text NOT NULL,
    order_id      uuid NOT NULL,
    order_version bigint NOT NULL,
    payload       bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    error         text NOT NULL,
    failed_at     timestamptz NOT NULL DEFAULT now(),
    replayed_at   timestamptz
);

-- posd_prune_outbox deletes the outbox rows the named relay has published
-- (at or before its cursor) that were written before "before", and returns
-- how many. It runs with its owner's rights and the search_path of the
-- migration, across venues (posd.scope 'system' for its own statement, set
-- in the body: a function's SET clause may not name a custom parameter
-- unless a superuser creates it). A published row is already in JetStream,
-- so deleting it early loses nothing. The app role cannot DELETE outbox
-- rows itself: a deleted unpublished row is an event that never reaches the
-- kitchen.
-- +goose StatementBegin
CREATE FUNCTION posd_prune_outbox(relay text, before timestamptz) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
DECLARE
    prev text := coalesce(current_setting('posd.scope', true), '');
    n bigint;
BEGIN
    PERFORM set_config('posd.scope', 'system', true);
    WITH d AS (
        DELETE FROM outbox o
        USING outbox_cursor c
        WHERE c.name = relay AND (o.txid, o.id) <= (c.txid, c.id)
          AND o.created_at < before
        RETURNING 1)
    SELECT count(*) INTO n FROM d;
    PERFORM set_config('posd.scope', prev, true);
    RETURN n;
END
$$;
-- +goose StatementEnd
REVOKE EXECUTE ON FUNCTION posd_prune_outbox(text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION posd_prune_outbox(text, timestamptz) TO posd_app;

GRANT SELECT, INSERT ON kitchen_tickets, kitchen_ticket_events TO posd_app;
GRANT UPDATE (status, bumped_at) ON kitchen_tickets TO posd_app;
GRANT SELECT, INSERT ON outbox TO posd_app;
GRANT SELECT, UPDATE ON outbox_cursor TO posd_app;
GRANT SELECT, INSERT ON outbox_dead_letters TO posd_app;
GRANT UPDATE (replayed_at) ON outbox_dead_letters TO posd_app;

-- ---------------------------------------------------------------------------
-- The tamper-evident journal
-- ---------------------------------------------------------------------------
-- Events are chained per order (each event's hash covers the previous
-- one's), venues are sealed periodically over the heads of their orders,
-- every refused stale write is recorded, and the journal tables refuse
-- UPDATE, DELETE and TRUNCATE for every role. Events, ticket events, refused
-- writes and seals carry an Ed25519 signature made with a key posd holds in
-- its configuration and no database role holds, so posd's own database role
-- cannot forge the journal (docs/AUDIT.md, "Threat model"). docs/AUDIT.md
-- describes the encoding so an auditor can check it independently.

-- posd_netstring encodes one field as <byte length>:<bytes>, .
CREATE FUNCTION posd_netstring(s text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT
    RETURN convert_to(octet_length(convert_to(s, 'UTF8'))::text || ':', 'UTF8')
           || convert_to(s, 'UTF8') || '\x2c'::bytea;

-- posd_event_hash is the chain link of one event: SHA-256 of the previous
-- event's hash (32 zero bytes for version 1) followed by the event's fields
-- as netstrings. posd computes the same in Go (internal/audit); this SQL
-- version lets tests check the two agree. It uses no secret, but the app
-- role has no use for it, so it may not call it (this only states intent:
-- the signatures are what the app role cannot compute).
CREATE FUNCTION posd_event_hash(prev bytea, e order_events) RETURNS bytea
    LANGUAGE sql IMMUTABLE
    RETURN sha256(prev
        || posd_netstring('posd.event.v1')
        || posd_netstring(e.venue_id)
        || posd_netstring(e.order_id::text)
        || posd_netstring(e.version::text)
        || posd_netstring(e.id::text)
        || posd_netstring(e.type)
        || posd_netstring(to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
        || posd_netstring(e.actor_device)
        || posd_netstring(e.actor_staff)
        || posd_netstring(e.actor_role)
        || posd_netstring(CASE WHEN e.forced THEN 'true' ELSE 'false' END)
        || posd_netstring(coalesce(e.overridden_version::text, ''))
        || posd_netstring(e.ops::text));
REVOKE EXECUTE ON FUNCTION posd_event_hash(bytea, order_events) FROM PUBLIC;

-- Every refused stale write (409/412), written outside the refused transaction.
CREATE TABLE order_conflicts (
    venue_id         text NOT NULL REFERENCES venues (id),
    id               uuid NOT NULL,
    order_id         uuid NOT NULL,
    table_id         text NOT NULL,
    device           text NOT NULL,
    staff            text NOT NULL,
    role             text NOT NULL,
    expected_version bigint NOT NULL,
    current_version  bigint NOT NULL,
    via              text NOT NULL CHECK (via IN ('expected_version', 'if-match')),
    at               timestamptz NOT NULL,
    signature        bytea CHECK (octet_length(signature) = 64),
    PRIMARY KEY (venue_id, id)
);
CREATE INDEX order_conflicts_by_time ON order_conflicts (venue_id, at);

-- Venue seals: a chain per venue over the heads (order, version, hash) of the
-- orders that changed since the previous seal, so deleting a whole order, or
-- the newest events of one, is detected too.
CREATE TABLE venue_seals (
    venue_id  text NOT NULL REFERENCES venues (id),
    seq       bigint NOT NULL CHECK (seq >= 1),
    sealed_at timestamptz NOT NULL,
    heads     json NOT NULL,
    hash      bytea NOT NULL CHECK (octet_length(hash) = 32),
    signature bytea CHECK (octet_length(signature) = 64),
    PRIMARY KEY (venue_id, seq)
);

-- When signing began: rows dated before it may be unsigned (written by an
-- older posd); from then on verify refuses an unsigned row. One row, written
-- here; posd's role may only read it.
CREATE TABLE journal_signed_since (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    at  timestamptz NOT NULL
);
INSERT INTO journal_signed_since (at) VALUES (now());

-- The journal refuses to change, for every role including the owner. (A
-- superuser can still disable triggers; the hash chain catches that.)
-- +goose StatementBegin
CREATE FUNCTION posd_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER append_only_rows BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON order_events
    FOR EACH STATEMENT EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_rows BEFORE UPDATE OR DELETE ON kitchen_ticket_events
    FOR EACH ROW EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON kitchen_ticket_events
    FOR EACH STATEMENT EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_rows BEFORE UPDATE OR DELETE ON order_conflicts
    FOR EACH ROW EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON order_conflicts
    FOR EACH STATEMENT EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_rows BEFORE UPDATE OR DELETE ON venue_seals
    FOR EACH ROW EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON venue_seals
    FOR EACH STATEMENT EXECUTE FUNCTION posd_append_only();

GRANT SELECT, INSERT ON order_conflicts, venue_seals TO posd_app;
GRANT SELECT ON journal_signed_since TO posd_app;
GRANT EXECUTE ON FUNCTION posd_netstring(text) TO posd_app;

-- ---------------------------------------------------------------------------
-- Idempotency keys
-- ---------------------------------------------------------------------------

-- The stored answer to a POST or PATCH sent with an Idempotency-Key, per
-- device. The record commits in the transaction of the change it answers, so
-- a retry either finds it (and gets the same answer) or finds no change
-- either.
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

-- A stored answer cannot be rewritten or deleted while it can still be
-- replayed (before it expires), by any role short of a superuser turning
-- the trigger off.
-- +goose StatementBegin
CREATE FUNCTION posd_idempotency_guard() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.expires_at > now() THEN
        RAISE EXCEPTION 'idempotency_keys: the stored answer of key % can still be replayed (until %): % refused',
            OLD.key, OLD.expires_at, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER idempotency_guard BEFORE UPDATE OR DELETE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION posd_idempotency_guard();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON idempotency_keys
    FOR EACH STATEMENT EXECUTE FUNCTION posd_append_only();

-- UPDATE only replaces an expired key's record (InsertIdempotency).
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO posd_app;

-- ---------------------------------------------------------------------------
-- The write guard
-- ---------------------------------------------------------------------------

-- posd_assert raises when ok is false. The write path pipelines BEGIN, its
-- statements and COMMIT in one round trip; an assertion right after the
-- versioned UPDATE aborts the transaction when the UPDATE did not happen, so
-- the COMMIT at the end of the pipeline can never keep a stale write.
-- +goose StatementBegin
CREATE FUNCTION posd_assert(ok boolean, msg text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', msg USING ERRCODE = 'P0001';
    END IF;
END
$$;
-- +goose StatementEnd
GRANT EXECUTE ON FUNCTION posd_assert(boolean, text) TO posd_app;

-- ---------------------------------------------------------------------------
-- Row-level security
-- ---------------------------------------------------------------------------
-- Every venue-owned table shows and accepts only the rows of the venue named
-- by the transaction-local setting posd.venue, which posd sets from the
-- request's token. A query that forgets its venue filter then returns
-- nothing rather than another venue's rows. FORCE applies the policy to the
-- tables' owner too (superusers and BYPASSRLS roles are exempt, which is why
-- posd's own role is neither).
--
-- Components that work across venues by design (the outbox relay, the
-- sealer's venue list, token lookup before the venue is known) set
-- posd.scope = 'system' on their own connection or transaction; request
-- handling never sets it. (outbox_cursor and journal_signed_since hold no
-- venue's rows.)

-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['dining_tables', 'menu_items', 'devices', 'orders', 'order_lines',
                             'order_payments', 'order_events', 'kitchen_tickets', 'kitchen_ticket_events',
                             'outbox', 'outbox_dead_letters', 'order_conflicts', 'venue_seals',
                             'idempotency_keys'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY venue_scope ON %I
            USING (venue_id = current_setting('posd.venue', true)
                   OR current_setting('posd.scope', true) = 'system')
            WITH CHECK (venue_id = current_setting('posd.venue', true)
                        OR current_setting('posd.scope', true) = 'system')$p$, t);
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE venues ENABLE ROW LEVEL SECURITY;
ALTER TABLE venues FORCE ROW LEVEL SECURITY;
CREATE POLICY venue_scope ON venues
    USING (id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system')
    WITH CHECK (id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system');

-- +goose Down
-- Drops everything the baseline made except the role posd_app (other
-- databases of the cluster may use it).
DROP VIEW orders_full;
DROP FUNCTION posd_event_hash(bytea, order_events);
DROP TABLE idempotency_keys, journal_signed_since, venue_seals, order_conflicts,
    outbox_dead_letters, outbox_cursor, outbox, kitchen_ticket_events, kitchen_tickets,
    order_events, order_payments, order_lines, orders, devices, menu_items, dining_tables, venues;
DROP FUNCTION posd_assert(boolean, text), posd_idempotency_guard(), posd_append_only(),
    posd_netstring(text), posd_prune_outbox(text, timestamptz), posd_order_lines_bound();
