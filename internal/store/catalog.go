package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// A venue's catalog (DESIGN.md section 9): its settings, tables, tax
// classes, modifier groups and items, read in one snapshot (ReadCatalog)
// and made equal to a given catalog in one transaction (ApplyCatalog).
// Both take the connection to run on: posd's pool for the API, the table
// owner's for posd venue and posd menu. Every transaction is scoped by
// row-level security to the one venue (ListVenues: to every venue), so
// they work with the owner's DATABASE_URL, to which the policies apply too.
//
// Versions: the venue's menu version grows by one with each change of its
// menu (anything GET /v1/menu shows: items, groups, tax classes, the
// service charge, tenders, their order; not tables). An item or group that
// changes takes the new menu version as its version, so an entity's version
// only grows, even across a removal and a re-creation of the same id.

var (
	// ErrUnknownVenue is a venue that does not exist (device.ErrUnknownVenue).
	ErrUnknownVenue = device.ErrUnknownVenue
	// ErrVenueExists is AddVenue of an id a venue has.
	ErrVenueExists = errors.New("venue already exists")
	// ErrNotOwner is a change the connection's role may not make (posd's
	// own role may not add venues or remove catalog entries).
	ErrNotOwner = errors.New("this database role may not make this change: use the table owner's DATABASE_URL")
)

// VenueCatalog is a venue, its menu version and its catalog with the items'
// running state (availability, remaining portions, versions).
type VenueCatalog struct {
	Venue       order.Venue
	MenuVersion int64
	Catalog     order.Catalog
}

// CatalogChange is one entry ApplyCatalog adds, updates or removes.
type CatalogChange struct {
	// Kind is "venue" (tenders, service charge), "table", "tax_class",
	// "modifier_group" or "item".
	Kind string `json:"kind"`
	// ID is the entry's id (an item's SKU; the venue's id for "venue").
	ID string `json:"id"`
	// Action is "add", "update" or "remove".
	Action string `json:"action"`
	// Fields are the json names of the fields an update changes
	// ("position": the entry moved in its list).
	Fields []string `json:"fields,omitempty"`
}

// CatalogChanges is what applying a catalog changes (or, from PlanCatalog,
// would change), in the order: tables, venue settings, tax classes,
// modifier groups, items, each in catalog order with removals last.
type CatalogChanges struct {
	Changes []CatalogChange `json:"changes"`
	// KeptTables are tables the catalog leaves out that closed orders name:
	// they stay (an order's table is part of its record).
	KeptTables []string `json:"kept_tables"`
	// MenuVersion is the venue's menu version after the change (from
	// PlanCatalog: what it would be).
	MenuVersion int64 `json:"menu_version"`
}

// Changed reports whether anything changed.
func (c CatalogChanges) Changed() bool { return len(c.Changes) > 0 }

// Change kinds and actions.
const (
	KindVenue         = "venue"
	KindTable         = "table"
	KindTaxClass      = "tax_class"
	KindModifierGroup = "modifier_group"
	KindItem          = "item"
	ActionAdd         = "add"
	ActionUpdate      = "update"
	ActionRemove      = "remove"
)

