package store

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/natscontract"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// Menu writes (DESIGN.md section 9): a PUT of one item or modifier group
// under its version, an item's availability, and (catalog.go) a whole
// catalog. Each change that moves the venue's menu version is, in its own
// transaction: the catalog rows (through applyCatalogTx and
// setAvailabilityTx, the one write path of the catalog), one row of the
// venue's hash-chained, signed menu log, one outbox message on
// pos.<venue>.menu, and a notification on MenuChannel that tells every
// posd to drop its cached menu of the venue. Changes of one venue's menu
// run one after the other (LockVenue), which is what numbers and chains
// its log.

// MenuChannel is the Postgres notification channel of menu changes; the
// payload is the venue id.
const MenuChannel = "posd_menu"

// MenuMessageType is the type of a menu message (Posd-Type header).
const MenuMessageType = "menu.changed"

// MenuAuthor is who makes a menu change and the key that signs its log row
// (nil: unsigned, which only the table owner's operator rows may be).
type MenuAuthor struct {
	Actor order.Actor
	Key   ed25519.PrivateKey
}

// Operator is the author of a change the table owner makes (posd menu
// import, posd seed) as staff, signed with key when it is not nil.
func Operator(device, staff string, key ed25519.PrivateKey) MenuAuthor {
	return MenuAuthor{Actor: order.Actor{Device: device, Staff: staff, Role: audit.RoleOperator}, Key: key}
}

// MenuPrecondition is a menu PUT's precondition: IfMatch the entity's
// version (If-Match), or Create (If-None-Match: *) for an entity that must
// not exist yet.
type MenuPrecondition struct {
	IfMatch *int64
	Create  bool
}

// check refuses a write whose precondition the entity (cur, nil when it
// does not exist, at version) fails.
func (p MenuPrecondition) check(kind, id string, cur any, version int64) error {
	exists := cur != nil
	if p.Create && exists || !p.Create && (p.IfMatch == nil || !exists || version != *p.IfMatch) {
		return &order.MenuConflictError{Kind: kind, ID: id, Expected: p.IfMatch, Current: cur, CurrentVersion: version}
	}
	return nil
}

// MenuWrite is the answer to a menu write: the menu version after it and
// whether it changed anything (a write of what the entity already is
// changes nothing, bumps no version and logs nothing).
type MenuWrite struct {
	MenuVersion int64
	Changed     bool
}

// PutItem makes item the definition of the venue's item item.SKU (name,
// category, price, station, tax class, modifier groups; its availability
// and portions stay), or adds it at the end of the menu, under pre. A
// failed precondition is *order.MenuConflictError with the current item; a
// bad field an *order.ValidationError naming it (as the body does:
// "price_cents"). It returns the item as it is after the write.
func (s *Store) PutItem(ctx context.Context, venue string, item order.MenuItem, pre MenuPrecondition, actor order.Actor) (order.MenuItem, MenuWrite, error) {
	var out order.MenuItem
	pick := func(vc VenueCatalog) any {
		for _, it := range vc.Catalog.Items {
			if it.SKU == item.SKU {
				return it
			}
		}
		return nil
	}
	edit := func(cur VenueCatalog) (order.Catalog, error) {
		cat := cur.Catalog
		cat.Items = append([]order.MenuItem{}, cat.Items...)
		i := indexOf(cat.Items, func(it order.MenuItem) bool { return it.SKU == item.SKU })
		var version int64
		if i >= 0 {
			version = cat.Items[i].Version
		}
		if err := pre.check(audit.MenuKindItem, item.SKU, pick(cur), version); err != nil {
			return order.Catalog{}, err
		}
		if i < 0 {
			cat.Items = append(cat.Items, item)
			i = len(cat.Items) - 1
		} else {
			cat.Items[i] = item
		}
		return cat, entityProblems(cat.Validate(), fmt.Sprintf("items[%d].", i), "items", "sku")
	}
	w, err := s.changeMenu(ctx, venue, edit, menuLog{author: s.author(actor), kind: audit.MenuKindItem, entity: item.SKU, pick: pick},
		func(vc VenueCatalog) { out, _ = pick(vc).(order.MenuItem) })
	return out, w, err
}

