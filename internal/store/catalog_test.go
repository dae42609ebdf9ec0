package store_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// demoCatalog is the demo venue's catalog as seeded (a deep copy, so a test
// may change it).
func demoCatalog() order.Catalog {
	c := seed.DemoCatalog(30)
	c.TaxClasses = append([]order.TaxClass{}, c.TaxClasses...)
	c.Tenders = append([]string{}, c.Tenders...)
	groups := make([]order.ModifierGroup, len(c.ModifierGroups))
	for i, g := range c.ModifierGroups {
		g.Options = append([]order.ModifierOption{}, g.Options...)
		groups[i] = g
	}
	c.ModifierGroups = groups
	c.Items = append([]order.MenuItem{}, c.Items...)
	c.Tables = append([]order.Table{}, c.Tables...)
	return c
}

// catalogState is everything of the venue's catalog, running state and
// versions included, to compare before and after.
func catalogState(t *testing.T, db store.Conn, venue string) store.VenueCatalog {
	t.Helper()
	vc, err := store.ReadCatalog(context.Background(), db, venue)
	require.NoError(t, err)
	return vc
}

func item(t *testing.T, vc store.VenueCatalog, sku string) order.MenuItem {
	t.Helper()
	for _, it := range vc.Catalog.Items {
		if it.SKU == sku {
			return it
		}
	}
	t.Fatalf("no item %q", sku)
	return order.MenuItem{}
}

// TestDemoCatalog: the demo venue reads back as seeded, with the 86'd and
// the counted item.
func TestDemoCatalog(t *testing.T) {
	db := pgtest.NewDB(t)
	vc := catalogState(t, db.Pool, "demo")
	require.Equal(t, order.Venue{ID: "demo", Name: "Demo Bistro", TimeZone: "Europe/Paris", Currency: "EUR"}, vc.Venue)
	want := seed.DemoCatalog(30)
	require.Equal(t, want.Tables, vc.Catalog.Tables)
	require.Equal(t, want.TaxClasses, vc.Catalog.TaxClasses)
	require.Equal(t, want.ServiceCharge, vc.Catalog.ServiceCharge)
	require.Equal(t, want.Tenders, vc.Catalog.Tenders)
	require.Len(t, vc.Catalog.ModifierGroups, len(want.ModifierGroups))
	for i, g := range vc.Catalog.ModifierGroups {
		require.Equal(t, want.ModifierGroups[i].Options, g.Options)
		require.Equal(t, want.ModifierGroups[i].Min, g.Min)
	}
	require.Len(t, vc.Catalog.Items, len(want.Items))
	for i, it := range vc.Catalog.Items {
		w := want.Items[i]
		require.Equal(t, w.SKU, it.SKU, "menu order is the catalog's")
		require.Equal(t, []any{w.Name, w.Category, w.PriceCents, w.Station, w.TaxClass}, []any{it.Name, it.Category, it.PriceCents, it.Station, it.TaxClass})
		require.Equal(t, len(w.ModifierGroups), len(it.ModifierGroups))
		require.NotNil(t, it.ModifierGroups)
		require.LessOrEqual(t, it.Version, vc.MenuVersion)
		require.Equal(t, it.SKU != seed.Demo86d, it.Available, it.SKU)
		require.Equal(t, it.SKU == seed.DemoCounted, it.Remaining != nil, it.SKU)
	}
	require.Equal(t, []string{"sides"}, item(t, vc, "steak").ModifierGroups)
	require.Equal(t, []string{"temp", "sides"}, item(t, vc, seed.DemoRequiredOptions).ModifierGroups)
	require.Equal(t, seed.DemoCountedPortions, *item(t, vc, seed.DemoCounted).Remaining)

	// An unknown venue.
	_, err := store.ReadCatalog(context.Background(), db.Pool, "nowhere")
	require.ErrorIs(t, err, store.ErrUnknownVenue)
	_, err = store.ApplyCatalog(context.Background(), db.Admin, "nowhere", demoCatalog(), testOperator)
	require.ErrorIs(t, err, store.ErrUnknownVenue)
}