// ReadCatalog reads the venue's catalog in one repeatable-read snapshot.
// An unknown venue is ErrUnknownVenue.
func ReadCatalog(ctx context.Context, db Conn, venue string) (VenueCatalog, error) {
	if venue == "" {
		return VenueCatalog{}, fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
	}
	b := venueTxBatch(venue, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	var r catalogRows
	if err := r.queue(ctx, b, venue, false); err != nil {
		return VenueCatalog{}, err
	}
	if err := b.commit(ctx, db); err != nil {
		return VenueCatalog{}, catalogError("read catalog", venue, err)
	}
	return r.catalog(), nil
}

// Catalog is ReadCatalog over posd's pool (GET /v1/menu).
func (s *Store) Catalog(ctx context.Context, venue string) (VenueCatalog, error) {
	return ReadCatalog(ctx, s.pool, venue)
}

// ApplyCatalog makes the venue's catalog equal to cat, in one transaction,
// and returns what changed. cat is validated first (cat.Validate: a
// refusal is an *order.ValidationError naming each bad field, and nothing
// is written). Applying the catalog the venue has changes nothing, bumps no
// version and writes nothing.
//
// Entries cat leaves out are removed, with two exceptions: an item on a
// live (not voided) line of an open order, and a table with an open order,
// are refused (*order.ValidationError on "items" or "tables"; close or
// change those orders first, or keep the entry, e.g. 86 the item), and a
// table closed orders name is kept (CatalogChanges.KeptTables). The items'
// availability and remaining portions are running state, not part of a
// catalog: ApplyCatalog keeps them, and a new item is available and not
// counted. Changes of one venue's catalog run one after the other (the
// venue's row is locked).
//
// A change of the menu is one row of the venue's menu log (kind "catalog",
// before and after the whole catalog), written by, and signed with the key
// of, by (menulog.go), and announced on pos.<venue>.menu.
func ApplyCatalog(ctx context.Context, db Conn, venue string, cat order.Catalog, by MenuAuthor) (CatalogChanges, error) {
	return changeCatalog(ctx, db, venue, cat, true, by)
}

// PlanCatalog is ApplyCatalog's dry run: it validates cat and returns what
// applying it would change, and writes nothing.
func PlanCatalog(ctx context.Context, db Conn, venue string, cat order.Catalog) (CatalogChanges, error) {
	return changeCatalog(ctx, db, venue, cat, false, MenuAuthor{})
}

func changeCatalog(ctx context.Context, db Conn, venue string, cat order.Catalog, write bool, by MenuAuthor) (CatalogChanges, error) {
	if err := cat.Validate(); err != nil {
		return CatalogChanges{}, err
	}
	if venue == "" {
		return CatalogChanges{}, fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
	}
	var out CatalogChanges
	err := inTx(ctx, db, venueBatch(venue), func(tx pgx.Tx) error {
		var err error
		out, err = applyCatalogTx(ctx, tx, venue, wholeCatalog(cat), write, catalogLog(venue, by))
		return err
	})
	if err != nil {
		return CatalogChanges{}, catalogError("apply catalog", venue, err)
	}
	return out, nil
}

// AddVenue creates a venue with no tables and an empty menu (menu version
// 1, the default tenders order.Tenders, no service charge). An empty time
// zone or currency is order.DefaultTimeZone or DefaultCurrency. A bad field
// is an *order.ValidationError, an existing id ErrVenueExists, a role that
// may not create venues ErrNotOwner. It returns the venue as written.
func AddVenue(ctx context.Context, db Conn, v order.Venue) (order.Venue, error) {
	if v.TimeZone == "" {
		v.TimeZone = order.DefaultTimeZone
	}
	if v.Currency == "" {
		v.Currency = order.DefaultCurrency
	}
	if err := v.Validate(); err != nil {
		return order.Venue{}, err
	}
	p := dbsqlc.InsertVenueParams{ID: v.ID, Name: v.Name, Timezone: v.TimeZone, Currency: v.Currency}
	if _, err := runOne(ctx, db, venueBatch(v.ID), func(tx dbsqlc.DBTX) (struct{}, error) {
		return struct{}{}, dbsqlc.New().InsertVenue(ctx, tx, p)
	}); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23505" {
			return order.Venue{}, fmt.Errorf("%w: %q", ErrVenueExists, v.ID)
		}
		return order.Venue{}, catalogError("add venue", v.ID, err)
	}
	return v, nil
}

// ListVenues lists every venue by id.
func ListVenues(ctx context.Context, db Conn) ([]order.Venue, error) {
	rows, err := runOne(ctx, db, systemBatch(), func(tx dbsqlc.DBTX) ([]dbsqlc.ListVenueSettingsRow, error) {
		return dbsqlc.New().ListVenueSettings(ctx, tx)
	})
	if err != nil {
		return nil, catalogError("list venues", "", err)
	}
	out := make([]order.Venue, len(rows))
	for i, r := range rows {
		out[i] = order.Venue{ID: r.ID, Name: r.Name, TimeZone: r.Timezone, Currency: r.Currency}
	}
	return out, nil
}

