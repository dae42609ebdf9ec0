-- +goose Up
-- The journal cannot be forged by posd's own database role (docs/AUDIT.md,
-- "Threat model").
--
-- 1. Seals and events carry an Ed25519 signature made with a key posd holds
--    in its configuration and no database role holds; verify checks it with
--    the public key. (Rows written before this migration have none.)
-- 2. posd_event_hash is a convenience for tests and backfills; the app role
--    has no use for it. (It uses no secret, so this only states intent: the
--    seal signature is what the app role cannot compute.)
-- 3. The app role can no longer DELETE outbox rows: a deleted row is an
--    event that never reaches the kitchen. The relay prunes published rows
--    through posd_prune_outbox, which deletes only rows at or before the
--    relay's cursor and older than the retention it is given.
-- 4. A stored idempotent answer cannot be rewritten or deleted while it can
--    still be replayed (before it expires), by any role short of a
--    superuser turning the trigger off.

ALTER TABLE venue_seals ADD COLUMN signature bytea CHECK (octet_length(signature) = 64);
-- Each event posd writes from now on is signed with the same key, so an
-- event appended with the app role alone is detected at once, sealed or not.
ALTER TABLE order_events ADD COLUMN signature bytea CHECK (octet_length(signature) = 64);

REVOKE EXECUTE ON FUNCTION posd_event_hash(bytea, order_events) FROM posd_app;
REVOKE EXECUTE ON FUNCTION posd_event_hash(bytea, order_events) FROM PUBLIC;

REVOKE DELETE ON outbox FROM posd_app;

-- posd_prune_outbox deletes the outbox rows the named relay has published
-- (at or before its cursor) that were written before "before", and returns
-- how many. It runs with its owner's rights and the search_path of the
-- migration, across venues (posd.scope 'system' for its own statement, set
-- in the body: a function's SET clause may not name a custom parameter
-- unless a superuser creates it). A published row is already in JetStream,
-- so deleting it early loses nothing; an unpublished row cannot be deleted
-- by the app role.
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

-- +goose Down
DROP TRIGGER append_only_truncate ON idempotency_keys;
DROP TRIGGER idempotency_guard ON idempotency_keys;
DROP FUNCTION posd_idempotency_guard();
DROP FUNCTION posd_prune_outbox(text, timestamptz);
GRANT DELETE ON outbox TO posd_app;
GRANT EXECUTE ON FUNCTION posd_event_hash(bytea, order_events) TO PUBLIC, posd_app;
ALTER TABLE order_events DROP COLUMN signature;
ALTER TABLE venue_seals DROP COLUMN signature;