// TestApplyCatalogIdempotent: applying the catalog a venue has (the demo
// seed's, again; then a changed one twice) changes nothing the second time:
// no change reported, no version bumped, running state kept.
func TestApplyCatalogIdempotent(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	before := catalogState(t, db.Pool, "demo")
	ch, err := store.ApplyCatalog(ctx, db.Admin, "demo", demoCatalog(), testOperator)
	require.NoError(t, err)
	require.False(t, ch.Changed(), "%+v", ch.Changes)
	require.Equal(t, before.MenuVersion, ch.MenuVersion)
	require.Equal(t, before, catalogState(t, db.Pool, "demo"))

	// Seeding again is the same.
	conn, err := pgx.Connect(ctx, db.AdminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	require.NoError(t, seed.Demo(ctx, conn))
	require.Equal(t, before, catalogState(t, db.Pool, "demo"))

	c := demoCatalog()
	c.Items[1].PriceCents = 1650
	first, err := store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	require.True(t, first.Changed())
	after := catalogState(t, db.Pool, "demo")
	again, err := store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	require.False(t, again.Changed(), "%+v", again.Changes)
	require.Equal(t, after.MenuVersion, again.MenuVersion)
	require.Equal(t, after, catalogState(t, db.Pool, "demo"))
}

// TestApplyCatalogChanges: a change bumps the menu version by one and gives
// the changed entities that version; unchanged ones keep theirs; a move
// changes the menu version only; removals remove; the running state of
// kept items survives; a dry run writes nothing.
func TestApplyCatalogChanges(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	v0 := catalogState(t, db.Pool, "demo")
	demo2 := catalogState(t, db.Pool, "demo2")

	c := demoCatalog()
	c.Items[1].PriceCents = 1650                    // burger
	c.ModifierGroups[1].Options[0].PriceCents = 500 // truffle fries
	c.TaxClasses[1].RateBps = 2100                  // drinks
	c.Tenders = append(c.Tenders, "gift")           // venue
	c.Tables[0].Seats = 6                           // T1
	c.Items = append(c.Items, order.MenuItem{SKU: "soup", Name: "Onion soup", Category: "starters",
		PriceCents: 900, Station: "cold", TaxClass: "food"})
	c.Items = append(c.Items[:2], c.Items[3:]...) // salmon goes

	plan, err := store.PlanCatalog(ctx, db.Admin, "demo", c)
	require.NoError(t, err)
	require.Equal(t, v0, catalogState(t, db.Pool, "demo"), "a dry run writes nothing")

	ch, err := store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	require.Equal(t, plan, ch, "the dry run says what applying does")
	require.Equal(t, v0.MenuVersion+1, ch.MenuVersion)
	got := map[string]store.CatalogChange{}
	for _, x := range ch.Changes {
		got[x.Kind+":"+x.ID] = x
	}
	require.Equal(t, []string{"price_cents"}, got["item:burger"].Fields)
	require.Equal(t, store.ActionAdd, got["item:soup"].Action)
	require.Equal(t, store.ActionRemove, got["item:salmon"].Action)
	require.Equal(t, []string{"options"}, got["modifier_group:sides"].Fields)
	require.Equal(t, []string{"rate_bps"}, got["tax_class:drinks"].Fields)
	require.Equal(t, []string{"tenders"}, got["venue:demo"].Fields)
	require.Equal(t, []string{"seats"}, got["table:T1"].Fields)
	// Items after salmon moved up one: a move, not a new version.
	require.Equal(t, []string{"position"}, got["item:chicken"].Fields)
	require.NotContains(t, got, "item:steak")
	require.NotContains(t, got, "modifier_group:temp")

	v1 := catalogState(t, db.Pool, "demo")
	require.Equal(t, ch.MenuVersion, v1.MenuVersion)
	require.Equal(t, v1.MenuVersion, item(t, v1, "burger").Version)
	require.Equal(t, v1.MenuVersion, item(t, v1, "soup").Version)
	require.Equal(t, item(t, v0, "steak").Version, item(t, v1, "steak").Version)
	require.Equal(t, item(t, v0, "chicken").Version, item(t, v1, "chicken").Version)
	require.Equal(t, v1.MenuVersion, v1.Catalog.ModifierGroups[1].Version)
	require.Equal(t, v0.Catalog.ModifierGroups[0].Version, v1.Catalog.ModifierGroups[0].Version)
	require.Equal(t, 6, v1.Catalog.Tables[0].Seats)
	require.Equal(t, c.Tenders, v1.Catalog.Tenders)
	require.False(t, item(t, v1, seed.Demo86d).Available, "availability is running state: kept")
	require.Equal(t, seed.DemoCountedPortions, *item(t, v1, seed.DemoCounted).Remaining)
	soup := item(t, v1, "soup")
	require.True(t, soup.Available)
	require.Nil(t, soup.Remaining)
	require.EqualValues(t, 0, db.Count(t, "SELECT count(*) FROM menu_items WHERE venue_id = 'demo' AND sku = 'salmon'"))
	require.Equal(t, demo2, catalogState(t, db.Pool, "demo2"), "another venue is untouched")

	// A table-only change leaves the menu version alone.
	c.Tables[1].Label = "Window"
	ch, err = store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	require.Equal(t, []store.CatalogChange{{Kind: store.KindTable, ID: "T2", Action: store.ActionUpdate, Fields: []string{"label"}}}, ch.Changes)
	require.Equal(t, v1.MenuVersion, ch.MenuVersion)

	// Removing an item and adding it back: its version never goes back.
	c.Items = c.Items[1:] // steak goes
	_, err = store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	c.Items = append([]order.MenuItem{seed.DemoMenu[0]}, c.Items...)
	ch, err = store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	v3 := catalogState(t, db.Pool, "demo")
	require.Equal(t, v1.MenuVersion+2, v3.MenuVersion)
	require.Equal(t, v3.MenuVersion, item(t, v3, "steak").Version)
	require.Greater(t, item(t, v3, "steak").Version, item(t, v1, "steak").Version)

	// A group, a tax class and a service charge removed; items follow.
	c.ServiceCharge = nil
	c.ModifierGroups = c.ModifierGroups[:1]
	for i := range c.Items {
		c.Items[i].TaxClass = "food"
		c.Items[i].ModifierGroups = slices.DeleteFunc(slices.Clone(c.Items[i].ModifierGroups), func(g string) bool { return g == "sides" })
	}
	c.TaxClasses = c.TaxClasses[:1]
	_, err = store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	v4 := catalogState(t, db.Pool, "demo")
	require.Nil(t, v4.Catalog.ServiceCharge)
	require.Len(t, v4.Catalog.TaxClasses, 1)
	require.Len(t, v4.Catalog.ModifierGroups, 1)
	require.Equal(t, []string{}, item(t, v4, "burger").ModifierGroups)
	require.EqualValues(t, 0, db.Count(t, "SELECT count(*) FROM modifier_options WHERE venue_id = 'demo' AND group_id = 'sides'"))
}

// TestApplyCatalogRefusals: a bad catalog is refused naming the field and
// writes nothing; so is removing an item or a table an open order uses. A
// table only closed orders used stays.
func TestApplyCatalogRefusals(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	s := store.New(db.Pool)
	before := catalogState(t, db.Pool, "demo")

	bad := demoCatalog()
	bad.Items[3].TaxClass = "fod"
	bad.Items[0].PriceCents = 5 // a good change beside it is not written either
	_, err := store.ApplyCatalog(ctx, db.Admin, "demo", bad, testOperator)
	var verr *order.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, `invalid request: items[3].tax_class: unknown tax class "fod"`, err.Error())
	require.Equal(t, before, catalogState(t, db.Pool, "demo"))

	// Steak on an open order; T3 had an order that is closed; T2 is open.
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak"}}}, alice)
	require.NoError(t, err)
	_, err = s.Open(ctx, "demo", "T2", 2, alice, nil)
	require.NoError(t, err)
	closed, err := s.Open(ctx, "demo", "T3", 2, alice, nil)
	require.NoError(t, err)
	_, _, err = s.Patch(ctx, "demo", closed.ID, store.Patch{Expected: &closed.Version, Ops: []order.Op{{Op: order.OpClose}}}, alice)
	require.NoError(t, err)
	before = catalogState(t, db.Pool, "demo")

	c := demoCatalog()
	c.Items = c.Items[1:]
	c.Tables = c.Tables[3:] // T1 (open), T2 (open), T3 (closed) go
	_, err = store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.ErrorAs(t, err, &verr)
	var fields []string
	for _, p := range verr.Problems {
		fields = append(fields, p.Field)
	}
	require.Equal(t, []string{"tables", "tables", "items"}, fields, "%v", err)
	require.Contains(t, err.Error(), `table "T1" has an open order`)
	require.Contains(t, err.Error(), `item "steak" is on an open order`)
	require.Equal(t, before, catalogState(t, db.Pool, "demo"))

	// Without the open ones: T3 (only a closed order used it) is kept, T4 goes.
	c = demoCatalog()
	c.Tables = append(append([]order.Table{}, c.Tables[:2]...), c.Tables[4:]...)
	ch, err := store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
	require.NoError(t, err)
	require.Equal(t, []string{"T3"}, ch.KeptTables)
	require.Equal(t, []store.CatalogChange{{Kind: store.KindTable, ID: "T4", Action: store.ActionRemove}}, ch.Changes)
	require.Equal(t, before.MenuVersion, ch.MenuVersion)

	// The schema backstops what validation refuses.
	_, err = db.Admin.Exec(ctx, "UPDATE menu_items SET remaining = -1 WHERE venue_id = 'demo' AND sku = 'fish-chips'")
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, store.ConstraintItemRemaining, pgErr.ConstraintName)
	_, err = db.Admin.Exec(ctx, "UPDATE venues SET timezone = 'Europe/Paris;' WHERE id = 'demo'")
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, store.ConstraintVenueTimeZone, pgErr.ConstraintName)
}