// catalogError translates a catalog read's or write's failure.
func catalogError(what, venue string, err error) error {
	var verr *order.ValidationError
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &verr), errors.Is(err, ErrUnknownVenue):
		return err
	case errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
	case errors.As(err, &pgErr) && pgErr.Code == "42501":
		// A privilege the role lacks (every row written is the scoped
		// venue's, so row-level security refuses none).
		return fmt.Errorf("%s: %w (%s)", what, ErrNotOwner, pgErr.Message)
	case errors.As(err, &pgErr) && (pgErr.Code == "23514" || pgErr.Code == "23505" || pgErr.Code == "23503"):
		// Validation refuses these first; the schema is the backstop.
		field := catalogFields[pgErr.ConstraintName]
		if field == "" {
			field = "catalog"
		}
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: field,
			Detail: "refused by the database (" + pgErr.ConstraintName + ")"}}}
	}
	if terr := translate(err, errContext{}); terr != err {
		return fmt.Errorf("%s: %w", what, terr)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// catalogRows are the rows of one venue's catalog.
type catalogRows struct {
	venue      dbsqlc.GetVenueRow
	tables     []dbsqlc.ListTablesRow
	taxes      []dbsqlc.ListTaxClassesRow
	groups     []dbsqlc.ListModifierGroupsRow
	options    []dbsqlc.ListModifierOptionsRow
	items      []dbsqlc.ListCatalogItemsRow
	itemGroups []dbsqlc.ListItemGroupsRow
	// With inUse: what removals must respect.
	tablesInUse []dbsqlc.TablesInUseRow
	openSKUs    []string
}

// queue queues the reads of the venue's catalog on b (and with inUse what
// open and closed orders use of it).
func (r *catalogRows) queue(ctx context.Context, b *batch, venue string, inUse bool) error {
	q := dbsqlc.New()
	steps := []error{
		queue(b, func(db dbsqlc.DBTX) (dbsqlc.GetVenueRow, error) { return q.GetVenue(ctx, db, venue) },
			func(v dbsqlc.GetVenueRow) error { r.venue = v; return nil }),
		queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.ListTablesRow, error) { return q.ListTables(ctx, db, venue) },
			func(v []dbsqlc.ListTablesRow) error { r.tables = v; return nil }),
		queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.ListTaxClassesRow, error) { return q.ListTaxClasses(ctx, db, venue) },
			func(v []dbsqlc.ListTaxClassesRow) error { r.taxes = v; return nil }),
		queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.ListModifierGroupsRow, error) {
			return q.ListModifierGroups(ctx, db, venue)
		},
			func(v []dbsqlc.ListModifierGroupsRow) error { r.groups = v; return nil }),
		queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.ListModifierOptionsRow, error) {
			return q.ListModifierOptions(ctx, db, venue)
		},
			func(v []dbsqlc.ListModifierOptionsRow) error { r.options = v; return nil }),
		queueItems(ctx, b, venue, &r.items, &r.itemGroups),
	}
	if inUse {
		steps = append(steps,
			queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.TablesInUseRow, error) { return q.TablesInUse(ctx, db, venue) },
				func(v []dbsqlc.TablesInUseRow) error { r.tablesInUse = v; return nil }),
			queue(b, func(db dbsqlc.DBTX) ([]string, error) { return q.OpenLineSKUs(ctx, db, venue) },
				func(v []string) error { r.openSKUs = v; return nil }))
	}
	return errors.Join(steps...)
}

// queueItems queues the reads of the venue's items and their groups.
func queueItems(ctx context.Context, b *batch, venue string, items *[]dbsqlc.ListCatalogItemsRow, groups *[]dbsqlc.ListItemGroupsRow) error {
	q := dbsqlc.New()
	return errors.Join(
		queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.ListCatalogItemsRow, error) { return q.ListCatalogItems(ctx, db, venue) },
			func(v []dbsqlc.ListCatalogItemsRow) error { *items = v; return nil }),
		queue(b, func(db dbsqlc.DBTX) ([]dbsqlc.ListItemGroupsRow, error) { return q.ListItemGroups(ctx, db, venue) },
			func(v []dbsqlc.ListItemGroupsRow) error { *groups = v; return nil }))
}

