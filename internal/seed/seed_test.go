package seed_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var seedActor = order.Actor{Device: "waiter-1", Staff: "Alice", Role: order.RoleWaiter}

// TestDemo: the demo data as the design gives it, and seeding again resets
// definitions, keeps orders, and never brings back a revoked demo device.
func TestDemo(t *testing.T) {
	db := pgtest.NewDB(t) // seeded once already
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.AdminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	state := func() string {
		var s string
		require.NoError(t, db.Admin.QueryRow(ctx, `SELECT concat_ws('|',
			(SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM venues),
			(SELECT string_agg(venue_id || ':' || id || ':' || label || ':' || seats, ',' ORDER BY venue_id, id) FROM dining_tables),
			(SELECT string_agg(venue_id || ':' || sku || ':' || price_cents || ':' || station, ',' ORDER BY venue_id, sku) FROM menu_items),
			(SELECT string_agg(venue_id || ':' || id || ':' || name || ':' || role || ':' || staff || ':' || encode(token_hash, 'hex') || ':' || (revoked_at IS NULL), ',' ORDER BY venue_id, name) FROM devices),
			(SELECT count(*) FROM orders))`).Scan(&s))
		return s
	}

	require.EqualValues(t, 30, db.Count(t, "SELECT count(*) FROM dining_tables WHERE venue_id = 'demo'"))
	require.EqualValues(t, 5, db.Count(t, "SELECT count(*) FROM dining_tables WHERE venue_id = 'demo2'"))
	require.EqualValues(t, 7, db.Count(t, "SELECT count(*) FROM dining_tables WHERE seats = 8"), "every fifth table seats 8")
	require.EqualValues(t, 8, db.Count(t, "SELECT seats FROM dining_tables WHERE venue_id = 'demo' AND id = 'T10'"))
	require.EqualValues(t, 4, db.Count(t, "SELECT seats FROM dining_tables WHERE venue_id = 'demo' AND id = 'T11'"))
	for _, v := range []string{"demo", "demo2"} {
		require.EqualValues(t, len(seed.DemoMenu), db.Count(t, "SELECT count(*) FROM menu_items WHERE venue_id = $1", v))
	}
	for _, d := range seed.DemoDevices {
		require.EqualValues(t, 1, db.Count(t, `SELECT count(*) FROM devices WHERE venue_id = $1 AND id = $2 AND name = $3
			AND staff = $4 AND role = $5 AND token_hash = $6 AND revoked_at IS NULL`,
			d.Venue, seed.DemoDeviceID(d), d.Name, d.Staff, d.Role, auth.HashToken(d.Token)), d.Name)
	}

	s := store.New(db.Pool)
	_, err = s.Open(ctx, "demo", "T1", 2, seedActor, nil)
	require.NoError(t, err)
	before := state()
	require.NoError(t, seed.Demo(ctx, conn))
	require.Equal(t, before, state(), "seeding again changes nothing")

	_, err = db.Admin.Exec(ctx, "UPDATE menu_items SET price_cents = 1 WHERE venue_id = 'demo' AND sku = 'steak'")
	require.NoError(t, err)
	_, err = store.RevokeDevice(ctx, db.Admin, "demo", "waiter-4")
	require.NoError(t, err)
	require.NoError(t, seed.Demo(ctx, conn))
	require.EqualValues(t, 2400, db.Count(t, "SELECT price_cents FROM menu_items WHERE venue_id = 'demo' AND sku = 'steak'"), "a definition is reset")
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM devices WHERE name = 'waiter-4' AND revoked_at IS NOT NULL"), "a revoked device stays revoked")
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM orders"), "orders are not touched")
	require.NotEqual(t, seed.DemoDeviceID(seed.DemoDevices[0]), seed.DemoDeviceID(seed.DemoDevices[1]))
	require.Equal(t, seed.DemoDeviceID(seed.DemoDevices[0]), seed.DemoDeviceID(seed.DemoDevice{Venue: "demo", Name: "waiter-1"}))
}
