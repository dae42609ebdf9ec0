package menufile

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/posd/posd/internal/order"
)

// What a Change does.
const (
	Add    = "add"
	Update = "change"
	Remove = "remove"
)

// What a Change is about.
const (
	KindTable         = "table"
	KindTaxClass      = "tax class"
	KindServiceCharge = "service charge"
	KindTender        = "tender"
	KindModifierGroup = "modifier group"
	KindItem          = "item"
)

// Change is one thing an import would change: an Action (Add, Update,
// Remove) on the Kind of thing with the ID, and for an Update what changed,
// each as "field old → new".
type Change struct {
	Action  string
	Kind    string
	ID      string
	Details []string
}

// String is the change in words, as posd menu import prints it:
// "change item steak: price_cents 2400 → 2600".
func (c Change) String() string {
	s := c.Action + " " + c.Kind
	if c.ID != "" {
		s += " " + c.ID
	}
	if len(c.Details) > 0 {
		s += ": " + strings.Join(c.Details, "; ")
	}
	return s
}

// Diff lists what importing next over prev would change, empty when they
// hold the same: tables, tax classes, service charge, tenders, modifier
// groups and items, in that order, each kind's additions and changes in
// next's order, then its removals in prev's. A new order of a list is a
// change too ("change order of items: …"): the handheld shows every list in
// its file's order, except the tables, which it lists by id. Versions,
// availability and remaining portions are the running menu's and are not
// compared.
func Diff(prev, next order.Catalog) []Change {
	var cs []Change
	cs = append(cs, tableKind.diff(prev.Tables, next.Tables)...)
	cs = append(cs, taxClassKind.diff(prev.TaxClasses, next.TaxClasses)...)
	cs = append(cs, diffServiceCharge(prev.ServiceCharge, next.ServiceCharge)...)
	cs = append(cs, tenderKind.diff(prev.Tenders, next.Tenders)...)
	cs = append(cs, groupKind.diff(prev.ModifierGroups, next.ModifierGroups)...)
	cs = append(cs, itemKind.diff(prev.Items, next.Items)...)
	return cs
}

// keyed is a kind of thing compared by id: show says what an added one is,
// details what differs between two versions of one (nothing when they are
// the same); unordered, that the order of its list is not part of the menu.
type keyed[T any] struct {
	kind      string
	id        func(T) string
	show      func(T) string
	details   func(a, b T) []string
	unordered bool
}

var (
	tableKind = keyed[order.Table]{KindTable, func(t order.Table) string { return t.ID },
		func(t order.Table) string { return fmt.Sprintf("%q, %d seats", t.Label, t.Seats) }, diffTable, true}
	taxClassKind = keyed[order.TaxClass]{KindTaxClass, func(t order.TaxClass) string { return t.ID },
		func(t order.TaxClass) string {
			return fmt.Sprintf("%q, %d bps, %s", t.Name, t.RateBps, inclusive(t.Inclusive))
		}, diffTaxClass, false}
	tenderKind = keyed[string]{KindTender, func(t string) string { return t },
		func(string) string { return "" }, func(string, string) []string { return nil }, false}
	groupKind = keyed[order.ModifierGroup]{KindModifierGroup, func(g order.ModifierGroup) string { return g.ID },
		func(g order.ModifierGroup) string {
			return fmt.Sprintf("%q, choose %d to %d of %s", g.Name, g.Min, g.Max, strings.Join(optionIDs(g.Options), ", "))
		}, diffGroup, false}
	optionKind = keyed[order.ModifierOption]{"option", func(o order.ModifierOption) string { return o.ID },
		func(o order.ModifierOption) string { return fmt.Sprintf("%q, %d cents", o.Name, o.PriceCents) }, diffOption, false}
	itemKind = keyed[order.MenuItem]{KindItem, func(it order.MenuItem) string { return it.SKU },
		func(it order.MenuItem) string {
			return fmt.Sprintf("%q, %s, %d cents, station %s, tax class %s", it.Name, it.Category, it.PriceCents, it.Station, it.TaxClass)
		}, diffItem, false}
)

func (k keyed[T]) diff(prev, next []T) []Change {
	old := make(map[string]T, len(prev))
	for _, p := range prev {
		old[k.id(p)] = p
	}
	var cs []Change
	kept := make(map[string]bool, len(next))
	for _, n := range next {
		id := k.id(n)
		kept[id] = true
		p, ok := old[id]
		switch {
		case !ok:
			c := Change{Action: Add, Kind: k.kind, ID: id}
			if s := k.show(n); s != "" {
				c.Details = []string{s}
			}
			cs = append(cs, c)
		case len(k.details(p, n)) > 0:
			cs = append(cs, Change{Action: Update, Kind: k.kind, ID: id, Details: k.details(p, n)})
		}
	}
	var before, after []string
	for _, p := range prev {
		if id := k.id(p); !kept[id] {
			cs = append(cs, Change{Action: Remove, Kind: k.kind, ID: id})
		} else {
			before = append(before, id)
		}
	}
	for _, n := range next {
		if _, ok := old[k.id(n)]; ok {
			after = append(after, k.id(n))
		}
	}
	if !k.unordered && strings.Join(before, "\x00") != strings.Join(after, "\x00") {
		cs = append(cs, Change{Action: Update, Kind: "order of " + k.plural(), Details: []string{moved(before, after)}})
	}
	return cs
}

