package order_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// smallCatalog is a valid catalog to break one field at a time.
func smallCatalog() order.Catalog {
	return order.Catalog{
		Tables:        []order.Table{{ID: "T1", Label: "Table 1", Seats: 4}},
		TaxClasses:    []order.TaxClass{{ID: "food", Name: "Food", RateBps: 1000}},
		ServiceCharge: &order.ServiceCharge{MinGuests: 8, RateBps: 1800, TaxClass: "food"},
		Tenders:       []string{"cash", "card"},
		ModifierGroups: []order.ModifierGroup{{ID: "temp", Name: "Temperature", Min: 1, Max: 1,
			Options: []order.ModifierOption{{ID: "rare", Name: "Rare"}, {ID: "mr", Name: "Medium rare"}}}},
		Items: []order.MenuItem{
			{SKU: "steak", Name: "Steak", PriceCents: 2400, Station: "grill", TaxClass: "food", ModifierGroups: []string{"temp"}},
			{SKU: "fries", Name: "Fries", PriceCents: 500, Station: "fry", TaxClass: "food"},
		},
	}
}

// TestCatalogValidate: each broken field is refused by its path, and a
// valid catalog passes.
func TestCatalogValidate(t *testing.T) {
	require.NoError(t, smallCatalog().Validate())
	noSC := smallCatalog()
	noSC.ServiceCharge = nil
	require.NoError(t, noSC.Validate())

	cases := []struct {
		name   string
		break_ func(c *order.Catalog)
		field  string
		detail string
	}{
		{"unknown tax class", func(c *order.Catalog) { c.Items[1].TaxClass = "fod" }, "items[1].tax_class", `unknown tax class "fod"`},
		{"no tax class", func(c *order.Catalog) { c.Items[0].TaxClass = "" }, "items[0].tax_class", "required"},
		{"unknown group", func(c *order.Catalog) { c.Items[1].ModifierGroups = []string{"sides"} }, "items[1].modifier_groups[0]", `unknown modifier group "sides"`},
		{"group twice", func(c *order.Catalog) { c.Items[0].ModifierGroups = []string{"temp", "temp"} }, "items[0].modifier_groups[1]", "twice"},
		{"duplicate sku", func(c *order.Catalog) { c.Items[1].SKU = "steak" }, "items[1].sku", `"steak" is already items[0]`},
		{"bad sku", func(c *order.Catalog) { c.Items[1].SKU = "a b" }, "items[1].sku", "must be"},
		{"price", func(c *order.Catalog) { c.Items[0].PriceCents = order.MaxPriceCents + 1 }, "items[0].price_cents", "between"},
		{"negative price", func(c *order.Catalog) { c.Items[0].PriceCents = -1 }, "items[0].price_cents", "between"},
		{"station", func(c *order.Catalog) { c.Items[0].Station = "grill.1" }, "items[0].station", "kitchen subject"},
		{"no name", func(c *order.Catalog) { c.Items[0].Name = " " }, "items[0].name", "required"},
		{"control", func(c *order.Catalog) { c.Items[0].Name = "a\x00b" }, "items[0].name", "control"},
		{"long category", func(c *order.Catalog) { c.Items[0].Category = strings.Repeat("é", 65) }, "items[0].category", "at most 64"},
		{"tax rate", func(c *order.Catalog) { c.TaxClasses[0].RateBps = 10001 }, "tax_classes[0].rate_bps", "between 0 and 10000"},
		{"tax id", func(c *order.Catalog) {
			c.TaxClasses = append(c.TaxClasses, order.TaxClass{ID: "Drinks", Name: "Drinks", RateBps: 2000})
		}, "tax_classes[1].id", "must be"},
		{"service charge tax", func(c *order.Catalog) { c.ServiceCharge.TaxClass = "drinks" }, "service_charge.tax_class", `unknown tax class "drinks"`},
		{"service charge rate", func(c *order.Catalog) { c.ServiceCharge.RateBps = 20000 }, "service_charge.rate_bps", "between"},
		{"service charge without guests", func(c *order.Catalog) { c.ServiceCharge.MinGuests = 0 }, "service_charge.min_guests", "required"},
		{"no tenders", func(c *order.Catalog) { c.Tenders = nil }, "tenders", "at least one"},
		{"tender token", func(c *order.Catalog) { c.Tenders[1] = "Gift Card" }, "tenders[1]", "must be"},
		{"tender twice", func(c *order.Catalog) { c.Tenders[1] = "cash" }, "tenders[1]", "already tenders[0]"},
		{"min above options", func(c *order.Catalog) { c.ModifierGroups[0].Min, c.ModifierGroups[0].Max = 3, 3 }, "modifier_groups[0].min", "cannot choose 3"},
		{"min above max", func(c *order.Catalog) { c.ModifierGroups[0].Min = 2 }, "modifier_groups[0].min", "between 0 and max"},
		{"max zero", func(c *order.Catalog) { c.ModifierGroups[0].Max = 0 }, "modifier_groups[0].max", "between 1 and 30"},
		{"no options", func(c *order.Catalog) { c.ModifierGroups[0].Options = nil; c.ModifierGroups[0].Min = 0 }, "modifier_groups[0].options", "at least one"},
		{"option price", func(c *order.Catalog) { c.ModifierGroups[0].Options[1].PriceCents = -5 }, "modifier_groups[0].options[1].price_cents", "between"},
		{"option twice", func(c *order.Catalog) { c.ModifierGroups[0].Options[1].ID = "rare" }, "modifier_groups[0].options[1].id", "already"},
		{"table twice", func(c *order.Catalog) { c.Tables = append(c.Tables, c.Tables[0]) }, "tables[1].id", "already tables[0]"},
		{"seats", func(c *order.Catalog) { c.Tables[0].Seats = 0 }, "tables[0].seats", "between 1 and 99"},
		{"no label", func(c *order.Catalog) { c.Tables[0].Label = "" }, "tables[0].label", "required"},
		{"too many tenders", func(c *order.Catalog) {
			c.Tenders = nil
			for i := 0; i <= order.MaxTenders; i++ {
				c.Tenders = append(c.Tenders, fmt.Sprintf("t%d", i))
			}
		}, "tenders", "at most 16"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := smallCatalog()
			tc.break_(&c)
			err := c.Validate()
			var verr *order.ValidationError
			require.ErrorAs(t, err, &verr)
			require.Len(t, verr.Problems, 1, "%v", err)
			require.Equal(t, tc.field, verr.Problems[0].Field, "%v", err)
			require.Contains(t, verr.Problems[0].Detail, tc.detail)
		})
	}

	// Many problems: the first 20 and how many more.
	c := smallCatalog()
	for i := 0; i < 30; i++ {
		c.Items = append(c.Items, order.MenuItem{SKU: fmt.Sprintf("x%d", i), Name: "X", Station: "bar", TaxClass: "nope"})
	}
	var verr *order.ValidationError
	require.ErrorAs(t, c.Validate(), &verr)
	require.Len(t, verr.Problems, 21)
	require.Equal(t, "catalog", verr.Problems[20].Field)
	require.Equal(t, "and 10 more problems", verr.Problems[20].Detail)
	require.Contains(t, c.Validate().Error(), `items[2].tax_class: unknown tax class "nope"`)
}

