-- +goose Up
-- The menu log (DESIGN.md section 9, issue 10): every change of a venue's
-- menu — a PUT of an item or a modifier group, an availability change, a
-- posd menu import — is one row, appended in the transaction of the change
-- (internal/store/menulog.go). Rows are numbered per venue (seq 1, 2, ...)
-- and hash-chained per venue: each row's hash covers the previous row's
-- hash and the row's fields (internal/audit MenuHash, docs/AUDIT.md), so
-- posd audit verify detects an edited, deleted or reordered row. The
-- change's menu_version is the venue's menu version after it (it also
-- becomes the changed entity's version). before and after are the entity
-- as JSON (null: it did not exist); json keeps the exact text posd hashed.
--
-- Like order events, rows are signed with posd's seal key (Ed25519): posd's
-- own database role may only append signed rows, and never as the
-- operator. Rows of actor_role 'operator' are written by the table owner
-- (posd menu import), signed when the import is given the seal key.

CREATE TABLE menu_log (
    venue_id     text NOT NULL REFERENCES venues (id),
    seq          bigint NOT NULL CHECK (seq >= 1),
    id           uuid NOT NULL UNIQUE,
    at           timestamptz NOT NULL,
    actor_device text NOT NULL,
    actor_staff  text NOT NULL,
    actor_role   text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('item', 'modifier_group', 'availability', 'catalog')),
    entity_id    text NOT NULL,
    before       json NOT NULL,
    after        json NOT NULL,
    menu_version bigint NOT NULL CHECK (menu_version >= 1),
    hash         bytea NOT NULL,
    signature    bytea,
    PRIMARY KEY (venue_id, seq),
    CONSTRAINT menu_log_hash_len CHECK (octet_length(hash) = 32),
    CONSTRAINT menu_log_signature_len CHECK (octet_length(signature) = 64)
);
CREATE INDEX menu_log_by_time ON menu_log (venue_id, at);

CREATE TRIGGER append_only_rows BEFORE UPDATE OR DELETE ON menu_log
    FOR EACH ROW EXECUTE FUNCTION posd_append_only();
CREATE TRIGGER append_only_truncate BEFORE TRUNCATE ON menu_log
    FOR EACH STATEMENT EXECUTE FUNCTION posd_append_only();

GRANT SELECT, INSERT ON menu_log TO posd_app;

-- Row-level security, with the baseline's policy, and for posd's role a
-- restrictive one on top: it appends only signed rows, never as the
-- operator.
ALTER TABLE menu_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE menu_log FORCE ROW LEVEL SECURITY;
CREATE POLICY venue_scope ON menu_log
    USING (venue_id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system')
    WITH CHECK (venue_id = current_setting('posd.venue', true) OR current_setting('posd.scope', true) = 'system');
CREATE POLICY app_signed ON menu_log AS RESTRICTIVE FOR INSERT TO posd_app
    WITH CHECK (signature IS NOT NULL AND actor_role <> 'operator');

-- +goose Down
DROP TABLE menu_log;
