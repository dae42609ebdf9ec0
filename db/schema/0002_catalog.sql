-- +goose Up
-- The catalog a venue runs on (DESIGN.md section 9, issue 10): a venue's
-- time zone, currency, tenders, automatic service charge and menu version;
-- tax classes; modifier groups and their priced options; and per menu item
-- its category, tax class, modifier groups, availability (86), remaining
-- portions and version. internal/store (catalog.go) writes all of it in one
-- transaction (ApplyCatalog) and internal/order (catalogcheck.go) validates
-- it first; the constraints below are the backstop, named like the
-- baseline's (*_bound, *_len, *_token, *_per_*) so posd maps them to fields.
--
-- Bounds (order.MaxTaxClasses, MaxTenders, MaxModifierGroups,
-- MaxOptionsPerGroup, MaxGroupsPerItem, MaxMenuItems): a list's rows carry
-- their position in the list, the position is bounded by a CHECK and unique
-- per list, so a list can never hold more rows than its bound. The unique
-- positions are deferred to COMMIT, so one transaction can reorder a list.
--
-- Versions: a venue's menu_version counts the changes of its menu; an
-- item's or a modifier group's version is the menu version at which it last
-- changed, so it only grows, even when an item is removed and added again.
-- Rows written before this migration are at version 1.

-- The migration runs as the table owner, to whom row-level security applies
-- too (FORCE): numbering the existing menu items must see every venue.
SELECT set_config('posd.scope', 'system', true);

