package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// TestRowLevelSecurity proves invariant 6 below the application: posd's role
// is neither superuser nor BYPASSRLS, every venue-owned table has row-level
// security enabled and forced, and a query that forgets its venue filter,
// run as posd's role, sees only the scoped venue's rows, or none at all.
func TestRowLevelSecurity(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()

	var super, bypass bool
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").Scan(&super, &bypass))
	require.False(t, super)
	require.False(t, bypass)
	var memberBypass int64
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_roles r
		WHERE pg_has_role(current_user, r.oid, 'MEMBER') AND (r.rolsuper OR r.rolbypassrls)`).Scan(&memberBypass))
	require.Zero(t, memberBypass, "no role posd belongs to may bypass row-level security")

	rows, err := db.Admin.Query(ctx, `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'
		  AND (c.relname = 'venues' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'venue_id'))`)
	require.NoError(t, err)
	tables := 0
	for rows.Next() {
		var name string
		var enabled, forced bool
		require.NoError(t, rows.Scan(&name, &enabled, &forced))
		require.True(t, enabled && forced, "row-level security on %s: enabled %v forced %v", name, enabled, forced)
		tables++
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, tables, 14)

	// Orders in both venues, written through the store.
	st := store.New(db.Pool)
	actor := order.Actor{Device: "d", Staff: "s", Role: order.RoleWaiter}
	for _, v := range []struct{ venue, table string }{{"demo", "T1"}, {"demo", "T2"}, {"demo2", "T1"}} {
		_, err := st.Open(ctx, v.venue, v.table, 2, actor, nil)
		require.NoError(t, err)
	}
	require.EqualValues(t, 3, db.Count(t, "SELECT count(*) FROM orders"), "the superuser sees every venue")

	unscoped := func(q string) int64 {
		var n int64
		require.NoError(t, db.Pool.QueryRow(ctx, q).Scan(&n))
		return n
	}
	scoped := func(venue, q string) int64 {
		var n int64
		require.NoError(t, st.InVenue(ctx, venue, func(tx pgx.Tx) error { return tx.QueryRow(ctx, q).Scan(&n) }))
		return n
	}
	for _, q := range []string{"SELECT count(*) FROM orders", "SELECT count(*) FROM order_events",
		"SELECT count(*) FROM orders_full", "SELECT count(*) FROM outbox", "SELECT count(*) FROM devices",
		"SELECT count(*) FROM menu_items", "SELECT count(*) FROM venues", "SELECT count(*) FROM menu_log"} {
		require.NotZero(t, db.Count(t, q), "%s as the superuser", q)
		require.Zero(t, unscoped(q), "%s without a venue", q)
	}
	require.EqualValues(t, 1, scoped("demo2", "SELECT count(*) FROM orders"))
	require.EqualValues(t, 1, scoped("demo2", "SELECT count(*) FROM orders_full"))
	require.EqualValues(t, 2, scoped("demo", "SELECT count(*) FROM orders"))
	require.EqualValues(t, 2, scoped("demo", "SELECT count(*) FROM order_events"))
	require.EqualValues(t, 1, scoped("demo2", "SELECT count(*) FROM devices"))
	require.EqualValues(t, 1, scoped("demo", "SELECT count(*) FROM venues"))
	require.Equal(t, db.Count(t, "SELECT count(*) FROM menu_log WHERE venue_id = 'demo2'"), scoped("demo2", "SELECT count(*) FROM menu_log"))
	require.Zero(t, scoped("demo2", "SELECT count(*) FROM menu_log WHERE venue_id = 'demo'"), "another venue's menu log is invisible")

	// Writing another venue's row while scoped to demo is refused.
	err = st.InVenue(ctx, "demo", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role,
		expected_version, current_version, via, at) VALUES ('demo2', gen_random_uuid(), gen_random_uuid(), 'T1', 'd', 's', 'waiter', 1, 2, 'expected_version', now())`)
		return err
	})
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "%v", err)
	require.Equal(t, "42501", pgErr.Code)
	require.Contains(t, pgErr.Message, "row-level security")
	// And updating another venue's orders finds nothing to update.
	var tag pgconn.CommandTag
	require.NoError(t, st.InVenue(ctx, "demo", func(tx pgx.Tx) error {
		var err error
		tag, err = tx.Exec(ctx, "UPDATE orders SET guests = 9 WHERE venue_id = 'demo2'")
		return err
	}))
	require.Zero(t, tag.RowsAffected())
	require.EqualValues(t, 2, db.Count(t, "SELECT guests FROM orders WHERE venue_id = 'demo2'"))
}