// menuItems makes the items of rows, with their groups.
func menuItems(rows []dbsqlc.ListCatalogItemsRow, groups []dbsqlc.ListItemGroupsRow) []order.MenuItem {
	bySKU := map[string][]string{}
	for _, g := range groups {
		bySKU[g.Sku] = append(bySKU[g.Sku], g.GroupID)
	}
	items := make([]order.MenuItem, len(rows))
	for i, r := range rows {
		it := order.MenuItem{
			SKU: r.Sku, Name: r.Name, Category: r.Category, PriceCents: r.PriceCents, Station: r.Station,
			TaxClass: r.TaxClass, ModifierGroups: bySKU[r.Sku], Version: r.Version,
			Available: r.Available || r.UntilPassed,
		}
		if it.ModifierGroups == nil {
			it.ModifierGroups = []string{}
		}
		if !it.Available && r.UnavailableUntil != nil {
			t := r.UnavailableUntil.UTC()
			it.UnavailableUntil = &t
		}
		if r.Remaining != nil {
			n := int(*r.Remaining)
			it.Remaining = &n
		}
		items[i] = it
	}
	return items
}

// catalog makes the venue's catalog of its rows.
func (r *catalogRows) catalog() VenueCatalog {
	v := r.venue
	out := VenueCatalog{
		Venue:       order.Venue{ID: v.ID, Name: v.Name, TimeZone: v.Timezone, Currency: v.Currency},
		MenuVersion: v.MenuVersion,
		Catalog: order.Catalog{
			Tables:         make([]order.Table, len(r.tables)),
			TaxClasses:     make([]order.TaxClass, len(r.taxes)),
			Tenders:        append([]string{}, v.Tenders...),
			ModifierGroups: make([]order.ModifierGroup, len(r.groups)),
			Items:          menuItems(r.items, r.itemGroups),
		},
	}
	if v.ServiceChargeMinGuests > 0 && v.ServiceChargeTaxClass != nil {
		out.Catalog.ServiceCharge = &order.ServiceCharge{MinGuests: int(v.ServiceChargeMinGuests),
			RateBps: v.ServiceChargeRateBps, TaxClass: *v.ServiceChargeTaxClass}
	}
	for i, t := range r.tables {
		out.Catalog.Tables[i] = order.Table{ID: t.ID, Label: t.Label, Seats: int(t.Seats)}
	}
	for i, t := range r.taxes {
		out.Catalog.TaxClasses[i] = order.TaxClass{ID: t.ID, Name: t.Name, RateBps: t.RateBps, Inclusive: t.Inclusive}
	}
	opts := map[string][]order.ModifierOption{}
	for _, o := range r.options {
		opts[o.GroupID] = append(opts[o.GroupID], order.ModifierOption{ID: o.ID, Name: o.Name, PriceCents: o.PriceCents})
	}
	for i, g := range r.groups {
		o := opts[g.ID]
		if o == nil {
			o = []order.ModifierOption{}
		}
		out.Catalog.ModifierGroups[i] = order.ModifierGroup{ID: g.ID, Name: g.Name, Min: int(g.MinChoices),
			Max: int(g.MaxChoices), Options: o, Version: g.Version}
	}
	return out
}

// applyCatalogTx makes the venue's catalog equal to what edit makes of the
// current one (validated) in tx, which is scoped to the venue or to every
// venue; with write false it only says what it would change. A change of
// the menu appends log's row to the venue's menu log (appendMenuLog).
func applyCatalogTx(ctx context.Context, tx pgx.Tx, venue string, edit catalogEdit, write bool, log menuLog) (CatalogChanges, error) {
	q := dbsqlc.New()
	if write {
		if _, err := q.LockVenue(ctx, tx, venue); err != nil {
			return CatalogChanges{}, err
		}
	}
	var cur catalogRows
	b := &batch{}
	if err := cur.queue(ctx, b, venue, true); err != nil {
		return CatalogChanges{}, err
	}
	if err := b.sendIn(ctx, tx); err != nil {
		return CatalogChanges{}, err
	}
	before := cur.catalog()
	cat, err := edit(before)
	if err != nil {
		return CatalogChanges{}, err
	}
	if err := cat.Validate(); err != nil {
		return CatalogChanges{}, err
	}
	d, err := diffCatalog(cur, cat)
	if err != nil {
		return CatalogChanges{}, err
	}
	out := CatalogChanges{Changes: d.changes, KeptTables: d.kept, MenuVersion: cur.venue.MenuVersion}
	if d.menuChanged {
		out.MenuVersion++
	}
	if out.KeptTables == nil {
		out.KeptTables = []string{}
	}
	if !write || !out.Changed() {
		return out, nil
	}
	w := &batch{}
	if err := d.queueWrites(ctx, w, venue, cat, out.MenuVersion); err != nil {
		return CatalogChanges{}, err
	}
	if err := w.sendIn(ctx, tx); err != nil {
		return CatalogChanges{}, err
	}
	if d.menuChanged {
		if err := appendCatalogChange(ctx, tx, venue, log, before, out.MenuVersion); err != nil {
			return CatalogChanges{}, err
		}
	}
	return out, nil
}

