package menufile_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/menufile"
	"github.com/posd/posd/internal/order"
)

func changes(cs []menufile.Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.String()
	}
	return out
}

func exampleCatalog(t *testing.T) order.Catalog {
	t.Helper()
	c, err := menufile.Parse("menu.example.yaml", readExample(t))
	require.NoError(t, err)
	return c
}

// TestDiffIdentical: the same catalog, and one that differs only in the
// running state (versions, availability), change nothing.
func TestDiffIdentical(t *testing.T) {
	c := exampleCatalog(t)
	require.Empty(t, menufile.Diff(c, c))
	running := exampleCatalog(t)
	running.ModifierGroups[0].Version = 7
	require.Empty(t, menufile.Diff(c, running))
	require.Empty(t, menufile.Diff(order.Catalog{}, order.Catalog{}))
	none := order.Catalog{ServiceCharge: &order.ServiceCharge{}}
	require.Empty(t, menufile.Diff(order.Catalog{}, none), "a service charge for 0 guests is none")
}

// TestDiffSaysEachChange: each kind of change, in words.
func TestDiffSaysEachChange(t *testing.T) {
	prev := exampleCatalog(t)
	next := exampleCatalog(t)
	next.Items[0].PriceCents = 2600
	next.Items[0].Name = "Steak-frites"
	next.Items[1].ModifierGroups = []string{"sides", "temp"}
	next.Items = append(next.Items[:3], next.Items[4:]...) // fries removed
	next.Items = append(next.Items, order.MenuItem{SKU: "tea", Name: "Tea", Category: "drinks", PriceCents: 300, Station: "bar", TaxClass: "food"})
	next.Tables[0].Seats = 3
	next.Tables = next.Tables[:6]
	next.TaxClasses[1].RateBps = 2100
	next.ServiceCharge = nil
	next.Tenders = []string{"card", "cash", "voucher"}
	next.ModifierGroups[0].Max = 2
	next.ModifierGroups[0].Options[1].PriceCents = 100
	next.ModifierGroups[0].Options = next.ModifierGroups[0].Options[:3]
	next.ModifierGroups[1].Name = "Sides"

	require.Equal(t, []string{
		`change table T1: seats 2 → 3`,
		`remove table BAR1`,
		`change tax class alcohol: rate_bps 2000 → 2100`,
		`remove service charge`,
		`add tender voucher`,
		`remove tender gift`,
		`change order of tenders: cash, card → card, cash`,
		`change modifier group temp: max 1 → 2; change option mr: price_cents 0 → 100; remove option well`,
		`change modifier group sides: name "Extra sides" → "Sides"`,
		`change item steak: name "Steak frites" → "Steak-frites"; price_cents 2400 → 2600`,
		`change item burger: modifier_groups [temp, sides] → [sides, temp]`,
		`add item tea: "Tea", drinks, 300 cents, station bar, tax class food`,
		`remove item fries`,
	}, changes(menufile.Diff(prev, next)))

	require.Equal(t, "2 added, 7 changed, 4 removed", menufile.Summary(menufile.Diff(prev, next)))
}

// TestDiffFromEmpty: a first import adds everything.
func TestDiffFromEmpty(t *testing.T) {
	c := exampleCatalog(t)
	cs := menufile.Diff(order.Catalog{}, c)
	require.Len(t, cs, len(c.Tables)+len(c.TaxClasses)+1+len(c.Tenders)+len(c.ModifierGroups)+len(c.Items))
	for _, ch := range cs {
		require.Equal(t, menufile.Add, ch.Action, ch.String())
	}
	require.Contains(t, changes(cs), `add service charge: 1200 bps for 8 guests or more, tax class food`)
	require.Contains(t, changes(cs), `add modifier group temp: "Temperature", choose 1 to 1 of rare, mr, medium, well`)
	require.Contains(t, changes(cs), `add table T5: "Window", 6 seats`)
	require.Contains(t, changes(cs), `add tax class food: "Food (10 %)", 1000 bps, inclusive`)
	require.Contains(t, changes(cs), `add tender gift`)
}

// TestDiffReorder: moving an item is a change of the items' order; the
// tables' order is not part of the menu.
func TestDiffReorder(t *testing.T) {
	prev := exampleCatalog(t)
	next := exampleCatalog(t)
	next.Tables[0], next.Tables[6] = next.Tables[6], next.Tables[0]
	require.Empty(t, menufile.Diff(prev, next))
	next = exampleCatalog(t)
	next.Items[0], next.Items[1] = next.Items[1], next.Items[0]
	require.Equal(t, []string{`change order of items: steak, burger, salmon, fries, caesar, mousse, wine-red, beer, latte → burger, steak, salmon, fries, caesar, mousse, wine-red, beer, latte`},
		changes(menufile.Diff(prev, next)))
	next = exampleCatalog(t)
	next.ModifierGroups[1].Options[1], next.ModifierGroups[1].Options[2] = next.ModifierGroups[1].Options[2], next.ModifierGroups[1].Options[1]
	require.Equal(t, []string{`change modifier group sides: change order of options: …, salad, greens → …, greens, salad`},
		changes(menufile.Diff(prev, next)))
}
