package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	// MenuNow is the venue's menu as it is: its items and modifier groups.
	MenuNow(ctx context.Context, venue string) ([]order.MenuItem, []order.ModifierGroup, error)
}

// menuState is the menu as the log says it is: each entity's definition in
// its last row (and that row's seq). complete: a whole catalog was logged,
// so every entity of the menu must be in the log.
type menuState struct {
	items    map[string]order.MenuItem
	groups   map[string]order.ModifierGroup
	itemSeq  map[string]int64
	groupSeq map[string]int64
	complete bool
}

// apply follows one row; an after that is not the entity's JSON is its
// reason to fail.
func (m *menuState) apply(r MenuChange) string {
	switch r.Kind {
	case MenuKindItem, MenuKindAvailability:
		m.itemSeq[r.EntityID] = r.Seq
		if r.After == "null" {
			delete(m.items, r.EntityID)
			return ""
		}
		var it order.MenuItem
		if json.Unmarshal([]byte(r.After), &it) != nil || it.SKU != r.EntityID {
			return "after is not the JSON of item " + strconv.Quote(r.EntityID)
		}
		m.items[r.EntityID] = it
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
		if json.Unmarshal([]byte(r.After), &c) != nil {
			return "after is not the JSON of a catalog"
		}
		clear(m.items)
		clear(m.groups)
		for _, it := range c.Items {
			m.items[it.SKU], m.itemSeq[it.SKU] = it, r.Seq
		}
		for _, g := range c.ModifierGroups {
			m.groups[g.ID], m.groupSeq[g.ID] = g, r.Seq
		}
		m.complete = true
	default:
		return "unknown kind " + strconv.Quote(r.Kind)
	}
	return ""
}

// itemDiff names the first definition field where a and b differ: the
// definition and version, not the running state (availability, portions),
// which orders and time change without a row.
func itemDiff(a, b order.MenuItem) string {
	switch {
	case a.Name != b.Name:
		return "name"
	case a.Category != b.Category:
		return "category"
	case a.PriceCents != b.PriceCents:
		return "price_cents"
	case a.Station != b.Station:
		return "station"
	case a.TaxClass != b.TaxClass:
		return "tax_class"
	case !slices.Equal(a.ModifierGroups, b.ModifierGroups):
		return "modifier_groups"
	case a.Version != b.Version:
		return "version"
	}
	return ""
}

func groupDiff(a, b order.ModifierGroup) string {
	switch {
	case a.Name != b.Name:
		return "name"
	case a.Min != b.Min:
		return "min"
	case a.Max != b.Max:
		return "max"
	case !slices.Equal(a.Options, b.Options):
		return "options"
	case a.Version != b.Version:
		return "version"
	}
	return ""
}

// checkMenuState holds the menu as it is against the menu as the log says:
// every entity the log knows has the definition and version of its last
// row, and, once a whole catalog was logged, every entity of the menu is in
// the log. It names the row an entity was last logged in.
func checkMenuState(ctx context.Context, j MenuJournal, venue string, m *menuState, lastSeq int64) (*Broken, error) {
	items, groups, err := j.MenuNow(ctx, venue)
	if err != nil {
		return nil, fmt.Errorf("read the menu: %w", err)
	}
	behind := func(seq int64, format string, args ...any) *Broken {
		return &Broken{MenuSeq: seq, Reason: fmt.Sprintf(format, args...) + ": the menu was changed behind the menu log's back"}
	}
	seen := map[string]bool{}
	for _, it := range items {
		seen[it.SKU] = true
		want, ok := m.items[it.SKU]
		switch {
		case !ok && (m.complete || m.itemSeq[it.SKU] != 0):
			seq := m.itemSeq[it.SKU]
			if seq == 0 {
				seq = lastSeq
			}
			return behind(seq, "item %q is on the menu but not in the menu log", it.SKU), nil
		case ok:
			if f := itemDiff(want, it); f != "" {
				return behind(m.itemSeq[it.SKU], "item %q has another %s than its last menu log row", it.SKU, f), nil
			}
		}
	}
	for sku := range m.items {
		if !seen[sku] {
			return behind(m.itemSeq[sku], "item %q is in the menu log but not on the menu", sku), nil
		}
	}
	seen = map[string]bool{}
	for _, g := range groups {
		seen[g.ID] = true
		want, ok := m.groups[g.ID]
		switch {
		case !ok && (m.complete || m.groupSeq[g.ID] != 0):
			seq := m.groupSeq[g.ID]
			if seq == 0 {
				seq = lastSeq
			}
			return behind(seq, "modifier group %q is on the menu but not in the menu log", g.ID), nil
		case ok:
			if f := groupDiff(want, g); f != "" {
				return behind(m.groupSeq[g.ID], "modifier group %q has other %s than its last menu log row", g.ID, f), nil
			}
		}
	}
	for id := range m.groups {
		if !seen[id] {
			return behind(m.groupSeq[id], "modifier group %q is in the menu log but not on the menu", id), nil
		}
	}
	return nil, nil
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
		itemSeq: map[string]int64{}, groupSeq: map[string]int64{}}
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