// catalogEdit makes the catalog to apply of the venue's current one (an
// error refuses the change: nothing is written).
type catalogEdit func(cur VenueCatalog) (order.Catalog, error)

// wholeCatalog is the edit that replaces the catalog with cat.
func wholeCatalog(cat order.Catalog) catalogEdit {
	return func(VenueCatalog) (order.Catalog, error) { return cat, nil }
}

// catalogDiff is what applying a catalog must write.
type catalogDiff struct {
	changes     []CatalogChange
	kept        []string
	menuChanged bool
	venue       bool
	// Entries to write, by index in the new catalog, with the version an
	// item or group keeps (0: it takes the new menu version).
	tables, taxes []int
	groups        map[int]int64
	newOptions    map[int]bool // groups whose options are (re)written
	hadOptions    map[int]bool // ... replacing options they had
	items         map[int]int64
	newLinks      map[int]bool // items whose groups are (re)written
	hadLinks      map[int]bool
	groupOrder    []int
	itemOrder     []int
	// Entries to remove, by id.
	rmTables, rmTaxes, rmGroups, rmItems []string
}

func (d *catalogDiff) add(kind, id, action string, fields ...string) {
	d.changes = append(d.changes, CatalogChange{Kind: kind, ID: id, Action: action, Fields: fields})
	if kind != KindTable {
		d.menuChanged = true
	}
}

