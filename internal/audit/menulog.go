package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// The menu log (DESIGN.md section 9): one row per change of a venue's menu,
// numbered per venue (seq 1, 2, ...) and chained per venue like an order's
// events, signed like them. docs/AUDIT.md, "The menu log", specifies the
// encoding.

// Tags that start a menu log row's hashed record and its signed message.
const (
	menuTag          = "posd.menu.v1"
	menuSignatureTag = "posd.menu-signature.v1"
)

// Menu change kinds (menu_log.kind).
const (
	MenuKindItem          = "item"
	MenuKindModifierGroup = "modifier_group"
	MenuKindAvailability  = "availability"
	MenuKindCatalog       = "catalog"
)

// RoleOperator is the actor role of menu changes the table owner makes
// (posd menu import, posd seed): posd's own database role may not append
// them, and they may be unsigned.
const RoleOperator = "operator"

// MenuChange is one menu log row as hashed: Before and After are the exact
// JSON text stored (null: the entity did not exist).
type MenuChange struct {
	Seq         int64       `json:"seq"`
	ID          uuid.UUID   `json:"id"`
	At          time.Time   `json:"at"`
	Actor       order.Actor `json:"actor"`
	Kind        string      `json:"kind"`
	EntityID    string      `json:"entity_id"`
	Before      string      `json:"-"`
	After       string      `json:"-"`
	MenuVersion int64       `json:"menu_version"`
}

// StoredMenuChange is a menu log row as stored.
type StoredMenuChange struct {
	MenuChange
	Hash, Signature []byte
}

// MenuHash is the chain link of menu log row c of venue: SHA-256 over prev
// (the previous row's hash, ZeroHash for seq 1) followed by the row's
// fields as netstrings.
func MenuHash(prev []byte, venue string, c MenuChange) []byte {
	buf := make([]byte, 0, 256+len(c.Before)+len(c.After))
	buf = append(buf, prev...)
	buf = netstrings(buf, menuTag, venue, strconv.FormatInt(c.Seq, 10), c.ID.String(), c.At.UTC().Format(TimeLayout),
		c.Actor.Device, c.Actor.Staff, c.Actor.Role, c.Kind, c.EntityID, strconv.FormatInt(c.MenuVersion, 10),
		c.Before, c.After)
	sum := sha256.Sum256(buf)
	return sum[:]
}

func menuSignedMessage(venue string, h []byte) []byte {
	return netstrings(nil, menuSignatureTag, venue, hex.EncodeToString(h))
}

// SignMenuChange is the signature of venue's menu log row whose chain hash
// is h.
func SignMenuChange(key ed25519.PrivateKey, venue string, h []byte) []byte {
	return ed25519.Sign(key, menuSignedMessage(venue, h))
}

// MenuJournal is what Verify reads of a venue's menu log.
type MenuJournal interface {
	// MenuLogPage is a page of at most limit rows after seq after, by seq.
	MenuLogPage(ctx context.Context, venue string, after int64, limit int) ([]StoredMenuChange, error)
	// MenuVersion is the venue's current menu version.
	MenuVersion(ctx context.Context, venue string) (int64, error)
	// MenuNow is the venue's menu as it is: its items, modifier groups,
	// tax classes, service charge and tenders (not its tables, which are
	// no part of the menu). An item's Available and UnavailableUntil are
	// as stored: an 86 whose end has passed keeps available false and its
	// end, though the item reads as available.
	MenuNow(ctx context.Context, venue string) (order.Catalog, error)
}

// menuState is the menu as the log says it is: each entity's definition in
// its last row (and that row's seq), and the last whole catalog logged
// (catalogSeq 0: none was), whose tax classes, service charge and tenders
// no other kind of row changes. Once a whole catalog was logged, every
// entity of the menu must be in the log.
type menuState struct {
	items      map[string]order.MenuItem
	groups     map[string]order.ModifierGroup
	itemSeq    map[string]int64
	groupSeq   map[string]int64
	itemAvail  map[string]loggedAvailability
	catalog    order.Catalog
	catalogSeq int64
}