// TestVenueValidate: time zones by the IANA database, currencies by ISO 4217.
func TestVenueValidate(t *testing.T) {
	ok := order.Venue{ID: "acme", Name: "Acme Grill", TimeZone: "Europe/Paris", Currency: "EUR"}
	require.NoError(t, ok.Validate())
	for _, tz := range []string{"UTC", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Asia/Kolkata"} {
		require.NoError(t, order.ValidTimeZone(tz), tz)
	}
	for _, tz := range []string{"", "Local", "Europe/Pariss", "../etc/passwd", "Mars/Olympus"} {
		require.Error(t, order.ValidTimeZone(tz), tz)
	}
	for _, c := range []string{"EUR", "USD", "JPY", "GBP", "CHF"} {
		require.NoError(t, order.ValidCurrency(c), c)
	}
	for _, c := range []string{"", "eur", "EURO", "ABC", "E1R"} {
		require.Error(t, order.ValidCurrency(c), c)
	}
	bad := order.Venue{ID: "Acme!", Name: "", TimeZone: "Nowhere/City", Currency: "XYZ"}
	var verr *order.ValidationError
	require.ErrorAs(t, bad.Validate(), &verr)
	var fields []string
	for _, p := range verr.Problems {
		fields = append(fields, p.Field)
	}
	require.Equal(t, []string{"id", "name", "timezone", "currency"}, fields)
}

// TestCatalogJSONBound: a catalog at every bound, with every name and id
// as long as it may be and names of four-byte characters, passes Validate
// and its menu JSON stays under the 2.5 MB docs/API.md states.
func TestCatalogJSONBound(t *testing.T) {
	name := strings.Repeat("😀", order.MaxMenuNameLen)
	id := func(p string, i int) string { return fmt.Sprintf("%s%0*d", p, 32-len(p), i) }
	var c order.Catalog
	for i := 0; i < order.MaxTaxClasses; i++ {
		c.TaxClasses = append(c.TaxClasses, order.TaxClass{ID: id("t", i), Name: name, RateBps: order.MaxRateBps})
	}
	for i := 0; i < order.MaxTenders; i++ {
		c.Tenders = append(c.Tenders, id("p", i))
	}
	c.ServiceCharge = &order.ServiceCharge{MinGuests: order.MaxGuests, RateBps: order.MaxRateBps, TaxClass: c.TaxClasses[0].ID}
	for i := 0; i < order.MaxModifierGroups; i++ {
		g := order.ModifierGroup{ID: id("g", i), Name: name, Min: order.MaxOptionsPerGroup, Max: order.MaxOptionsPerGroup, Version: 1 << 40}
		for j := 0; j < order.MaxOptionsPerGroup; j++ {
			g.Options = append(g.Options, order.ModifierOption{ID: id("o", j), Name: name, PriceCents: order.MaxPriceCents})
		}
		c.ModifierGroups = append(c.ModifierGroups, g)
	}
	remaining := order.MaxRemaining
	for i := 0; i < order.MaxMenuItems; i++ {
		it := order.MenuItem{SKU: fmt.Sprintf("%064d", i), Name: name, Category: strings.Repeat("😀", order.MaxCategoryLen),
			PriceCents: order.MaxPriceCents, Station: strings.Repeat("s", 32), TaxClass: c.TaxClasses[0].ID,
			Remaining: &remaining, Version: 1 << 40}
		for j := 0; j < order.MaxGroupsPerItem; j++ {
			it.ModifierGroups = append(it.ModifierGroups, c.ModifierGroups[j].ID)
		}
		c.Items = append(c.Items, it)
	}
	require.NoError(t, c.Validate())
	b, err := json.Marshal(map[string]any{"version": 1 << 40, "items": c.Items, "modifier_groups": c.ModifierGroups,
		"tax_classes": c.TaxClasses, "service_charge": c.ServiceCharge, "tenders": c.Tenders})
	require.NoError(t, err)
	t.Logf("menu at the bounds: %d bytes", len(b))
	require.Less(t, len(b), 2_500_000)
}
