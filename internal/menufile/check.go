package menufile

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/posd/posd/internal/order"
)

// checker collects the problems of a catalog, each on a field path.
type checker struct{ probs []Problem }

func (v *checker) add(field, format string, args ...any) {
	v.probs = append(v.probs, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

// check applies the file's rules (docs/MENU.md) to a catalog: ids, names,
// ranges, counts, no duplicate ids, and every reference resolved.
func check(c order.Catalog) []Problem {
	v := &checker{}
	v.count("tables", len(c.Tables), 0, MaxTables)
	tables := newIDs()
	for i, t := range c.Tables {
		f := fmt.Sprintf("tables[%d]", i)
		v.id(f+".id", t.ID, order.MaxTableLen)
		tables.add(v, f+".id", t.ID, "table")
		v.name(f+".label", t.Label, order.MaxMenuNameLen)
		v.between(f+".seats", int64(t.Seats), 1, order.MaxGuests)
	}

	v.count("tax_classes", len(c.TaxClasses), 0, MaxTaxClasses)
	taxes := newIDs()
	for i, t := range c.TaxClasses {
		f := fmt.Sprintf("tax_classes[%d]", i)
		v.id(f+".id", t.ID, MaxIDLen)
		taxes.add(v, f+".id", t.ID, "tax class")
		v.name(f+".name", t.Name, order.MaxMenuNameLen)
		v.between(f+".rate_bps", t.RateBps, 0, MaxRateBps)
	}

	if sc := c.ServiceCharge; sc != nil {
		v.between("service_charge.min_guests", int64(sc.MinGuests), 1, order.MaxGuests)
		v.between("service_charge.rate_bps", sc.RateBps, 0, MaxRateBps)
		taxes.ref(v, "service_charge.tax_class", sc.TaxClass, "tax class", "tax_classes")
	}

	v.count("tenders", len(c.Tenders), 1, MaxTenders)
	tenders := newIDs()
	for i, t := range c.Tenders {
		f := fmt.Sprintf("tenders[%d]", i)
		v.id(f, t, MaxIDLen)
		tenders.add(v, f, t, "tender")
	}

	v.count("modifier_groups", len(c.ModifierGroups), 0, MaxModifierGroups)
	groups := newIDs()
	for i, g := range c.ModifierGroups {
		f := fmt.Sprintf("modifier_groups[%d]", i)
		v.id(f+".id", g.ID, MaxIDLen)
		groups.add(v, f+".id", g.ID, "modifier group")
		v.name(f+".name", g.Name, order.MaxMenuNameLen)
		v.count(f+".options", len(g.Options), 1, MaxOptionsPerGroup)
		switch {
		case g.Min < 0:
			v.add(f+".min", "must be 0 or more, not %d", g.Min)
		case g.Min > g.Max:
			v.add(f+".min", "is more than max (%d)", g.Max)
		}
		switch {
		case g.Max < 1:
			v.add(f+".max", "must be 1 or more, not %d", g.Max)
		case g.Max > len(g.Options) && len(g.Options) > 0:
			v.add(f+".max", "is %d, more than the group's %d options", g.Max, len(g.Options))
		}
		options := newIDs()
		for j, o := range g.Options {
			of := fmt.Sprintf("%s.options[%d]", f, j)
			v.id(of+".id", o.ID, MaxIDLen)
			options.add(v, of+".id", o.ID, "option")
			v.name(of+".name", o.Name, order.MaxMenuNameLen)
			v.between(of+".price_cents", o.PriceCents, 0, order.MaxPriceCents)
		}
	}

	v.count("items", len(c.Items), 0, MaxItems)
	skus := newIDs()
	for i, it := range c.Items {
		f := fmt.Sprintf("items[%d]", i)
		v.id(f+".sku", it.SKU, order.MaxSKULen)
		skus.add(v, f+".sku", it.SKU, "sku")
		v.name(f+".name", it.Name, order.MaxMenuNameLen)
		v.name(f+".category", it.Category, MaxCategoryLen)
		v.between(f+".price_cents", it.PriceCents, 0, order.MaxPriceCents)
		switch {
		case it.Station == "":
			v.add(f+".station", "required")
		case !stationPattern.MatchString(it.Station):
			v.add(f+".station", "%q is not a station: 1 to 32 letters, digits, _ or - (it is a NATS subject token)", it.Station)
		}
		taxes.ref(v, f+".tax_class", it.TaxClass, "tax class", "tax_classes")
		v.count(f+".modifier_groups", len(it.ModifierGroups), 0, MaxGroupsPerItem)
		offered := newIDs()
		for j, g := range it.ModifierGroups {
			gf := fmt.Sprintf("%s.modifier_groups[%d]", f, j)
			groups.ref(v, gf, g, "modifier group", "modifier_groups")
			offered.add(v, gf, g, "modifier group")
		}
	}
	return v.probs
}

func (v *checker) count(field string, n, min, max int) {
	switch {
	case n < min && min == 1:
		v.add(field, "required: at least one")
	case n < min:
		v.add(field, "at least %d, not %d", min, n)
	case n > max:
		v.add(field, "at most %d, not %d", max, n)
	}
}

func (v *checker) between(field string, n, min, max int64) {
	if n < min || n > max {
		v.add(field, "must be between %d and %d, not %d", min, max, n)
	}
}

// id checks an id: required, letters, digits, _ and -, at most max
// characters.
func (v *checker) id(field, s string, max int) {
	switch {
	case s == "":
		v.add(field, "required")
	case len(s) > max:
		v.add(field, "%q is longer than %d characters", s, max)
	case !idPattern.MatchString(s):
		v.add(field, "%q is not an id: use letters, digits, _ and - only", s)
	}
}

// name checks a name: required, not blank, no control characters, at most
// max characters.
func (v *checker) name(field, s string, max int) {
	switch {
	case strings.TrimSpace(s) == "":
		v.add(field, "required")
	case !utf8.ValidString(s):
		v.add(field, "is not valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		v.add(field, "is %d characters, more than %d", utf8.RuneCountInString(s), max)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		v.add(field, "must not contain control characters (tabs, line breaks)")
	}
}

// ids is the set of one kind's ids, each with the field that gave it, and
// their order.
type ids struct {
	at    map[string]string
	order []string
}

func newIDs() *ids { return &ids{at: map[string]string{}} }

// add records id given at field, reporting it when it was given before.
func (s *ids) add(v *checker, field, id, what string) {
	if id == "" {
		return
	}
	if first, ok := s.at[id]; ok {
		v.add(field, "duplicate %s %q (%s has it too)", what, id, first)
		return
	}
	s.at[id] = field
	s.order = append(s.order, id)
}

// ref checks that field names one of the ids, listed under list.
func (s *ids) ref(v *checker, field, id, what, list string) {
	switch {
	case id == "":
		v.add(field, "required")
	case s.at[id] == "" && len(s.order) == 0:
		v.add(field, "unknown %s %q: %s is empty", what, id, list)
	case s.at[id] == "":
		v.add(field, "unknown %s %q (%s has %s)", what, id, list, s.names())
	}
}

// names lists the ids in the order they were given, at most ten.
func (s *ids) names() string {
	if len(s.order) > 10 {
		return strings.Join(s.order[:10], ", ") + fmt.Sprintf(", … (%d in all)", len(s.order))
	}
	return strings.Join(s.order, ", ")
}
