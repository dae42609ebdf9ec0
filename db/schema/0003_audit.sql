-- +goose Up
-- The tamper-evident journal. Events are chained per order (each event's hash
-- covers the previous one's), venues are sealed periodically over the heads
-- of their orders, every refused stale write is recorded, and the journal
-- tables refuse UPDATE, DELETE and TRUNCATE for every role. docs/AUDIT.md
-- describes the encoding so an auditor can check it independently.

-- ops keeps the exact JSON text posd wrote (json, unlike jsonb, stores it
-- verbatim), because the hash covers those bytes.
ALTER TABLE order_events ALTER COLUMN ops TYPE json USING ops::json;
ALTER TABLE order_events ADD COLUMN hash bytea;
ALTER TABLE orders ADD COLUMN last_hash bytea;

-- posd_netstring encodes one field as <byte length>:<bytes>, .
CREATE FUNCTION posd_netstring(s text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT
    RETURN convert_to(octet_length(convert_to(s, 'UTF8'))::text || ':', 'UTF8')
           || convert_to(s, 'UTF8') || '\x2c'::bytea;

-- posd_event_hash is the chain link of one event: SHA-256 of the previous
-- event's hash (32 zero bytes for version 1) followed by the event's fields
-- as netstrings. posd computes the same in Go (internal/audit); this SQL
-- version backfills old rows and lets tests check the two agree.
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

-- +goose StatementBegin
DO $$
DECLARE
    e order_events;
    prev bytea;
    cur_order uuid;
BEGIN
    FOR e IN SELECT * FROM order_events ORDER BY venue_id, order_id, version LOOP
        IF cur_order IS DISTINCT FROM e.order_id THEN
            prev := '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea;
            cur_order := e.order_id;
        END IF;
        prev := posd_event_hash(prev, e);
        UPDATE order_events SET hash = prev
         WHERE venue_id = e.venue_id AND order_id = e.order_id AND version = e.version;
        UPDATE orders SET last_hash = prev WHERE venue_id = e.venue_id AND id = e.order_id;
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE order_events ALTER COLUMN hash SET NOT NULL;
ALTER TABLE order_events ADD CONSTRAINT order_events_hash_len CHECK (octet_length(hash) = 32);
ALTER TABLE orders ALTER COLUMN last_hash SET NOT NULL;
CREATE INDEX orders_closed_in ON orders (venue_id, closed_at) WHERE status = 'closed';
CREATE INDEX orders_updated ON orders (venue_id, updated_at);

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
    PRIMARY KEY (venue_id, seq)
);

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
GRANT EXECUTE ON FUNCTION posd_netstring(text), posd_event_hash(bytea, order_events) TO posd_app;

-- +goose Down
DROP TRIGGER append_only_rows ON order_events;
DROP TRIGGER append_only_truncate ON order_events;
DROP TRIGGER append_only_rows ON kitchen_ticket_events;
DROP TRIGGER append_only_truncate ON kitchen_ticket_events;
DROP TABLE venue_seals, order_conflicts;
DROP FUNCTION posd_append_only(), posd_event_hash(bytea, order_events), posd_netstring(text);
DROP INDEX orders_closed_in, orders_updated;
ALTER TABLE orders DROP COLUMN last_hash;
ALTER TABLE order_events DROP COLUMN hash;
ALTER TABLE order_events ALTER COLUMN ops TYPE jsonb USING ops::jsonb;