func (k keyed[T]) plural() string {
	if k.kind == KindTaxClass {
		return "tax classes"
	}
	return k.kind + "s"
}

// moved says how a list's order changed: the ids from the first one that
// moved, at most ten of them.
func moved(before, after []string) string {
	i := 0
	for i < len(before) && before[i] == after[i] {
		i++
	}
	short := func(ids []string) string {
		ids = ids[i:]
		if len(ids) > 10 {
			return strings.Join(ids[:10], ", ") + ", …"
		}
		return strings.Join(ids, ", ")
	}
	prefix := ""
	if i > 0 {
		prefix = "…, "
	}
	return prefix + short(before) + " → " + prefix + short(after)
}

func inclusive(b bool) string {
	if b {
		return "inclusive"
	}
	return "exclusive"
}

func optionIDs(os []order.ModifierOption) []string {
	ids := make([]string, len(os))
	for i, o := range os {
		ids[i] = o.ID
	}
	return ids
}

// fields accumulates "field old → new" for the fields that differ.
type fields []string

func (f *fields) str(name, a, b string) {
	if a != b {
		*f = append(*f, fmt.Sprintf("%s %q → %q", name, a, b))
	}
}

func (f *fields) int(name string, a, b int64) {
	if a != b {
		*f = append(*f, fmt.Sprintf("%s %d → %d", name, a, b))
	}
}

func (f *fields) bool(name string, a, b bool) {
	if a != b {
		*f = append(*f, fmt.Sprintf("%s %t → %t", name, a, b))
	}
}

func (f *fields) list(name string, a, b []string) {
	if strings.Join(a, "\x00") != strings.Join(b, "\x00") || len(a) != len(b) {
		*f = append(*f, fmt.Sprintf("%s [%s] → [%s]", name, strings.Join(a, ", "), strings.Join(b, ", ")))
	}
}

func diffTable(a, b order.Table) []string {
	var f fields
	f.str("label", a.Label, b.Label)
	f.int("seats", int64(a.Seats), int64(b.Seats))
	return f
}

func diffTaxClass(a, b order.TaxClass) []string {
	var f fields
	f.str("name", a.Name, b.Name)
	f.int("rate_bps", a.RateBps, b.RateBps)
	f.bool("inclusive", a.Inclusive, b.Inclusive)
	return f
}

func diffServiceCharge(a, b *order.ServiceCharge) []Change {
	a, b = serviceCharge(a), serviceCharge(b)
	switch {
	case a == nil && b == nil:
		return nil
	case a == nil:
		return []Change{{Action: Add, Kind: KindServiceCharge, Details: []string{
			fmt.Sprintf("%d bps for %d guests or more, tax class %s", b.RateBps, b.MinGuests, b.TaxClass)}}}
	case b == nil:
		return []Change{{Action: Remove, Kind: KindServiceCharge}}
	}
	var f fields
	f.int("min_guests", int64(a.MinGuests), int64(b.MinGuests))
	f.int("rate_bps", a.RateBps, b.RateBps)
	f.str("tax_class", a.TaxClass, b.TaxClass)
	if len(f) == 0 {
		return nil
	}
	return []Change{{Action: Update, Kind: KindServiceCharge, Details: f}}
}

// serviceCharge is sc, or nil for none (a MinGuests of 0 is none too).
func serviceCharge(sc *order.ServiceCharge) *order.ServiceCharge {
	if sc == nil || sc.MinGuests == 0 {
		return nil
	}
	return sc
}

func diffGroup(a, b order.ModifierGroup) []string {
	var f fields
	f.str("name", a.Name, b.Name)
	f.int("min", int64(a.Min), int64(b.Min))
	f.int("max", int64(a.Max), int64(b.Max))
	for _, c := range optionKind.diff(a.Options, b.Options) {
		f = append(f, c.String())
	}
	return f
}

func diffOption(a, b order.ModifierOption) []string {
	var f fields
	f.str("name", a.Name, b.Name)
	f.int("price_cents", a.PriceCents, b.PriceCents)
	return f
}

func diffItem(a, b order.MenuItem) []string {
	var f fields
	f.str("name", a.Name, b.Name)
	f.str("category", a.Category, b.Category)
	f.int("price_cents", a.PriceCents, b.PriceCents)
	f.str("station", a.Station, b.Station)
	f.str("tax_class", a.TaxClass, b.TaxClass)
	f.list("modifier_groups", a.ModifierGroups, b.ModifierGroups)
	return f
}

// Summary counts the changes by action, "2 added, 1 changed, 0 removed".
func Summary(cs []Change) string {
	var add, upd, rem int
	for _, c := range cs {
		switch c.Action {
		case Add:
			add++
		case Update:
			upd++
		case Remove:
			rem++
		}
	}
	return strconv.Itoa(add) + " added, " + strconv.Itoa(upd) + " changed, " + strconv.Itoa(rem) + " removed"
}