// diffCatalog compares the venue's current catalog with cat. Refused
// removals are an *order.ValidationError.
func diffCatalog(cur catalogRows, cat order.Catalog) (*catalogDiff, error) {
	d := &catalogDiff{groups: map[int]int64{}, newOptions: map[int]bool{}, hadOptions: map[int]bool{},
		items: map[int]int64{}, newLinks: map[int]bool{}, hadLinks: map[int]bool{}}
	now := cur.catalog().Catalog
	var probs []order.FieldProblem

	// Tables.
	tables := map[string]order.Table{}
	for _, t := range now.Tables {
		tables[t.ID] = t
	}
	want := map[string]bool{}
	for i, t := range cat.Tables {
		want[t.ID] = true
		old, ok := tables[t.ID]
		switch {
		case !ok:
			d.add(KindTable, t.ID, ActionAdd)
			d.tables = append(d.tables, i)
		case old != t:
			d.add(KindTable, t.ID, ActionUpdate, fields(old.Label != t.Label, "label", old.Seats != t.Seats, "seats")...)
			d.tables = append(d.tables, i)
		}
	}
	inUse := map[string]bool{}
	for _, t := range cur.tablesInUse {
		inUse[t.TableID] = t.Open
	}
	for _, t := range now.Tables {
		open, used := inUse[t.ID]
		switch {
		case want[t.ID]:
		case open:
			probs = append(probs, order.FieldProblem{Field: "tables", Detail: fmt.Sprintf(
				"table %q has an open order: close or move it before removing the table", t.ID)})
		case used:
			d.kept = append(d.kept, t.ID)
		default:
			d.add(KindTable, t.ID, ActionRemove)
			d.rmTables = append(d.rmTables, t.ID)
		}
	}

	// The venue's settings.
	oldSC, newSC := serviceCharge(now.ServiceCharge), serviceCharge(cat.ServiceCharge)
	if tenders, sc := !slices.Equal(now.Tenders, cat.Tenders), oldSC != newSC; tenders || sc {
		d.add(KindVenue, cur.venue.ID, ActionUpdate, fields(tenders, "tenders", sc, "service_charge")...)
		d.venue = true
	}

	// Tax classes.
	taxes := map[string]int{}
	for i, t := range now.TaxClasses {
		taxes[t.ID] = i
	}
	wantTax := map[string]bool{}
	for i, t := range cat.TaxClasses {
		wantTax[t.ID] = true
		j, ok := taxes[t.ID]
		if !ok {
			d.add(KindTaxClass, t.ID, ActionAdd)
			d.taxes = append(d.taxes, i)
			continue
		}
		old := now.TaxClasses[j]
		if f := fields(old.Name != t.Name, "name", old.RateBps != t.RateBps, "rate_bps",
			old.Inclusive != t.Inclusive, "inclusive", i != j, "position"); len(f) > 0 {
			d.add(KindTaxClass, t.ID, ActionUpdate, f...)
			d.taxes = append(d.taxes, i)
		}
	}

	// Modifier groups.
	groups := map[string]int{}
	for i, g := range now.ModifierGroups {
		groups[g.ID] = i
	}
	wantGroup := map[string]bool{}
	for i, g := range cat.ModifierGroups {
		wantGroup[g.ID] = true
		j, ok := groups[g.ID]
		if !ok {
			d.add(KindModifierGroup, g.ID, ActionAdd)
			d.groups[i], d.newOptions[i] = 0, true
			d.groupOrder = append(d.groupOrder, i)
			continue
		}
		old := now.ModifierGroups[j]
		opts := !slices.Equal(old.Options, g.Options)
		def := fields(old.Name != g.Name, "name", old.Min != g.Min, "min", old.Max != g.Max, "max", opts, "options")
		if f := append(def, fields(i != j, "position")...); len(f) > 0 {
			d.add(KindModifierGroup, g.ID, ActionUpdate, f...)
			d.groups[i] = old.Version
			if len(def) > 0 {
				d.groups[i] = 0
			}
			d.newOptions[i], d.hadOptions[i] = opts, opts
			d.groupOrder = append(d.groupOrder, i)
		}
	}

	// Items.
	items := map[string]int{}
	for i, it := range now.Items {
		items[it.SKU] = i
	}
	wantItem := map[string]bool{}
	for i, it := range cat.Items {
		wantItem[it.SKU] = true
		j, ok := items[it.SKU]
		if !ok {
			d.add(KindItem, it.SKU, ActionAdd)
			d.items[i], d.newLinks[i] = 0, len(it.ModifierGroups) > 0
			d.itemOrder = append(d.itemOrder, i)
			continue
		}
		old := now.Items[j]
		links := !slices.Equal(old.ModifierGroups, it.ModifierGroups)
		def := fields(old.Name != it.Name, "name", old.Category != it.Category, "category",
			old.PriceCents != it.PriceCents, "price_cents", old.Station != it.Station, "station",
			old.TaxClass != it.TaxClass, "tax_class", links, "modifier_groups")
		if f := append(def, fields(i != j, "position")...); len(f) > 0 {
			d.add(KindItem, it.SKU, ActionUpdate, f...)
			d.items[i] = old.Version
			if len(def) > 0 {
				d.items[i] = 0
			}
			d.newLinks[i], d.hadLinks[i] = links, links
			d.itemOrder = append(d.itemOrder, i)
		}
	}

	// Removals: items, then groups and tax classes nothing refers to any
	// more (cat.Validate saw to that).
	open := map[string]bool{}
	for _, s := range cur.openSKUs {
		open[s] = true
	}
	for _, it := range now.Items {
		switch {
		case wantItem[it.SKU]:
		case open[it.SKU]:
			probs = append(probs, order.FieldProblem{Field: "items", Detail: fmt.Sprintf(
				"item %q is on an open order: void or remove its lines or close the order before removing it (or keep it and 86 it)", it.SKU)})
		default:
			d.add(KindItem, it.SKU, ActionRemove)
			d.rmItems = append(d.rmItems, it.SKU)
		}
	}
	for _, g := range now.ModifierGroups {
		if !wantGroup[g.ID] {
			d.add(KindModifierGroup, g.ID, ActionRemove)
			d.rmGroups = append(d.rmGroups, g.ID)
		}
	}
	for _, t := range now.TaxClasses {
		if !wantTax[t.ID] {
			d.add(KindTaxClass, t.ID, ActionRemove)
			d.rmTaxes = append(d.rmTaxes, t.ID)
		}
	}
	if len(probs) > 0 {
		return nil, &order.ValidationError{Problems: probs}
	}
	return d, nil
}

