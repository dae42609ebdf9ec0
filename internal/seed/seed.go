// Package seed writes the demo venues of the design: "demo" (Demo Bistro,
// tables T1…T30) and "demo2" (tables T1…T5), each with the same catalog
// (tax classes, service charge, tenders, modifier groups and a menu over the
// grill, fry, cold and bar stations), and the demo device tokens. Seeding is
// idempotent: running it again resets the demo data's definitions but never
// touches orders, and never brings back a demo device an operator revoked.
package seed

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// DemoDevice is one seeded device and its well-known token. Demo tokens are
// public by design and valid only for the demo venues.
type DemoDevice struct {
	Venue, Name, Staff, Role, Token string
}

// DemoDevices are the tokens printed at start-up by posd dev.
var DemoDevices = []DemoDevice{
	{"demo", "waiter-1", "Alice", order.RoleWaiter, TokenWaiter1},
	{"demo", "waiter-2", "Bruno", order.RoleWaiter, TokenWaiter2},
	{"demo", "waiter-3", "Chloe", order.RoleWaiter, TokenWaiter3},
	{"demo", "waiter-4", "Dmitri", order.RoleWaiter, TokenWaiter4},
	{"demo", "manager", "Maria", order.RoleManager, TokenManager},
	{"demo", "kitchen", "Kitchen", order.RoleKitchen, TokenKitchen},
	{"demo", "auditor", "Olga", order.RoleAuditor, TokenAuditor},
	{"demo2", "waiter", "Zoe", order.RoleWaiter, TokenDemo2Waiter},
}

// The demo catalog (DESIGN.md section 9). Prices include their tax, as
// menus in the EU must show them: food at 10 %, drinks at 20 %, both
// inclusive, so a check's total is the sum of its lines. Parties of 8 or
// more pay an 18 % service charge, taxed as food. The steak needs a
// temperature and both the steak and the burger offer priced extra sides.
// Oysters are 86'd and only 2 fish and chips are left (DemoAvailability).
var (
	DemoTaxClasses = []order.TaxClass{
		{ID: "food", Name: "Food", RateBps: 1000, Inclusive: true},
		{ID: "drinks", Name: "Drinks", RateBps: 2000, Inclusive: true},
	}
	DemoServiceCharge = order.ServiceCharge{MinGuests: 8, RateBps: 1800, TaxClass: "food"}
	// DemoTenders are the demo venues' tenders, the ones add_payment
	// takes there (the default list, order.Tenders).
	DemoTenders        = []string{"cash", "card", "voucher", "other"}
	DemoModifierGroups = []order.ModifierGroup{
		{ID: "temp", Name: "Temperature", Min: 1, Max: 1, Options: []order.ModifierOption{
			{ID: "rare", Name: "Rare"}, {ID: "mr", Name: "Medium rare"}, {ID: "medium", Name: "Medium"},
			{ID: "well", Name: "Well done"}}},
		{ID: "sides", Name: "Extra sides", Min: 0, Max: 3, Options: []order.ModifierOption{
			{ID: "truffle-fries", Name: "Truffle fries", PriceCents: 450},
			{ID: "side-salad", Name: "Side salad", PriceCents: 350},
			{ID: "peppercorn", Name: "Peppercorn sauce", PriceCents: 250}}},
	}
)

