package order

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	_ "time/tzdata" // venue time zones must resolve on hosts without a zone database
	"unicode/utf8"

	"golang.org/x/text/currency"
)

// Bounds on a venue's catalog (DESIGN.md section 9, invariant 12). The
// schema enforces each (db/schema/0002_catalog.sql: a list's rows carry a
// bounded, unique position). With them GET /v1/menu answers at most 500
// items and 100 groups of 30 options: under 0.5 MB of JSON with short
// names, at most about 2.5 MB with every name 120 four-byte characters
// (TestCatalogJSONBound).
const (
	MaxMenuItems       = 500
	MaxModifierGroups  = 100
	MaxOptionsPerGroup = 30
	MaxGroupsPerItem   = 10
	MaxTaxClasses      = 16
	MaxTenders         = 16
	MaxTables          = 500
	MaxTableSeats      = 99
	// MaxCategoryLen bounds an item's category (optional, free text).
	MaxCategoryLen = 64
	// MaxLabelLen bounds a table's label and a venue's name.
	MaxLabelLen = 120
	// MaxRemaining bounds an item's counted portions.
	MaxRemaining = 1_000_000
	// maxCatalogProblems is how many problems a refused catalog lists.
	maxCatalogProblems = 20
)

// Default venue settings, the schema's column defaults too.
const (
	DefaultTimeZone = "UTC"
	DefaultCurrency = "EUR"
)