// PutModifierGroup makes g the venue's modifier group g.ID (name, min, max
// and options), or adds it at the end of the groups, under pre, as PutItem
// does for an item.
func (s *Store) PutModifierGroup(ctx context.Context, venue string, g order.ModifierGroup, pre MenuPrecondition, actor order.Actor) (order.ModifierGroup, MenuWrite, error) {
	var out order.ModifierGroup
	pick := func(vc VenueCatalog) any {
		for _, x := range vc.Catalog.ModifierGroups {
			if x.ID == g.ID {
				return x
			}
		}
		return nil
	}
	edit := func(cur VenueCatalog) (order.Catalog, error) {
		cat := cur.Catalog
		cat.ModifierGroups = append([]order.ModifierGroup{}, cat.ModifierGroups...)
		i := indexOf(cat.ModifierGroups, func(x order.ModifierGroup) bool { return x.ID == g.ID })
		var version int64
		if i >= 0 {
			version = cat.ModifierGroups[i].Version
		}
		if err := pre.check(audit.MenuKindModifierGroup, g.ID, pick(cur), version); err != nil {
			return order.Catalog{}, err
		}
		if i < 0 {
			cat.ModifierGroups = append(cat.ModifierGroups, g)
			i = len(cat.ModifierGroups) - 1
		} else {
			cat.ModifierGroups[i] = g
		}
		return cat, entityProblems(cat.Validate(), fmt.Sprintf("modifier_groups[%d].", i), "modifier_groups", "id")
	}
	w, err := s.changeMenu(ctx, venue, edit, menuLog{author: s.author(actor), kind: audit.MenuKindModifierGroup, entity: g.ID, pick: pick},
		func(vc VenueCatalog) { out, _ = pick(vc).(order.ModifierGroup) })
	return out, w, err
}

// AvailabilityChange is an availability write: with SetAvailable, the item
// is 86'd (Available false, until Until if set) or orderable again; with
// SetRemaining, its portions are counted from Remaining (nil: no longer
// counted). What it leaves out stays as it is.
type AvailabilityChange struct {
	SetAvailable bool
	Available    bool
	Until        *time.Time
	SetRemaining bool
	Remaining    *int
}

// SetAvailability changes the availability of the venue's item sku (no
// version precondition: the kitchen 86es what runs out). An unknown item
// is order.ErrNoMenuItem. It returns the item as it is after the write.
func (s *Store) SetAvailability(ctx context.Context, venue, sku string, ch AvailabilityChange, actor order.Actor) (order.MenuItem, MenuWrite, error) {
	var out order.MenuItem
	var w MenuWrite
	author := s.author(actor)
	err := inTx(ctx, s.pool, venueBatch(venue), func(tx pgx.Tx) error {
		current, err := s.q.LockVenue(ctx, tx, venue)
		if err != nil {
			return err
		}
		before, found, err := readItem(ctx, tx, venue, sku)
		if err != nil || !found {
			if err == nil {
				err = fmt.Errorf("%w: %q", order.ErrNoMenuItem, sku)
			}
			return err
		}
		now := availabilityOf(before)
		a := now
		if ch.SetAvailable {
			a.Available, a.UnavailableUntil = ch.Available, ch.Until
		}
		if ch.SetRemaining {
			a.Remaining = ch.Remaining
		}
		if a.same(now) {
			// What the item already is, as it reads (an 86 whose end has
			// passed reads as available, though its row keeps the end):
			// nothing to write.
			out, w = before, MenuWrite{MenuVersion: current}
			return nil
		}
		changed, version, err := setAvailabilityTx(ctx, tx, venue, []ItemAvailability{a})
		if err != nil {
			return err
		}
		w = MenuWrite{MenuVersion: version, Changed: changed}
		if !changed {
			out = before
			return nil
		}
		after, _, err := readItem(ctx, tx, venue, sku)
		if err != nil {
			return err
		}
		out = after
		return appendMenuLog(ctx, tx, venue, menuLog{author: author, kind: audit.MenuKindAvailability, entity: sku}, before, after, version)
	})
	if err != nil {
		return order.MenuItem{}, MenuWrite{}, catalogError("set availability", venue, err)
	}
	if w.Changed {
		s.dropMenu(venue)
	}
	return out, w, nil
}