// queueWrites queues the writes of d on b, in an order every foreign key
// accepts: tax classes, the venue, groups, tables, removed items, items,
// then removed groups, tax classes and tables.
func (d *catalogDiff) queueWrites(ctx context.Context, b *batch, venue string, cat order.Catalog, version int64) error {
	q := dbsqlc.New()
	var errs []error
	exec := func(call func(dbsqlc.DBTX) error) { errs = append(errs, queueExec(b, call)) }
	orNew := func(v int64) int64 {
		if v == 0 {
			return version
		}
		return v
	}
	for _, i := range d.taxes {
		t := cat.TaxClasses[i]
		p := dbsqlc.UpsertTaxClassParams{VenueID: venue, ID: t.ID, Position: int32(i), Name: t.Name, RateBps: t.RateBps, Inclusive: t.Inclusive}
		exec(func(db dbsqlc.DBTX) error { return q.UpsertTaxClass(ctx, db, p) })
	}
	if d.menuChanged {
		sc := serviceCharge(cat.ServiceCharge)
		p := dbsqlc.UpdateVenueCatalogParams{ID: venue, Tenders: cat.Tenders, ServiceChargeMinGuests: int32(sc.minGuests),
			ServiceChargeRateBps: sc.rateBps, MenuVersion: version}
		if sc.minGuests > 0 {
			p.ServiceChargeTaxClass = &sc.taxClass
		}
		exec(func(db dbsqlc.DBTX) error { return q.UpdateVenueCatalog(ctx, db, p) })
	}
	for _, i := range d.groupOrder {
		g := cat.ModifierGroups[i]
		p := dbsqlc.UpsertModifierGroupParams{VenueID: venue, ID: g.ID, Position: int32(i), Name: g.Name,
			MinChoices: int32(g.Min), MaxChoices: int32(g.Max), Version: orNew(d.groups[i])}
		exec(func(db dbsqlc.DBTX) error { return q.UpsertModifierGroup(ctx, db, p) })
		if d.hadOptions[i] {
			exec(func(db dbsqlc.DBTX) error {
				return q.DeleteModifierOptions(ctx, db, dbsqlc.DeleteModifierOptionsParams{VenueID: venue, GroupID: g.ID})
			})
		}
		if d.newOptions[i] {
			for j, o := range g.Options {
				p := dbsqlc.InsertModifierOptionParams{VenueID: venue, GroupID: g.ID, ID: o.ID, Position: int32(j), Name: o.Name, PriceCents: o.PriceCents}
				exec(func(db dbsqlc.DBTX) error { return q.InsertModifierOption(ctx, db, p) })
			}
		}
	}
	for _, i := range d.tables {
		t := cat.Tables[i]
		p := dbsqlc.UpsertTableParams{VenueID: venue, ID: t.ID, Label: t.Label, Seats: int32(t.Seats)}
		exec(func(db dbsqlc.DBTX) error { return q.UpsertTable(ctx, db, p) })
	}
	for _, sku := range d.rmItems {
		exec(func(db dbsqlc.DBTX) error {
			return q.DeleteMenuItem(ctx, db, dbsqlc.DeleteMenuItemParams{VenueID: venue, Sku: sku})
		})
	}
	for _, i := range d.itemOrder {
		it := cat.Items[i]
		tax := it.TaxClass
		p := dbsqlc.UpsertCatalogItemParams{VenueID: venue, Sku: it.SKU, Position: int32(i), Name: it.Name, Category: it.Category,
			PriceCents: it.PriceCents, Station: it.Station, TaxClass: &tax, Version: orNew(d.items[i])}
		exec(func(db dbsqlc.DBTX) error { return q.UpsertCatalogItem(ctx, db, p) })
		if d.hadLinks[i] {
			exec(func(db dbsqlc.DBTX) error {
				return q.DeleteItemGroups(ctx, db, dbsqlc.DeleteItemGroupsParams{VenueID: venue, Sku: it.SKU})
			})
		}
		if d.newLinks[i] {
			for j, g := range it.ModifierGroups {
				p := dbsqlc.InsertItemGroupParams{VenueID: venue, Sku: it.SKU, GroupID: g, Position: int32(j)}
				exec(func(db dbsqlc.DBTX) error { return q.InsertItemGroup(ctx, db, p) })
			}
		}
	}
	for _, id := range d.rmGroups {
		exec(func(db dbsqlc.DBTX) error {
			return q.DeleteModifierGroup(ctx, db, dbsqlc.DeleteModifierGroupParams{VenueID: venue, ID: id})
		})
	}
	for _, id := range d.rmTaxes {
		exec(func(db dbsqlc.DBTX) error {
			return q.DeleteTaxClass(ctx, db, dbsqlc.DeleteTaxClassParams{VenueID: venue, ID: id})
		})
	}
	for _, id := range d.rmTables {
		exec(func(db dbsqlc.DBTX) error {
			return q.DeleteTable(ctx, db, dbsqlc.DeleteTableParams{VenueID: venue, ID: id})
		})
	}
	return errors.Join(errs...)
}