// loggedAvailability is an item's availability as a menu log row records
// it: the item as it read when the row was logged (at), so an 86 whose end
// had passed then reads as available. known is false for a row without
// it (one written before availability was logged).
type loggedAvailability struct {
	known     bool
	available bool
	until     *time.Time
	at        time.Time
}

// availabilityIn reads the availability an item's JSON in a row logged at
// at records.
func availabilityIn(item []byte, at time.Time) loggedAvailability {
	var a struct {
		Available        *bool      `json:"available"`
		UnavailableUntil *time.Time `json:"unavailable_until"`
	}
	if json.Unmarshal(item, &a) != nil || a.Available == nil {
		return loggedAvailability{}
	}
	return loggedAvailability{known: true, available: *a.Available, until: a.UnavailableUntil, at: at}
}

// apply follows one row; an after that is not the entity's JSON is its
// reason to fail.
func (m *menuState) apply(r MenuChange) string {
	switch r.Kind {
	case MenuKindItem, MenuKindAvailability:
		m.itemSeq[r.EntityID] = r.Seq
		if r.After == "null" {
			delete(m.items, r.EntityID)
			delete(m.itemAvail, r.EntityID)
			return ""
		}
		var it order.MenuItem
		if json.Unmarshal([]byte(r.After), &it) != nil || it.SKU != r.EntityID {
			return "after is not the JSON of item " + strconv.Quote(r.EntityID)
		}
		m.items[r.EntityID] = it
		m.itemAvail[r.EntityID] = availabilityIn([]byte(r.After), r.At)
	case MenuKindModifierGroup:
		m.groupSeq[r.EntityID] = r.Seq
		if r.After == "null" {
			delete(m.groups, r.EntityID)
			return ""
		}
		var g order.ModifierGroup
		if json.Unmarshal([]byte(r.After), &g) != nil || g.ID != r.EntityID {
			return "after is not the JSON of modifier group " + strconv.Quote(r.EntityID)
		}
		m.groups[r.EntityID] = g
	case MenuKindCatalog:
		var c order.Catalog
		var raw struct {
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal([]byte(r.After), &c) != nil || json.Unmarshal([]byte(r.After), &raw) != nil {
			return "after is not the JSON of a catalog"
		}
		clear(m.items)
		clear(m.groups)
		clear(m.itemAvail)
		for i, it := range c.Items {
			m.items[it.SKU], m.itemSeq[it.SKU] = it, r.Seq
			m.itemAvail[it.SKU] = availabilityIn(raw.Items[i], r.At)
		}
		for _, g := range c.ModifierGroups {
			m.groups[g.ID], m.groupSeq[g.ID] = g, r.Seq
		}
		m.catalog, m.catalogSeq = c, r.Seq
	default:
		return "unknown kind " + strconv.Quote(r.Kind)
	}
	return ""
}

// fieldDiff is one field compared between the menu as it is (now) and as
// its last menu log row says (logged).
type fieldDiff struct {
	name   string
	differ bool
	// now and logged are shown when show is set; plural: a list.
	now, logged any
	show        bool
	plural      bool
}

// same compares a single value.
func same[T comparable](name string, now, logged T) fieldDiff {
	return fieldDiff{name: name, differ: now != logged, now: now, logged: logged, show: true}
}

// sameTime compares a time that may be unset (nil).
func sameTime(name string, now, logged *time.Time) fieldDiff {
	differ := (now == nil) != (logged == nil) || now != nil && !now.Equal(*logged)
	return fieldDiff{name: name, differ: differ, now: now, logged: logged, show: true}
}

// sameList compares a list, whose values are shown when show is set (a
// short list of ids; not options).
func sameList[T comparable](name string, now, logged []T, show bool) fieldDiff {
	return fieldDiff{name: name, differ: !slices.Equal(now, logged), now: now, logged: logged, show: show, plural: true}
}

// firstDiff describes the first field of fs that differs, for the entity
// what ("" when none does): `item "steak" has another price_cents than its
// last menu log row (1; the row says 2400)`.
func firstDiff(what string, fs ...fieldDiff) string {
	for _, f := range fs {
		if !f.differ {
			continue
		}
		other := "another"
		if f.plural {
			other = "other"
		}
		s := fmt.Sprintf("%s has %s %s than its last menu log row", what, other, f.name)
		if f.show {
			s += fmt.Sprintf(" (%s; the row says %s)", jsonText(f.now), jsonText(f.logged))
		}
		return s
	}
	return ""
}

// jsonText is v as JSON, unescaped for HTML.
func jsonText(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// itemDiff compares an item's definition, availability (availabilityDiff)
// and version with its last row's; not its portions, which every sale
// changes without a row.
func itemDiff(now, logged order.MenuItem, avail loggedAvailability) string {
	fs := []fieldDiff{
		same("name", now.Name, logged.Name),
		same("category", now.Category, logged.Category),
		same("price_cents", now.PriceCents, logged.PriceCents),
		same("station", now.Station, logged.Station),
		same("tax_class", now.TaxClass, logged.TaxClass),
		sameList("modifier_groups", now.ModifierGroups, logged.ModifierGroups, true),
	}
	fs = append(fs, availabilityDiff(now, avail)...)
	return firstDiff(fmt.Sprintf("item %q", now.SKU), append(fs, same("version", now.Version, logged.Version))...)
}

// availabilityDiff compares an item's stored availability (now: available
// and unavailable_until as its row holds them) with what its last log row
// records, which only availability writes and imports change, each with a
// row. The row records the item as it read then, so a row that says
// available agrees with a stored 86 whose end had passed when it was
// logged. A row that does not record availability is not compared.
func availabilityDiff(now order.MenuItem, logged loggedAvailability) []fieldDiff {
	lapsed := !now.Available && now.UnavailableUntil != nil && !now.UnavailableUntil.After(logged.at)
	if !logged.known || logged.available && logged.until == nil && lapsed {
		return nil
	}
	return []fieldDiff{same("available", now.Available, logged.available),
		sameTime("unavailable_until", now.UnavailableUntil, logged.until)}
}

func groupDiff(now, logged order.ModifierGroup) string {
	return firstDiff(fmt.Sprintf("modifier group %q", now.ID),
		same("name", now.Name, logged.Name),
		same("min", now.Min, logged.Min),
		same("max", now.Max, logged.Max),
		sameList("options", now.Options, logged.Options, false),
		same("version", now.Version, logged.Version))
}

func taxDiff(now, logged order.TaxClass) string {
	return firstDiff(fmt.Sprintf("tax class %q", now.ID),
		same("name", now.Name, logged.Name),
		same("rate_bps", now.RateBps, logged.RateBps),
		same("inclusive", now.Inclusive, logged.Inclusive))
}

// settingsDiff compares the venue's service charge (none: all zero) and
// tenders.
func settingsDiff(now, logged order.Catalog) string {
	sc := func(c order.Catalog) order.ServiceCharge {
		if c.ServiceCharge == nil {
			return order.ServiceCharge{}
		}
		return *c.ServiceCharge
	}
	a, b := sc(now), sc(logged)
	if d := firstDiff("the service charge", same("min_guests", a.MinGuests, b.MinGuests),
		same("rate_bps", a.RateBps, b.RateBps), same("tax_class", a.TaxClass, b.TaxClass)); d != "" {
		return d
	}
	return firstDiff("the venue", sameList("tenders", now.Tenders, logged.Tenders, true))
}

// entityCheck holds one list of the menu as it is against the menu as the
// log says: each entry the log knows (logged, last logged at seq[id]) has
// the definition diff compares, none is missing, and, once complete (a
// whole catalog was logged, at lastSeq), none is on the menu without a
// row. It returns the first difference and the row to name.
func entityCheck[T any](what string, now []T, logged map[string]T, seq map[string]int64, complete bool, lastSeq int64,
	id func(T) string, diff func(now, logged T) string) (string, int64) {
	seen := map[string]bool{}
	for _, x := range now {
		k := id(x)
		seen[k] = true
		want, ok := logged[k]
		switch {
		case !ok && (complete || seq[k] != 0):
			s := seq[k]
			if s == 0 {
				s = lastSeq
			}
			return fmt.Sprintf("%s %q is on the menu but not in the menu log", what, k), s
		case ok:
			if d := diff(x, want); d != "" {
				return d, seq[k]
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(logged)) {
		if !seen[k] {
			return fmt.Sprintf("%s %q is in the menu log but not on the menu", what, k), seq[k]
		}
	}
	return "", 0
}

// checkMenuState holds the menu as it is against the menu as the log says:
// its items and groups (entityCheck), and, once a whole catalog was
// logged, its tax classes, service charge and tenders against that
// catalog's. It names the row an entity was last logged in.
func checkMenuState(ctx context.Context, j MenuJournal, venue string, m *menuState, lastSeq int64) (*Broken, error) {
	now, err := j.MenuNow(ctx, venue)
	if err != nil {
		return nil, fmt.Errorf("read the menu: %w", err)
	}
	complete := m.catalogSeq != 0
	reason, seq := entityCheck("item", now.Items, m.items, m.itemSeq, complete, lastSeq,
		func(it order.MenuItem) string { return it.SKU },
		func(now, logged order.MenuItem) string { return itemDiff(now, logged, m.itemAvail[now.SKU]) })
	if reason == "" {
		reason, seq = entityCheck("modifier group", now.ModifierGroups, m.groups, m.groupSeq, complete, lastSeq,
			func(g order.ModifierGroup) string { return g.ID }, groupDiff)
	}
	if reason == "" && complete {
		taxes, taxSeq := map[string]order.TaxClass{}, map[string]int64{}
		for _, t := range m.catalog.TaxClasses {
			taxes[t.ID], taxSeq[t.ID] = t, m.catalogSeq
		}
		reason, seq = entityCheck("tax class", now.TaxClasses, taxes, taxSeq, true, m.catalogSeq,
			func(t order.TaxClass) string { return t.ID }, taxDiff)
		if reason == "" {
			reason, seq = settingsDiff(now, m.catalog), m.catalogSeq
		}
	}
	if reason == "" {
		return nil, nil
	}
	return &Broken{MenuSeq: seq, Reason: reason + ": the menu was changed behind the menu log's back"}, nil
}

// checkMenuLog verifies venue's menu log: seq 1..n without gaps, each hash
// over the previous one and the row, each row signed by one of keys (when
// keys are given; an operator's row may be unsigned, and is counted),
// menu versions growing, the last row at the venue's menu version (so a
// removed newest row is seen too), and the menu as it is against the menu
// as the log says (checkMenuState). It returns the first broken link.
func checkMenuLog(ctx context.Context, j MenuJournal, venue string, keys []ed25519.PublicKey, res *Result) (*Broken, error) {
	prev := ZeroHash
	var seq, version int64
	state := &menuState{items: map[string]order.MenuItem{}, groups: map[string]order.ModifierGroup{},
		itemSeq: map[string]int64{}, groupSeq: map[string]int64{}, itemAvail: map[string]loggedAvailability{}}
	for {
		rows, err := j.MenuLogPage(ctx, venue, seq, verifyPage)
		if err != nil {
			return nil, fmt.Errorf("read the menu log: %w", err)
		}
		for _, r := range rows {
			b := &Broken{MenuSeq: r.Seq}
			switch {
			case r.Seq != seq+1:
				b.Reason = fmt.Sprintf("menu log row %d follows row %d: menu changes are missing", r.Seq, seq)
				return b, nil
			case !bytes.Equal(MenuHash(prev, venue, r.MenuChange), r.Hash):
				b.Reason = fmt.Sprintf("menu log row %d (%s %s): hash does not match the row's content and the previous row", r.Seq, r.Kind, r.EntityID)
				return b, nil
			case r.MenuVersion <= version:
				b.Reason = fmt.Sprintf("menu log row %d is at menu version %d, not after the previous row's %d", r.Seq, r.MenuVersion, version)
				return b, nil
			}
			if len(keys) > 0 {
				switch {
				case r.Signature == nil && r.Actor.Role == RoleOperator:
					res.UnsignedMenuChanges++
				case r.Signature == nil:
					b.Reason = fmt.Sprintf("menu log row %d is not signed: not written by posd", r.Seq)
					return b, nil
				case !anyKey(keys, menuSignedMessage(venue, r.Hash), r.Signature):
					b.Reason = fmt.Sprintf("menu log row %d has a signature that does not verify with the public key: not written by posd (or another key)", r.Seq)
					return b, nil
				}
			}
			if reason := state.apply(r.MenuChange); reason != "" {
				b.Reason = fmt.Sprintf("menu log row %d: %s", r.Seq, reason)
				return b, nil
			}
			prev, seq, version = r.Hash, r.Seq, r.MenuVersion
			res.MenuChangesChecked++
		}
		if len(rows) < verifyPage {
			break
		}
	}
	if seq == 0 {
		return nil, nil // no change since the log began
	}
	cur, err := j.MenuVersion(ctx, venue)
	if err != nil {
		return nil, fmt.Errorf("read the menu version: %w", err)
	}
	if cur != version {
		return &Broken{MenuSeq: seq + 1, Reason: fmt.Sprintf(
			"the venue's menu is at version %d but its menu log ends at version %d (row %d): menu changes are missing from the log", cur, version, seq)}, nil
	}
	return checkMenuState(ctx, j, venue, state, seq)
}

// MenuChangeEntry is one menu change as the shift report lists it: who
// (staff, device, role), when, which entity, the fields that changed and
// the entity before and after (null: it did not exist).
type MenuChangeEntry struct {
	Seq         int64           `json:"seq"`
	MenuVersion int64           `json:"menu_version"`
	At          time.Time       `json:"at"`
	By          string          `json:"by"`
	Device      string          `json:"device"`
	Role        string          `json:"role"`
	Kind        string          `json:"kind"`
	ID          string          `json:"id"`
	Fields      []string        `json:"fields"`
	Before      json.RawMessage `json:"before"`
	After       json.RawMessage `json:"after"`
}

// menuEntry makes the report's entry of a stored change.
func menuEntry(c MenuChange) (MenuChangeEntry, error) {
	e := MenuChangeEntry{Seq: c.Seq, MenuVersion: c.MenuVersion, At: c.At.UTC(), By: c.Actor.Staff, Device: c.Actor.Device,
		Role: c.Actor.Role, Kind: c.Kind, ID: c.EntityID, Before: json.RawMessage(c.Before), After: json.RawMessage(c.After)}
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal([]byte(c.Before), &before); err != nil {
		return e, fmt.Errorf("decode menu log row %d: %w", c.Seq, err)
	}
	if err := json.Unmarshal([]byte(c.After), &after); err != nil {
		return e, fmt.Errorf("decode menu log row %d: %w", c.Seq, err)
	}
	e.Fields = changedFields(before, after)
	return e, nil
}

// changedFields lists, sorted, the members whose values differ between a
// and b (either may be nil: every member of the other).
func changedFields(a, b map[string]json.RawMessage) []string {
	out := []string{}
	seen := map[string]bool{}
	for _, m := range []map[string]json.RawMessage{a, b} {
		for k := range m {
			if seen[k] || k == "version" {
				continue
			}
			seen[k] = true
			x, okx := a[k]
			y, oky := b[k]
			if okx != oky || !jsonEqual(x, y) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	var x, y bytes.Buffer
	if json.Compact(&x, a) != nil || json.Compact(&y, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(x.Bytes(), y.Bytes())
}