// author is actor signing with the store's key.
func (s *Store) author(actor order.Actor) MenuAuthor {
	return MenuAuthor{Actor: actor, Key: s.eventKey}
}

// changeMenu applies edit to the venue's catalog in one transaction
// (applyCatalogTx, which logs the change) and hands the catalog after it to
// result.
func (s *Store) changeMenu(ctx context.Context, venue string, edit catalogEdit, log menuLog, result func(VenueCatalog)) (MenuWrite, error) {
	var w MenuWrite
	err := inTx(ctx, s.pool, venueBatch(venue), func(tx pgx.Tx) error {
		ch, err := applyCatalogTx(ctx, tx, venue, edit, true, log)
		if err != nil {
			return err
		}
		w = MenuWrite{MenuVersion: ch.MenuVersion, Changed: ch.Changed()}
		after, err := readCatalogTx(ctx, tx, venue)
		if err != nil {
			return err
		}
		result(after)
		return nil
	})
	if err != nil {
		return MenuWrite{}, catalogError("change menu", venue, err)
	}
	if w.Changed {
		s.dropMenu(venue)
	}
	return w, nil
}

// entityProblems rewrites a catalog's validation problems about one entry
// (its fields start with prefix, e.g. "items[3].") as problems of the
// request body that defines it: "items[3].price_cents" is "price_cents";
// a bound of the list (field list) is the entry's id field. Other errors
// come back as they are.
func entityProblems(err error, prefix, list, idField string) error {
	var verr *order.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	probs := make([]order.FieldProblem, len(verr.Problems))
	for i, p := range verr.Problems {
		switch {
		case strings.HasPrefix(p.Field, prefix):
			p.Field = strings.TrimPrefix(p.Field, prefix)
		case p.Field == list:
			p.Field = idField
		}
		probs[i] = p
	}
	return &order.ValidationError{Problems: probs}
}

func indexOf[T any](xs []T, f func(T) bool) int {
	for i, x := range xs {
		if f(x) {
			return i
		}
	}
	return -1
}

// readCatalogTx reads the venue's catalog inside tx.
func readCatalogTx(ctx context.Context, tx pgx.Tx, venue string) (VenueCatalog, error) {
	var r catalogRows
	b := &batch{}
	if err := r.queue(ctx, b, venue, false); err != nil {
		return VenueCatalog{}, err
	}
	if err := b.sendIn(ctx, tx); err != nil {
		return VenueCatalog{}, err
	}
	return r.catalog(), nil
}

// readItem reads one item of the venue inside tx.
func readItem(ctx context.Context, tx pgx.Tx, venue, sku string) (order.MenuItem, bool, error) {
	var items []dbsqlc.ListCatalogItemsRow
	var groups []dbsqlc.ListItemGroupsRow
	b := &batch{}
	if err := queueItems(ctx, b, venue, &items, &groups); err != nil {
		return order.MenuItem{}, false, err
	}
	if err := b.sendIn(ctx, tx); err != nil {
		return order.MenuItem{}, false, err
	}
	for _, it := range menuItems(items, groups) {
		if it.SKU == sku {
			return it, true, nil
		}
	}
	return order.MenuItem{}, false, nil
}

// menuLog is the menu log row a change appends: its author, the kind and
// id of the entity, and how to find the entity in a catalog (nil: not
// there).
type menuLog struct {
	author       MenuAuthor
	kind, entity string
	pick         func(VenueCatalog) any
	// quiet: no message on pos.<venue>.menu (the seed's rows: it writes
	// the demo venues' menus before anything subscribes).
	quiet bool
}

// catalogLog is the log row of a whole catalog's change.
func catalogLog(venue string, by MenuAuthor) menuLog {
	return menuLog{author: by, kind: audit.MenuKindCatalog, entity: venue,
		pick: func(vc VenueCatalog) any { return vc.Catalog }}
}