// DemoMenu is the menu of both demo venues (prices in cents).
var DemoMenu = []order.MenuItem{
	{SKU: "steak", Name: "Steak frites", Category: "mains", PriceCents: 2400, Station: "grill", TaxClass: "food", ModifierGroups: []string{"sides"}},
	{SKU: "burger", Name: "Bistro burger", Category: "mains", PriceCents: 1600, Station: "grill", TaxClass: "food", ModifierGroups: []string{"sides"}},
	{SKU: "salmon", Name: "Grilled salmon", Category: "mains", PriceCents: 2200, Station: "grill", TaxClass: "food"},
	{SKU: "chicken", Name: "Roast chicken", Category: "mains", PriceCents: 1900, Station: "grill", TaxClass: "food"},
	{SKU: DemoRequiredOptions, Name: "Ribeye", Category: "mains", PriceCents: 3200, Station: "grill", TaxClass: "food", ModifierGroups: []string{"temp", "sides"}},
	{SKU: "fries", Name: "Fries", Category: "sides", PriceCents: 500, Station: "fry", TaxClass: "food"},
	{SKU: "calamari", Name: "Fried calamari", Category: "starters", PriceCents: 1100, Station: "fry", TaxClass: "food"},
	{SKU: "fish-chips", Name: "Fish and chips", Category: "mains", PriceCents: 1700, Station: "fry", TaxClass: "food"},
	{SKU: "caesar", Name: "Caesar salad", Category: "starters", PriceCents: 1200, Station: "cold", TaxClass: "food"},
	{SKU: "tartare", Name: "Beef tartare", Category: "starters", PriceCents: 1500, Station: "cold", TaxClass: "food"},
	{SKU: "oysters", Name: "Oysters (6)", Category: "starters", PriceCents: 1800, Station: "cold", TaxClass: "food"},
	{SKU: "mousse", Name: "Chocolate mousse", Category: "desserts", PriceCents: 800, Station: "cold", TaxClass: "food"},
	{SKU: "wine-red", Name: "House red (glass)", Category: "drinks", PriceCents: 900, Station: "bar", TaxClass: "drinks"},
	{SKU: "beer", Name: "Draft beer", Category: "drinks", PriceCents: 700, Station: "bar", TaxClass: "drinks"},
	{SKU: "espresso", Name: "Espresso", Category: "drinks", PriceCents: 300, Station: "bar", TaxClass: "drinks"},
	{SKU: "lemonade", Name: "Lemonade", Category: "drinks", PriceCents: 450, Station: "bar", TaxClass: "drinks"},
}

// Demo86d is the demo item that is 86'd, DemoCounted the one whose portions
// are counted, with DemoCountedPortions left after seeding. No other test
// orders them.
//
// DemoRequiredOptions is the demo item with a required modifier group (its
// temperature): adding it needs options.
const (
	DemoRequiredOptions = "ribeye"
	Demo86d             = "oysters"
	DemoCounted         = "fish-chips"
	DemoCountedPortions = 2
)

// DemoAvailability is the running state seeding sets.
func DemoAvailability() []store.ItemAvailability {
	n := DemoCountedPortions
	return []store.ItemAvailability{
		{SKU: Demo86d, Available: false},
		{SKU: DemoCounted, Available: true, Remaining: &n},
	}
}

// demoVenues are the venues and their table counts.
var demoVenues = []struct {
	ID, Name string
	Tables   int
}{
	{"demo", "Demo Bistro", 30},
	{"demo2", "Demo Bistro Two", 5},
}

// DemoTimeZone and DemoCurrency are both demo venues'.
const (
	DemoTimeZone = "Europe/Paris"
	DemoCurrency = "EUR"
)

// Demo writes the demo venues, their catalogs and devices in one
// transaction, through the store's catalog path (store.Seed, as
// ApplyCatalog). db must be a connection allowed to write them (the table
// owner).
func Demo(ctx context.Context, db *pgx.Conn) error {
	venues, devices := demoData()
	return store.Seed(ctx, db, venues, devices)
}

// DemoCatalog is a demo venue's catalog with n tables: every fifth seats 8,
// the others 4.
func DemoCatalog(n int) order.Catalog {
	sc := DemoServiceCharge
	cat := order.Catalog{TaxClasses: DemoTaxClasses, ServiceCharge: &sc, Tenders: DemoTenders,
		ModifierGroups: DemoModifierGroups, Items: DemoMenu}
	for i := 1; i <= n; i++ {
		seats := 4
		if i%5 == 0 {
			seats = 8
		}
		cat.Tables = append(cat.Tables, order.Table{ID: fmt.Sprintf("T%d", i), Label: fmt.Sprintf("Table %d", i), Seats: seats})
	}
	return cat
}

// demoData is what Demo writes; each demo device has a stable id, so that
// seeding again updates it.
func demoData() ([]store.SeedVenue, []store.SeedDevice) {
	venues := make([]store.SeedVenue, len(demoVenues))
	for i, v := range demoVenues {
		venues[i] = store.SeedVenue{
			Venue:        order.Venue{ID: v.ID, Name: v.Name, TimeZone: DemoTimeZone, Currency: DemoCurrency},
			Catalog:      DemoCatalog(v.Tables),
			Availability: DemoAvailability(),
		}
	}
	devices := make([]store.SeedDevice, len(DemoDevices))
	for i, d := range DemoDevices {
		devices[i] = store.SeedDevice{ID: DemoDeviceID(d), Venue: d.Venue, Name: d.Name, Staff: d.Staff, Role: d.Role,
			TokenHash: auth.HashToken(d.Token)}
	}
	return venues, devices
}

// DemoDeviceID is the stable id of a demo device.
func DemoDeviceID(d DemoDevice) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("posd-demo:"+d.Venue+":"+d.Name))
}
