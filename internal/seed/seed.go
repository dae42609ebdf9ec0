// Package seed writes the demo venues of the design: "demo" (Demo Bistro,
// tables T1…T30) and "demo2" (tables T1…T5), each with the same menu over the
// grill, fry, cold and bar stations, and the demo device tokens. Seeding is
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

// DemoMenu is the menu of both demo venues (prices in cents).
var DemoMenu = []order.MenuItem{
	{SKU: "steak", Name: "Steak frites", PriceCents: 2400, Station: "grill"},
	{SKU: "burger", Name: "Bistro burger", PriceCents: 1600, Station: "grill"},
	{SKU: "salmon", Name: "Grilled salmon", PriceCents: 2200, Station: "grill"},
	{SKU: "chicken", Name: "Roast chicken", PriceCents: 1900, Station: "grill"},
	{SKU: "fries", Name: "Fries", PriceCents: 500, Station: "fry"},
	{SKU: "calamari", Name: "Fried calamari", PriceCents: 1100, Station: "fry"},
	{SKU: "fish-chips", Name: "Fish and chips", PriceCents: 1700, Station: "fry"},
	{SKU: "caesar", Name: "Caesar salad", PriceCents: 1200, Station: "cold"},
	{SKU: "tartare", Name: "Beef tartare", PriceCents: 1500, Station: "cold"},
	{SKU: "oysters", Name: "Oysters (6)", PriceCents: 1800, Station: "cold"},
	{SKU: "mousse", Name: "Chocolate mousse", PriceCents: 800, Station: "cold"},
	{SKU: "wine-red", Name: "House red (glass)", PriceCents: 900, Station: "bar"},
	{SKU: "beer", Name: "Draft beer", PriceCents: 700, Station: "bar"},
	{SKU: "espresso", Name: "Espresso", PriceCents: 300, Station: "bar"},
	{SKU: "lemonade", Name: "Lemonade", PriceCents: 450, Station: "bar"},
}

// demoVenues are the venues and their table counts.
var demoVenues = []struct {
	ID, Name string
	Tables   int
}{
	{"demo", "Demo Bistro", 30},
	{"demo2", "Demo Bistro Two", 5},
}

// Demo writes the demo venues, tables, menu and devices in one transaction.
// db must be a connection allowed to write them (the table owner).
func Demo(ctx context.Context, db *pgx.Conn) error {
	venues, devices := demoData()
	return store.Seed(ctx, db, venues, devices)
}

// demoData is what Demo writes: every fifth table seats 8, the others 4;
// each demo device has a stable id, so that seeding again updates it.
func demoData() ([]store.SeedVenue, []store.SeedDevice) {
	venues := make([]store.SeedVenue, len(demoVenues))
	for i, v := range demoVenues {
		sv := store.SeedVenue{ID: v.ID, Name: v.Name, Menu: DemoMenu}
		for n := 1; n <= v.Tables; n++ {
			seats := 4
			if n%5 == 0 {
				seats = 8
			}
			sv.Tables = append(sv.Tables, store.SeedTable{ID: fmt.Sprintf("T%d", n), Label: fmt.Sprintf("Table %d", n), Seats: seats})
		}
		venues[i] = sv
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