// TestUnavailableUntil: an item 86'd until a time is unavailable until
// then and available once it has passed.
func TestUnavailableUntil(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	_, err := db.Admin.Exec(ctx, "UPDATE menu_items SET available = false, unavailable_until = $1 WHERE venue_id = 'demo' AND sku = 'caesar'", until)
	require.NoError(t, err)
	it := item(t, catalogState(t, db.Pool, "demo"), "caesar")
	require.False(t, it.Available)
	require.Equal(t, until, *it.UnavailableUntil)
	_, err = db.Admin.Exec(ctx, "UPDATE menu_items SET unavailable_until = now() - interval '1 second' WHERE venue_id = 'demo' AND sku = 'caesar'")
	require.NoError(t, err)
	it = item(t, catalogState(t, db.Pool, "demo"), "caesar")
	require.True(t, it.Available)
	require.Nil(t, it.UnavailableUntil)
}

// TestApplyCatalogConcurrent: two changes of one venue's catalog at once
// run one after the other: both commit, the menu version grows by two.
func TestApplyCatalogConcurrent(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	v0 := catalogState(t, db.Pool, "demo").MenuVersion
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := demoCatalog()
			c.Items[i].PriceCents += 100
			_, errs[i] = store.ApplyCatalog(ctx, db.Admin, "demo", c, testOperator)
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	require.Equal(t, v0+2, catalogState(t, db.Pool, "demo").MenuVersion)
}

