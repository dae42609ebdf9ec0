package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// TestMenuListener: a store that listens for menu changes drops the cached
// menu of the venue a notification names (and only that one), and drops
// every cached menu when its listening connection is lost and made again,
// since notifications sent meanwhile are lost.
func TestMenuListener(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	s.SetMenuTTL(time.Hour)
	cfg, err := pgx.ParseConfig(db.AppURL)
	require.NoError(t, err)
	cfg.RuntimeParams["application_name"] = "menu listener test"
	listening := make(chan struct{}, 4)
	errs := make(chan error, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.ListenMenu(ctx, cfg, 20*time.Millisecond, func(err error) { errs <- err }, func() { listening <- struct{}{} })
	}()
	<-listening

	price := func(venue string) int64 {
		p, err := s.MenuPrice(ctx, venue, "steak")
		require.NoError(t, err)
		return p
	}
	// Behind posd's back (no version, no notification): the caches keep
	// the old price.
	setPrice := func(venue string, cents int) {
		_, err := db.Admin.Exec(ctx, "UPDATE menu_items SET price_cents = $2 WHERE venue_id = $1 AND sku = 'steak'", venue, cents)
		require.NoError(t, err)
	}
	require.EqualValues(t, 2400, price("demo"))
	require.EqualValues(t, 2400, price("demo2"))
	setPrice("demo", 2500)
	setPrice("demo2", 2500)
	require.EqualValues(t, 2400, price("demo"), "cached")

	// A notification drops the venue it names.
	_, err = db.Admin.Exec(ctx, "SELECT pg_notify($1, 'demo')", store.MenuChannel)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return price("demo") == 2500 }, 10*time.Second, 10*time.Millisecond)
	require.EqualValues(t, 2400, price("demo2"), "another venue's menu stays cached")

	// The listening connection is cut: on reconnecting it drops everything.
	var n int
	require.NoError(t, db.Admin.QueryRow(ctx,
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'menu listener test'").Scan(&n))
	require.Equal(t, 1, n)
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		t.Fatal("the listener did not reconnect")
	}
	require.Error(t, <-errs, "the lost connection is reported")
	require.EqualValues(t, 2500, price("demo2"))
	cancel()
	<-done
}