// appendCatalogChange appends the log row of a catalog change that took
// the venue from before to menu version version, reading the catalog
// after it in tx.
func appendCatalogChange(ctx context.Context, tx pgx.Tx, venue string, log menuLog, before VenueCatalog, version int64) error {
	after, err := readCatalogTx(ctx, tx, venue)
	if err != nil {
		return err
	}
	return appendMenuLog(ctx, tx, venue, log, log.pick(before), log.pick(after), version)
}

// menuMessage is the body of a message on pos.<venue>.menu: the log row
// and the entity after the change (for a whole catalog's change, null:
// GET /v1/menu has it).
type menuMessage struct {
	Type        string          `json:"type"`
	Venue       string          `json:"venue"`
	Seq         int64           `json:"seq"`
	ID          uuid.UUID       `json:"id"`
	MenuVersion int64           `json:"menu_version"`
	Kind        string          `json:"kind"`
	EntityID    string          `json:"entity_id"`
	Actor       order.Actor     `json:"actor"`
	At          time.Time       `json:"at"`
	After       json.RawMessage `json:"after"`
}

// appendMenuLog appends one change to the venue's menu log in tx (the
// venue's row locked): the next seq, chained to the newest row's hash,
// signed with log.author's key; queues its outbox message (unless
// log.quiet) and the notification that drops every posd's cached menu of
// the venue.
func appendMenuLog(ctx context.Context, tx pgx.Tx, venue string, log menuLog, before, after any, version int64) error {
	q := dbsqlc.New()
	prev, seq := audit.ZeroHash, int64(1)
	head, err := q.MenuLogHead(ctx, tx, venue)
	switch {
	case err == nil:
		prev, seq = head.Hash, head.Seq+1
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("read menu log head: %w", err)
	}
	b, err := json.Marshal(before)
	if err != nil {
		return fmt.Errorf("encode menu change: %w", err)
	}
	a, err := json.Marshal(after)
	if err != nil {
		return fmt.Errorf("encode menu change: %w", err)
	}
	c := audit.MenuChange{Seq: seq, ID: uuid.Must(uuid.NewV7()), At: time.Now().UTC().Truncate(time.Microsecond),
		Actor: log.author.Actor, Kind: log.kind, EntityID: log.entity, Before: string(b), After: string(a), MenuVersion: version}
	h := audit.MenuHash(prev, venue, c)
	var sig []byte
	if log.author.Key != nil {
		sig = audit.SignMenuChange(log.author.Key, venue, h)
	}
	msg := menuMessage{Type: MenuMessageType, Venue: venue, Seq: seq, ID: c.ID, MenuVersion: version, Kind: c.Kind,
		EntityID: c.EntityID, Actor: c.Actor, At: c.At, After: a}
	if c.Kind == audit.MenuKindCatalog {
		msg.After = json.RawMessage("null")
	}
	payload, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode menu message: %w", err)
	}
	if len(payload) > outbox.MaxMessageBytes {
		return tooLarge(len(payload))
	}
	w := &batch{}
	errs := []error{
		queueExec(w, func(db dbsqlc.DBTX) error {
			return q.InsertMenuLog(ctx, db, dbsqlc.InsertMenuLogParams{VenueID: venue, Seq: seq, ID: c.ID, At: c.At,
				ActorDevice: c.Actor.Device, ActorStaff: c.Actor.Staff, ActorRole: c.Actor.Role, Kind: c.Kind,
				EntityID: c.EntityID, Before: b, After: a, MenuVersion: version, Hash: h, Signature: sig})
		}),
		queueExec(w, func(db dbsqlc.DBTX) error {
			return q.NotifyMenuChanged(ctx, db, dbsqlc.NotifyMenuChangedParams{Channel: MenuChannel, VenueID: venue})
		}),
	}
	if !log.quiet {
		errs = append(errs, queueExec(w, func(db dbsqlc.DBTX) error {
			return q.InsertOutbox(ctx, db, dbsqlc.InsertOutboxParams{VenueID: venue, OrderID: c.ID, OrderVersion: version,
				Subjects: []string{natscontract.MenuSubject(venue)}, MsgIds: []string{c.ID.String()},
				MsgTypes: []string{MenuMessageType}, Payloads: [][]byte{payload}})
		}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return w.sendIn(ctx, tx)
}

// MenuLogPage is a page of the venue's menu log after seq after
// (audit.MenuJournal).
func (j Journal) MenuLogPage(ctx context.Context, venue string, after int64, limit int) ([]audit.StoredMenuChange, error) {
	rows, err := j.q.VerifyMenuLog(ctx, j.db, dbsqlc.VerifyMenuLogParams{VenueID: venue, AfterSeq: after, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredMenuChange, len(rows))
	for i, r := range rows {
		out[i] = audit.StoredMenuChange{MenuChange: audit.MenuChange{Seq: r.Seq, ID: r.ID, At: r.At,
			Actor: order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole}, Kind: r.Kind,
			EntityID: r.EntityID, Before: r.Before, After: r.After, MenuVersion: r.MenuVersion}, Hash: r.Hash, Signature: r.Signature}
	}
	return out, nil
}

// MenuVersion is the venue's menu version (audit.MenuJournal).
func (j Journal) MenuVersion(ctx context.Context, venue string) (int64, error) {
	v, err := j.q.GetVenue(ctx, j.db, venue)
	return v.MenuVersion, err
}

// MenuNow is the venue's menu as it is: its items, modifier groups, tax
// classes, service charge and tenders, each item's availability as stored
// (audit.MenuJournal).
func (j Journal) MenuNow(ctx context.Context, venue string) (order.Catalog, error) {
	var r catalogRows
	var err error
	if r.venue, err = j.q.GetVenue(ctx, j.db, venue); err != nil {
		return order.Catalog{}, err
	}
	if r.taxes, err = j.q.ListTaxClasses(ctx, j.db, venue); err != nil {
		return order.Catalog{}, err
	}
	if r.groups, err = j.q.ListModifierGroups(ctx, j.db, venue); err != nil {
		return order.Catalog{}, err
	}
	if r.options, err = j.q.ListModifierOptions(ctx, j.db, venue); err != nil {
		return order.Catalog{}, err
	}
	if r.items, err = j.q.ListCatalogItems(ctx, j.db, venue); err != nil {
		return order.Catalog{}, err
	}
	if r.itemGroups, err = j.q.ListItemGroups(ctx, j.db, venue); err != nil {
		return order.Catalog{}, err
	}
	cat := r.catalog().Catalog
	stored := map[string]dbsqlc.ListCatalogItemsRow{}
	for _, it := range r.items {
		stored[it.Sku] = it
	}
	for i, it := range cat.Items {
		// As stored, not as it reads: an 86 whose end has passed keeps
		// available false and its end.
		row := stored[it.SKU]
		cat.Items[i].Available, cat.Items[i].UnavailableUntil = row.Available, nil
		if row.UnavailableUntil != nil {
			t := row.UnavailableUntil.UTC()
			cat.Items[i].UnavailableUntil = &t
		}
	}
	return cat, nil
}

// MenuChanges are the first of the menu log's rows in [from, to), within
// maxRows and maxBytes, and how many the range has (audit.ShiftJournal).
func (j Journal) MenuChanges(ctx context.Context, venue string, from, to time.Time, maxRows int, maxBytes int64) ([]audit.MenuChange, int64, error) {
	rows, err := j.q.ShiftMenuChanges(ctx, j.db, dbsqlc.ShiftMenuChangesParams{VenueID: venue, FromTime: from, ToTime: to,
		MaxRows: maxRowsParam(maxRows), MaxBytes: maxBytes})
	if err != nil {
		return nil, 0, err
	}
	out, total := firstOfRange(rows, func(r dbsqlc.ShiftMenuChangesRow) (audit.MenuChange, int64) {
		return audit.MenuChange{Seq: r.Seq, At: r.At, Actor: order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole},
			Kind: r.Kind, EntityID: r.EntityID, Before: r.Before, After: r.After, MenuVersion: r.MenuVersion}, r.Total
	})
	return out, total, nil
}