// TestCatalogRowLevelSecurity: every catalog table is scoped to its venue
// for posd's role; a venue's catalog is invisible to another venue's scope
// and cannot be written from it.
func TestCatalogRowLevelSecurity(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	s := store.New(db.Pool)
	c := demoCatalog()
	c.TaxClasses = append(c.TaxClasses, order.TaxClass{ID: "takeaway", Name: "Takeaway", RateBps: 550})
	_, err := store.ApplyCatalog(ctx, db.Admin, "demo2", c, testOperator)
	require.NoError(t, err)

	for _, q := range []string{"SELECT count(*) FROM tax_classes", "SELECT count(*) FROM modifier_groups",
		"SELECT count(*) FROM modifier_options", "SELECT count(*) FROM menu_item_groups", "SELECT count(*) FROM menu_items"} {
		all := db.Count(t, q)
		var demo, none int64
		require.NoError(t, s.InVenue(ctx, "demo", func(tx pgx.Tx) error { return tx.QueryRow(ctx, q).Scan(&demo) }))
		require.NoError(t, db.Pool.QueryRow(ctx, q).Scan(&none))
		require.NotZero(t, demo, q)
		require.Less(t, demo, all, "%s: demo's scope sees demo's rows only", q)
		require.Zero(t, none, "%s without a venue", q)
	}
	var n int64
	require.NoError(t, s.InVenue(ctx, "demo", func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT count(*) FROM tax_classes WHERE id = 'takeaway'").Scan(&n)
	}))
	require.Zero(t, n, "demo2's tax class is invisible to demo")
	require.Len(t, catalogState(t, db.Pool, "demo2").Catalog.TaxClasses, 3)
	require.Len(t, catalogState(t, db.Pool, "demo").Catalog.TaxClasses, 2)

	err = s.InVenue(ctx, "demo", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO tax_classes (venue_id, id, position, name, rate_bps) VALUES ('demo2', 'x', 9, 'X', 0)")
		return err
	})
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "42501", pgErr.Code)

	// posd's own role reads any venue's catalog through its scope, may
	// change prices (logging the change signed, never as the operator),
	// and may not remove an item or add a venue.
	c = demoCatalog()
	c.Items[0].PriceCents = 2500
	_, err = store.ApplyCatalog(ctx, db.Pool, "demo", c, testOperator)
	require.ErrorIs(t, err, store.ErrNotOwner, "posd's role may not log an operator's (unsigned) change")
	key, err := audit.NewSealKey()
	require.NoError(t, err)
	manager := store.MenuAuthor{Actor: order.Actor{Device: "manager", Staff: "Maria", Role: order.RoleManager}, Key: key}
	_, err = store.ApplyCatalog(ctx, db.Pool, "demo", c, manager)
	require.NoError(t, err)
	c.Items = c.Items[1:]
	_, err = store.ApplyCatalog(ctx, db.Pool, "demo", c, manager)
	require.ErrorIs(t, err, store.ErrNotOwner)
	_, err = store.AddVenue(ctx, db.Pool, order.Venue{ID: "acme", Name: "Acme"})
	require.ErrorIs(t, err, store.ErrNotOwner)
}