var (
	// idToken is a tax class, modifier group, option or tender id.
	idToken = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	// skuToken is a SKU a catalog may define: URL-safe, so that it can name
	// the item in a path (/v1/menu/items/{sku}).
	skuToken = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// stationToken is one token of a NATS subject (pos.<venue>.kitchen.<station>).
	stationToken = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	// venueToken is a venue id (the schema's venues.id check).
	venueToken = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	// zoneShape is the shape of an IANA zone name (venues_timezone_token).
	zoneShape = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$`)
)

// Validate checks a venue: its id, a name, an IANA time zone and an ISO
// 4217 currency (empty ones are refused here; callers apply the defaults
// first). Every problem names its field.
func (v Venue) Validate() error {
	var c checker
	if !venueToken.MatchString(v.ID) {
		c.add("id", "must be 1 to 63 of a-z, 0-9, _ and -, starting with a letter or digit")
	}
	c.text("name", v.Name, MaxLabelLen)
	if err := ValidTimeZone(v.TimeZone); err != nil {
		c.add("timezone", err.Error())
	}
	if err := ValidCurrency(v.Currency); err != nil {
		c.add("currency", err.Error())
	}
	return c.err()
}

// ValidTimeZone reports whether tz names an IANA time zone ("Europe/Paris",
// "UTC"); "Local" and the empty name are refused.
func ValidTimeZone(tz string) error {
	if tz == "" || tz == "Local" || len(tz) > 64 || !zoneShape.MatchString(tz) {
		return fmt.Errorf("%q is not an IANA time zone name (e.g. Europe/Paris)", tz)
	}
	if _, err := time.LoadLocation(tz); err != nil {
		return fmt.Errorf("unknown time zone %q", tz)
	}
	return nil
}

// ValidCurrency reports whether code is an ISO 4217 currency code, in
// capitals ("EUR").
func ValidCurrency(code string) error {
	if len(code) != 3 || strings.ToUpper(code) != code {
		return fmt.Errorf("%q is not an ISO 4217 code (three capital letters, e.g. EUR)", code)
	}
	if _, err := currency.ParseISO(code); err != nil {
		return fmt.Errorf("unknown ISO 4217 currency %q", code)
	}
	return nil
}

// Validate checks a catalog before it is applied: ids are well-formed and
// unique in their list, names present, amounts and counts within their
// bounds, every reference (an item's tax class and groups, the service
// charge's tax class) names an entry of the catalog, and a group's minimum
// can be met. The running state of items and groups (Available,
// UnavailableUntil, Remaining, Version) is not part of a catalog and is not
// looked at. Problems name their field by path, lists indexed from 0
// ("items[3].tax_class"); at most 20 are listed.
func (cat Catalog) Validate() error {
	var c checker
	c.list("tables", len(cat.Tables), MaxTables)
	seen := map[string]int{}
	for i, t := range cat.Tables {
		f := fmt.Sprintf("tables[%d]", i)
		switch {
		case strings.TrimSpace(t.ID) == "" || strings.TrimSpace(t.ID) != t.ID:
			c.add(f+".id", "required, without leading or trailing spaces")
		case utf8.RuneCountInString(t.ID) > MaxTableLen || !utf8.ValidString(t.ID) || hasControl(t.ID, false):
			c.add(f+".id", fmt.Sprintf("at most %d characters, no control characters", MaxTableLen))
		default:
			c.unique(seen, "tables", f+".id", t.ID, i)
		}
		c.text(f+".label", t.Label, MaxLabelLen)
		if t.Seats < 1 || t.Seats > MaxTableSeats {
			c.add(f+".seats", fmt.Sprintf("must be between 1 and %d", MaxTableSeats))
		}
	}

	c.list("tax_classes", len(cat.TaxClasses), MaxTaxClasses)
	taxes := map[string]int{}
	for i, t := range cat.TaxClasses {
		f := fmt.Sprintf("tax_classes[%d]", i)
		c.id(taxes, "tax_classes", f+".id", t.ID, i)
		c.text(f+".name", t.Name, MaxLabelLen)
		if t.RateBps < 0 || t.RateBps > MaxRateBps {
			c.add(f+".rate_bps", fmt.Sprintf("must be between 0 and %d (100 %%)", MaxRateBps))
		}
	}

	if sc := cat.ServiceCharge; sc != nil && sc.MinGuests != 0 {
		if sc.MinGuests < 1 || sc.MinGuests > MaxGuests {
			c.add("service_charge.min_guests", fmt.Sprintf("must be between 1 and %d (0: no service charge)", MaxGuests))
		}
		if sc.RateBps < 0 || sc.RateBps > MaxRateBps {
			c.add("service_charge.rate_bps", fmt.Sprintf("must be between 0 and %d (100 %%)", MaxRateBps))
		}
		c.ref(taxes, "service_charge.tax_class", "tax class", sc.TaxClass)
	} else if sc != nil && (sc.RateBps != 0 || sc.TaxClass != "") {
		c.add("service_charge.min_guests", "required (at least 1) for a service charge with a rate or a tax class")
	}

	c.list("tenders", len(cat.Tenders), MaxTenders)
	if len(cat.Tenders) == 0 {
		c.add("tenders", "at least one tender is required")
	}
	tenders := map[string]int{}
	for i, t := range cat.Tenders {
		c.id(tenders, "tenders", fmt.Sprintf("tenders[%d]", i), t, i)
	}

	c.list("modifier_groups", len(cat.ModifierGroups), MaxModifierGroups)
	groups := map[string]int{}
	for i, g := range cat.ModifierGroups {
		f := fmt.Sprintf("modifier_groups[%d]", i)
		c.id(groups, "modifier_groups", f+".id", g.ID, i)
		c.text(f+".name", g.Name, MaxLabelLen)
		c.list(f+".options", len(g.Options), MaxOptionsPerGroup)
		if len(g.Options) == 0 {
			c.add(f+".options", "at least one option is required")
		}
		switch {
		case g.Max < 1 || g.Max > MaxOptionsPerGroup:
			c.add(f+".max", fmt.Sprintf("must be between 1 and %d", MaxOptionsPerGroup))
		case g.Min < 0 || g.Min > g.Max:
			c.add(f+".min", fmt.Sprintf("must be between 0 and max (%d)", g.Max))
		case g.Min > len(g.Options):
			c.add(f+".min", fmt.Sprintf("the group has %d options: a guest cannot choose %d", len(g.Options), g.Min))
		}
		opts := map[string]int{}
		for j, o := range g.Options {
			of := fmt.Sprintf("%s.options[%d]", f, j)
			c.id(opts, f+".options", of+".id", o.ID, j)
			c.text(of+".name", o.Name, MaxLabelLen)
			if o.PriceCents < 0 || o.PriceCents > MaxPriceCents {
				c.add(of+".price_cents", fmt.Sprintf("must be between 0 and %d", MaxPriceCents))
			}
		}
	}

	c.list("items", len(cat.Items), MaxMenuItems)
	skus := map[string]int{}
	for i, it := range cat.Items {
		f := fmt.Sprintf("items[%d]", i)
		if !skuToken.MatchString(it.SKU) {
			c.add(f+".sku", fmt.Sprintf("must be 1 to %d of A-Z, a-z, 0-9, '.', '_' and '-', starting with a letter or digit", MaxSKULen))
		} else {
			c.unique(skus, "items", f+".sku", it.SKU, i)
		}
		c.text(f+".name", it.Name, MaxMenuNameLen)
		if it.Category != "" {
			c.text(f+".category", it.Category, MaxCategoryLen)
		}
		if it.PriceCents < 0 || it.PriceCents > MaxPriceCents {
			c.add(f+".price_cents", fmt.Sprintf("must be between 0 and %d", MaxPriceCents))
		}
		if !stationToken.MatchString(it.Station) {
			c.add(f+".station", "must be 1 to 32 of A-Z, a-z, 0-9, _ and - (it names a kitchen subject)")
		}
		if it.TaxClass == "" {
			c.add(f+".tax_class", "required")
		} else {
			c.ref(taxes, f+".tax_class", "tax class", it.TaxClass)
		}
		c.list(f+".modifier_groups", len(it.ModifierGroups), MaxGroupsPerItem)
		mine := map[string]bool{}
		for j, g := range it.ModifierGroups {
			gf := fmt.Sprintf("%s.modifier_groups[%d]", f, j)
			if mine[g] {
				c.add(gf, fmt.Sprintf("group %q is listed twice", g))
			}
			mine[g] = true
			c.ref(groups, gf, "modifier group", g)
		}
	}
	return c.err()
}

// checker collects a catalog's problems.
type checker struct {
	probs []FieldProblem
	more  int
}

func (c *checker) add(field, detail string) {
	if len(c.probs) == maxCatalogProblems {
		c.more++
		return
	}
	c.probs = append(c.probs, FieldProblem{Field: field, Detail: detail})
}

func (c *checker) err() error {
	if len(c.probs) == 0 {
		return nil
	}
	probs := c.probs
	if c.more > 0 {
		probs = append(probs, FieldProblem{Field: "catalog", Detail: fmt.Sprintf("and %d more problems", c.more)})
	}
	return &ValidationError{Problems: probs}
}

// text checks a required name.
func (c *checker) text(field, v string, max int) {
	switch {
	case strings.TrimSpace(v) == "":
		c.add(field, "required")
	case !utf8.ValidString(v):
		c.add(field, "must be valid UTF-8")
	case hasControl(v, false):
		c.add(field, "must not contain control characters")
	case utf8.RuneCountInString(v) > max:
		c.add(field, fmt.Sprintf("at most %d characters", max))
	}
}

func (c *checker) list(field string, n, max int) {
	if n > max {
		c.add(field, fmt.Sprintf("at most %d entries, not %d", max, n))
	}
}

// id checks an id token and that it is unique in its list.
func (c *checker) id(seen map[string]int, list, field, id string, i int) {
	if !idToken.MatchString(id) {
		c.add(field, fmt.Sprintf("%q must be 1 to 32 of a-z, 0-9, _ and -, starting with a letter or digit", id))
		return
	}
	c.unique(seen, list, field, id, i)
}

func (c *checker) unique(seen map[string]int, list, field, id string, i int) {
	if j, dup := seen[id]; dup {
		c.add(field, fmt.Sprintf("%q is already %s[%d]", id, list, j))
		return
	}
	seen[id] = i
}

func (c *checker) ref(known map[string]int, field, what, id string) {
	if _, ok := known[id]; !ok {
		c.add(field, fmt.Sprintf("unknown %s %q", what, id))
	}
}
