package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
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

// TestShiftMenuChangesBound: the journal lists a range's first menu
// changes in log order, at most maxRows of them, past the first only while
// their before and after add up to at most maxBytes (the first always), and
// counts the range's changes, listed or not.
func TestShiftMenuChangesBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s, _ := signedStore(t)
	from := time.Now()
	kitchen := order.Actor{Device: "kitchen", Staff: "Kitchen", Role: order.RoleKitchen}
	for n := range 5 {
		_, _, err := s.SetAvailability(ctx, "demo", "steak", store.AvailabilityChange{SetRemaining: true, Remaining: &n}, kitchen)
		require.NoError(t, err)
	}
	to := time.Now().Add(time.Minute)
	list := func(from, to time.Time, maxRows int, maxBytes int64) (changes []audit.MenuChange, total int64) {
		t.Helper()
		require.NoError(t, s.InVenue(ctx, "demo", func(tx pgx.Tx) error {
			var err error
			changes, total, err = store.JournalOn(tx).MenuChanges(ctx, "demo", from, to, maxRows, maxBytes)
			return err
		}))
		return changes, total
	}
	all, total := list(from, to, 10, 1<<20)
	require.Len(t, all, 5)
	require.EqualValues(t, 5, total)
	for i, c := range all[1:] {
		require.Equal(t, all[i].Seq+1, c.Seq, "in log order")
	}
	size := func(c audit.MenuChange) int64 { return int64(len(c.Before) + len(c.After)) }
	for _, tc := range []struct {
		name     string
		maxRows  int
		maxBytes int64
		want     int
	}{
		{"rows", 3, 1 << 20, 3},
		{"the bytes of the first two", 10, size(all[0]) + size(all[1]), 2},
		{"a byte short of the first two", 10, size(all[0]) + size(all[1]) - 1, 1},
		{"the first always", 10, 0, 1},
		{"rows before bytes", 2, 1 << 20, 2},
	} {
		got, total := list(from, to, tc.maxRows, tc.maxBytes)
		require.Equal(t, all[:tc.want], got, tc.name)
		require.EqualValues(t, 5, total, "%s: the range's changes, listed or not", tc.name)
	}
	none, total := list(to, to.Add(time.Hour), 10, 1<<20)
	require.Empty(t, none)
	require.Zero(t, total, "a range without changes")
}