// TestVenuesWithOwnerURL: a table owner that is not a superuser (row-level
// security applies to it: FORCE) adds a venue, lists venues, loads a
// catalog and reads it back, as posd venue and posd menu do with the
// owner's DATABASE_URL.
func TestVenuesWithOwnerURL(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	_, err := db.Admin.Exec(ctx, `DO $$ BEGIN
		IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'catalog_owner') THEN
			CREATE ROLE catalog_owner LOGIN NOSUPERUSER NOBYPASSRLS;
		END IF; END $$`)
	require.NoError(t, err)
	_, err = db.Admin.Exec(ctx, `DO $$ DECLARE t text; BEGIN
		FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
			EXECUTE format('ALTER TABLE %I OWNER TO catalog_owner', t);
		END LOOP; END $$`)
	require.NoError(t, err)
	u, err := url.Parse(db.AdminURL)
	require.NoError(t, err)
	u.User = url.User("catalog_owner")
	owner, err := pgxpool.New(ctx, u.String())
	require.NoError(t, err)
	defer owner.Close()
	var super, bypass bool
	require.NoError(t, owner.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass))
	require.False(t, super || bypass)

	v, err := store.AddVenue(ctx, owner, order.Venue{ID: "acme", Name: "Acme Grill", TimeZone: "America/New_York", Currency: "USD"})
	require.NoError(t, err)
	require.Equal(t, order.Venue{ID: "acme", Name: "Acme Grill", TimeZone: "America/New_York", Currency: "USD"}, v)
	def, err := store.AddVenue(ctx, owner, order.Venue{ID: "plain", Name: "Plain"})
	require.NoError(t, err)
	require.Equal(t, order.Venue{ID: "plain", Name: "Plain", TimeZone: order.DefaultTimeZone, Currency: order.DefaultCurrency}, def)
	_, err = store.AddVenue(ctx, owner, order.Venue{ID: "acme", Name: "Again"})
	require.ErrorIs(t, err, store.ErrVenueExists)
	_, err = store.AddVenue(ctx, owner, order.Venue{ID: "bad", Name: "Bad", TimeZone: "Moon/Base"})
	var verr *order.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, "timezone", verr.Problems[0].Field)

	venues, err := store.ListVenues(ctx, owner)
	require.NoError(t, err)
	var ids []string
	for _, v := range venues {
		ids = append(ids, v.ID)
	}
	require.Equal(t, []string{"acme", "demo", "demo2", "plain"}, ids)

	empty, err := store.ReadCatalog(ctx, owner, "acme")
	require.NoError(t, err)
	require.EqualValues(t, 1, empty.MenuVersion)
	require.Empty(t, empty.Catalog.Items)
	require.Equal(t, order.Tenders, empty.Catalog.Tenders, "a new venue's tenders are today's fixed list")
	require.Nil(t, empty.Catalog.ServiceCharge)

	cat := demoCatalog()
	cat.Tables = cat.Tables[:3]
	ch, err := store.ApplyCatalog(ctx, owner, "acme", cat, testOperator)
	require.NoError(t, err)
	require.True(t, ch.Changed())
	require.EqualValues(t, 2, ch.MenuVersion)
	got, err := store.ReadCatalog(ctx, owner, "acme")
	require.NoError(t, err)
	require.Len(t, got.Catalog.Items, len(cat.Items))
	require.Equal(t, cat.Tables, got.Catalog.Tables)
	for _, it := range got.Catalog.Items {
		require.True(t, it.Available)
		require.EqualValues(t, 2, it.Version)
	}
	ch, err = store.ApplyCatalog(ctx, owner, "acme", cat, testOperator)
	require.NoError(t, err)
	require.False(t, ch.Changed())

	// And posd serves it: the new venue's menu through posd's role.
	menu, err := store.New(db.Pool).Catalog(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, got, menu)
}

// testOperator is the author of the catalog changes these tests make as the
// table owner.
var testOperator = store.Operator("store test", "tester", nil)
