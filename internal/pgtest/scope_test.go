package pgtest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/pgtest"
)

// TestScopes: Scoped scopes each statement: a venue's scope sees that
// venue's rows only, the system scope every venue's, and posd's role
// without either sees none. (Row-level security itself is
// tested in internal/store, TestRowLevelSecurity.)
func TestScopes(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	count := func(d pgtest.Scoped) int64 {
		var n int64
		require.NoError(t, d.QueryRow(ctx, "SELECT count(*) FROM dining_tables").Scan(&n))
		return n
	}
	demo, demo2, all := db.Count(t, "SELECT count(*) FROM dining_tables WHERE venue_id = 'demo'"),
		db.Count(t, "SELECT count(*) FROM dining_tables WHERE venue_id = 'demo2'"), db.Count(t, "SELECT count(*) FROM dining_tables")
	require.NotZero(t, demo)
	require.NotZero(t, demo2)
	require.Equal(t, demo, count(pgtest.VenueScope(db.Pool, "demo")))
	require.Equal(t, demo2, count(pgtest.VenueScope(db.Pool, "demo2")))
	require.Equal(t, all, count(pgtest.SystemScope(db.Pool)))
	var n int64
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM dining_tables").Scan(&n))
	require.Zero(t, n)
}