CREATE TABLE tax_classes (
    venue_id  text NOT NULL REFERENCES venues (id),
    id        text NOT NULL,
    position  integer NOT NULL,
    name      text NOT NULL,
    rate_bps  bigint NOT NULL,
    inclusive boolean NOT NULL DEFAULT false,
    PRIMARY KEY (venue_id, id),
    CONSTRAINT tax_classes_id_token CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    CONSTRAINT tax_classes_name_len CHECK (length(name) BETWEEN 1 AND 120),
    CONSTRAINT tax_classes_rate_bound CHECK (rate_bps BETWEEN 0 AND 10000),
    CONSTRAINT tax_classes_per_venue CHECK (position BETWEEN 0 AND 15),
    CONSTRAINT tax_classes_position UNIQUE (venue_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- A venue's tenders are a list of tokens (add_payment's "tender"); its
-- automatic service charge is off when service_charge_min_guests is 0 (and
-- then has no rate and no tax class). The default tenders are the ones
-- add_payment accepted before venues had their own (order.Tenders).
ALTER TABLE venues
    ADD COLUMN timezone text NOT NULL DEFAULT 'UTC',
    ADD COLUMN currency text NOT NULL DEFAULT 'EUR',
    ADD COLUMN tenders text[] NOT NULL DEFAULT '{card,cash,voucher,other}',
    ADD COLUMN service_charge_min_guests integer NOT NULL DEFAULT 0,
    ADD COLUMN service_charge_rate_bps bigint NOT NULL DEFAULT 0,
    ADD COLUMN service_charge_tax_class text,
    ADD COLUMN menu_version bigint NOT NULL DEFAULT 1,
    ADD CONSTRAINT venues_name_len CHECK (length(name) BETWEEN 1 AND 120),
    -- An IANA zone name's shape (Europe/Paris, America/Argentina/Buenos_Aires,
    -- Etc/GMT+5, UTC); posd checks the name itself against the zone database.
    ADD CONSTRAINT venues_timezone_token CHECK (
        timezone ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$' AND length(timezone) <= 64),
    -- ISO 4217: three capital letters (posd checks the code is one).
    ADD CONSTRAINT venues_currency_token CHECK (currency ~ '^[A-Z]{3}$'),
    ADD CONSTRAINT venues_tenders_bound CHECK (
        cardinality(tenders) BETWEEN 1 AND 16 AND array_position(tenders, NULL) IS NULL),
    ADD CONSTRAINT venues_tenders_token CHECK (
        array_to_string(tenders, ' ') ~ '^[a-z0-9][a-z0-9_-]{0,31}( [a-z0-9][a-z0-9_-]{0,31})*$'),
    ADD CONSTRAINT venues_service_charge_bound CHECK (
        service_charge_min_guests BETWEEN 0 AND 999 AND service_charge_rate_bps BETWEEN 0 AND 10000
        AND (service_charge_min_guests = 0) = (service_charge_tax_class IS NULL)
        AND (service_charge_min_guests > 0 OR service_charge_rate_bps = 0)),
    ADD CONSTRAINT venues_menu_version CHECK (menu_version >= 1),
    ADD CONSTRAINT venues_service_charge_tax_class_fkey FOREIGN KEY (id, service_charge_tax_class)
        REFERENCES tax_classes (venue_id, id);

CREATE TABLE modifier_groups (
    venue_id    text NOT NULL REFERENCES venues (id),
    id          text NOT NULL,
    position    integer NOT NULL,
    name        text NOT NULL,
    min_choices integer NOT NULL,
    max_choices integer NOT NULL,
    version     bigint NOT NULL DEFAULT 1,
    PRIMARY KEY (venue_id, id),
    CONSTRAINT modifier_groups_id_token CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    CONSTRAINT modifier_groups_name_len CHECK (length(name) BETWEEN 1 AND 120),
    CONSTRAINT modifier_groups_choices_bound CHECK (
        min_choices >= 0 AND max_choices BETWEEN 1 AND 30 AND min_choices <= max_choices),
    CONSTRAINT modifier_groups_per_venue CHECK (position BETWEEN 0 AND 99),
    CONSTRAINT modifier_groups_position UNIQUE (venue_id, position) DEFERRABLE INITIALLY DEFERRED,
    CONSTRAINT modifier_groups_version CHECK (version >= 1)
);

CREATE TABLE modifier_options (
    venue_id    text NOT NULL,
    group_id    text NOT NULL,
    id          text NOT NULL,
    position    integer NOT NULL,
    name        text NOT NULL,
    price_cents bigint NOT NULL,
    PRIMARY KEY (venue_id, group_id, id),
    FOREIGN KEY (venue_id, group_id) REFERENCES modifier_groups (venue_id, id) ON DELETE CASCADE,
    CONSTRAINT modifier_options_id_token CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    CONSTRAINT modifier_options_name_len CHECK (length(name) BETWEEN 1 AND 120),
    CONSTRAINT modifier_options_price_bound CHECK (price_cents BETWEEN 0 AND 100000000),
    CONSTRAINT modifier_options_per_group CHECK (position BETWEEN 0 AND 29),
    CONSTRAINT modifier_options_position UNIQUE (venue_id, group_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- available false is an 86'd item, until unavailable_until if that is set
-- (then it is orderable again from that time on). remaining null: portions
-- are not counted; otherwise the portions left, never below zero
-- (invariant 10).
ALTER TABLE menu_items
    ADD COLUMN category text NOT NULL DEFAULT '',
    ADD COLUMN tax_class text,
    ADD COLUMN available boolean NOT NULL DEFAULT true,
    ADD COLUMN unavailable_until timestamptz,
    ADD COLUMN remaining integer,
    ADD COLUMN version bigint NOT NULL DEFAULT 1,
    ADD COLUMN position integer,
    ADD CONSTRAINT menu_items_category_len CHECK (length(category) <= 64),
    ADD CONSTRAINT menu_items_remaining_bound CHECK (remaining BETWEEN 0 AND 1000000),
    ADD CONSTRAINT menu_items_until CHECK (unavailable_until IS NULL OR NOT available),
    ADD CONSTRAINT menu_items_version CHECK (version >= 1),
    ADD CONSTRAINT menu_items_tax_class_fkey FOREIGN KEY (venue_id, tax_class)
        REFERENCES tax_classes (venue_id, id);
-- Existing items keep the order GET /v1/menu listed them in.
UPDATE menu_items m SET position = n.position
FROM (SELECT venue_id, sku, (row_number() OVER (PARTITION BY venue_id ORDER BY station, sku) - 1)::integer AS position
      FROM menu_items) n
WHERE m.venue_id = n.venue_id AND m.sku = n.sku;
ALTER TABLE menu_items
    ALTER COLUMN position SET NOT NULL,
    ADD CONSTRAINT menu_items_per_venue CHECK (position BETWEEN 0 AND 499),
    ADD CONSTRAINT menu_items_position UNIQUE (venue_id, position) DEFERRABLE INITIALLY DEFERRED;

-- The modifier groups an item offers, in display order.
CREATE TABLE menu_item_groups (
    venue_id text NOT NULL,
    sku      text NOT NULL,
    group_id text NOT NULL,
    position integer NOT NULL,
    PRIMARY KEY (venue_id, sku, group_id),
    FOREIGN KEY (venue_id, sku) REFERENCES menu_items (venue_id, sku) ON DELETE CASCADE,
    FOREIGN KEY (venue_id, group_id) REFERENCES modifier_groups (venue_id, id),
    CONSTRAINT menu_item_groups_per_item CHECK (position BETWEEN 0 AND 9),
    CONSTRAINT menu_item_groups_position UNIQUE (venue_id, sku, position) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX menu_item_groups_by_group ON menu_item_groups (venue_id, group_id);

-- posd's role reads the catalog and may change it inside a venue-scoped
-- transaction (the menu writes over HTTP and the availability of items):
-- it may add and change venues' menus, tables, tax classes and groups,
-- replace a group's options and an item's groups, but not delete an item,
-- a group, a tax class or a table, nor create a venue or change its time
-- zone or currency. Those stay with the table owner (posd venue, posd menu
-- import).
GRANT SELECT, INSERT, UPDATE ON tax_classes, modifier_groups, modifier_options, menu_item_groups TO posd_app;
GRANT DELETE ON modifier_options, menu_item_groups TO posd_app;
GRANT INSERT, UPDATE ON menu_items, dining_tables TO posd_app;
GRANT UPDATE (tenders, service_charge_min_guests, service_charge_rate_bps, service_charge_tax_class, menu_version)
    ON venues TO posd_app;

-- Row-level security, with the baseline's policy.
-- +goose StatementBegin
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tax_classes', 'modifier_groups', 'modifier_options', 'menu_item_groups'] LOOP
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

-- +goose Down
DROP TABLE menu_item_groups;
ALTER TABLE menu_items
    DROP COLUMN category, DROP COLUMN tax_class, DROP COLUMN available, DROP COLUMN unavailable_until,
    DROP COLUMN remaining, DROP COLUMN version, DROP COLUMN position;
DROP TABLE modifier_options, modifier_groups;
ALTER TABLE venues
    DROP COLUMN timezone, DROP COLUMN currency, DROP COLUMN tenders, DROP COLUMN service_charge_min_guests,
    DROP COLUMN service_charge_rate_bps, DROP COLUMN service_charge_tax_class, DROP COLUMN menu_version,
    DROP CONSTRAINT venues_name_len;
DROP TABLE tax_classes;
REVOKE INSERT, UPDATE ON menu_items, dining_tables FROM posd_app;