// ItemAvailability is an item's running state: 86'd (Available false,
// until UnavailableUntil if set) and remaining portions (nil: not counted).
type ItemAvailability struct {
	SKU              string
	Available        bool
	UnavailableUntil *time.Time
	Remaining        *int
}

// availabilityOf is the item's availability as it reads (an 86 whose end
// has passed is available).
func availabilityOf(it order.MenuItem) ItemAvailability {
	return ItemAvailability{SKU: it.SKU, Available: it.Available, UnavailableUntil: it.UnavailableUntil, Remaining: it.Remaining}
}

// same reports whether a and b are the same state of the same item (an
// available item's until does not count).
func (a ItemAvailability) same(b ItemAvailability) bool {
	until := func(x ItemAvailability) *time.Time {
		if x.Available {
			return nil
		}
		return x.UnavailableUntil
	}
	ua, ub := until(a), until(b)
	return a.SKU == b.SKU && a.Available == b.Available &&
		(ua == nil) == (ub == nil) && (ua == nil || ua.Equal(*ub)) &&
		(a.Remaining == nil) == (b.Remaining == nil) && (a.Remaining == nil || *a.Remaining == *b.Remaining)
}

// setAvailabilityTx sets the items' availability in tx, with the venue's
// row locked. An item whose state changes takes the next menu version,
// which the venue then has; nothing changes when every item has its state
// already. It reports whether anything changed and the venue's menu
// version after. An unknown SKU is an *order.ValidationError. The caller
// appends the change to the menu log.
func setAvailabilityTx(ctx context.Context, tx pgx.Tx, venue string, items []ItemAvailability) (changed bool, version int64, err error) {
	q := dbsqlc.New()
	v, err := q.LockVenue(ctx, tx, venue)
	if err != nil {
		return false, 0, err
	}
	for i, a := range items {
		p := dbsqlc.SetItemAvailabilityParams{VenueID: venue, Sku: a.SKU, Available: a.Available, Version: v + 1}
		if !a.Available {
			p.UnavailableUntil = a.UnavailableUntil
		}
		if a.Remaining != nil {
			if *a.Remaining < 0 || *a.Remaining > order.MaxRemaining {
				return false, 0, &order.ValidationError{Problems: []order.FieldProblem{{Field: fmt.Sprintf("availability[%d].remaining", i),
					Detail: fmt.Sprintf("must be between 0 and %d", order.MaxRemaining)}}}
			}
			n := int32(*a.Remaining)
			p.Remaining = &n
		}
		n, err := q.SetItemAvailability(ctx, tx, p)
		if err != nil {
			return false, 0, err
		}
		if n == 0 {
			ok, err := q.MenuItemExists(ctx, tx, dbsqlc.MenuItemExistsParams{VenueID: venue, Sku: a.SKU})
			if err != nil {
				return false, 0, err
			}
			if !ok {
				return false, 0, &order.ValidationError{Problems: []order.FieldProblem{{Field: fmt.Sprintf("availability[%d].sku", i),
					Detail: fmt.Sprintf("unknown item %q", a.SKU)}}}
			}
		}
		changed = changed || n > 0
	}
	if !changed {
		return false, v, nil
	}
	return true, v + 1, q.SetMenuVersion(ctx, tx, dbsqlc.SetMenuVersionParams{ID: venue, MenuVersion: v + 1})
}

// scRule is a service charge setting as the venue row holds it (all zero:
// none).
type scRule struct {
	minGuests int
	rateBps   int64
	taxClass  string
}

func serviceCharge(sc *order.ServiceCharge) scRule {
	if sc == nil || sc.MinGuests == 0 {
		return scRule{}
	}
	return scRule{sc.MinGuests, sc.RateBps, sc.TaxClass}
}

// fields lists the names whose condition holds: fields(c1, "a", c2, "b").
func fields(pairs ...any) []string {
	var out []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i].(bool) {
			out = append(out, pairs[i+1].(string))
		}
	}
	return out
}
