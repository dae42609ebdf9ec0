package store_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/store"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var (
	alice = order.Actor{Device: "waiter-1", Staff: "Alice", Role: order.RoleWaiter}
	bob   = order.Actor{Device: "waiter-2", Staff: "Bob", Role: order.RoleWaiter}
)

func one(v int) *int { return &v }

// signedStore is a fresh database and a store on it that signs what it
// writes with a new seal key, key.
func signedStore(t *testing.T) (db *pgtest.DB, s *store.Store, key ed25519.PrivateKey) {
	t.Helper()
	db = pgtest.NewDB(t)
	s = store.New(db.Pool)
	key, err := audit.NewSealKey()
	require.NoError(t, err)
	s.SignEvents(key)
	return db, s, key
}

// TestStaleWriteKeepsNothing drives the versioned write with a plan made
// from an old version, past the pre-check, straight into the pipelined
// transaction: the UPDATE finds no row, the assertion aborts the
// transaction, and none of the event, lines, tickets or outbox rows queued
// behind it survive the pipeline's COMMIT (invariant 2).
func TestStaleWriteKeepsNothing(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	v1, err := s.Get(ctx, "demo", o.ID)
	require.NoError(t, err)
	_, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &v1.Version, Ops: []order.Op{{Op: order.OpSetGuests, Guests: one(3)}}}, alice)
	require.NoError(t, err)
	require.True(t, changed)

	count := func() [5]int64 {
		var c [5]int64
		for i, q := range []string{"SELECT count(*) FROM order_events", "SELECT count(*) FROM order_lines",
			"SELECT count(*) FROM kitchen_tickets", "SELECT count(*) FROM outbox", "SELECT max(version) FROM orders"} {
			c[i] = db.Count(t, q)
		}
		return c
	}
	before := count()
	for i := 0; i < 20; i++ {
		at := time.Now().UTC().Truncate(time.Microsecond)
		next, applied, err := order.Plan(v1, []order.Op{{Op: order.OpAddItem, SKU: "steak", Qty: one(1)}, {Op: order.OpSend}}, at,
			order.Env{Menu: map[string]order.MenuItem{"steak": {SKU: "steak", Name: "Steak", PriceCents: 2400, Station: "grill"}}, NewID: s.NewID})
		require.NoError(t, err)
		ev := order.Event{ID: s.NewID(), Venue: "demo", OrderID: o.ID, Version: next.Version, Type: order.EventPatched, At: at, Actor: alice, Ops: applied}
		err = s.Write(ctx, v1, next, &ev, kitchen.TicketsFor(next, applied, "", at, s.NewID), nil)
		require.True(t, errors.Is(err, store.ErrStale), "got %v", err)
		require.Equal(t, before, count())
	}
	// The pool's connections are usable after the rolled-back pipelines.
	cur, err := s.Get(ctx, "demo", o.ID)
	require.NoError(t, err)
	_, changed, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &cur.Version, Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak"}, {Op: order.OpSend}}}, alice)
	require.NoError(t, err)
	require.True(t, changed)
	after := count()
	require.Equal(t, before[0]+1, after[0])
	require.Equal(t, before[2]+1, after[2])
}

// TestSchemaChangeUnderARunningStore: a migration that changes a view's
// column types (as 0006 does to orders_full) invalidates the statements a
// running replica's connections have prepared. The first use of each is
// refused by Postgres ("cached plan must not change result type"), which
// pgx then drops from its cache: the store answers that request as
// Postgres being unavailable (a 503 the client retries), never as a 500,
// and the next request works.
func TestSchemaChangeUnderARunningStore(t *testing.T) {
	db := pgtest.NewDB(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, db.AppURL+"&pool_max_conns=1")
	require.NoError(t, err)
	defer pool.Close()
	s := store.New(pool)
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	_, err = s.Get(ctx, "demo", o.ID)
	require.NoError(t, err)

	// The view as it was before 0006: lines and payments as jsonb.
	var def string
	require.NoError(t, db.Admin.QueryRow(ctx, "SELECT pg_get_viewdef('orders_full')").Scan(&def))
	def = strings.NewReplacer("json_agg", "jsonb_agg", "json_build_object", "jsonb_build_object", "::json", "::jsonb").Replace(def)
	_, err = db.Admin.Exec(ctx, "DROP VIEW orders_full; CREATE VIEW orders_full WITH (security_invoker = true) AS "+def+
		"; GRANT SELECT ON orders_full TO posd_app")
	require.NoError(t, err)

	_, err = s.Get(ctx, "demo", o.ID)
	require.Error(t, err)
	require.True(t, store.Unavailable(err), "a retryable refusal, got %v", err)
	got, err := s.Get(ctx, "demo", o.ID)
	require.NoError(t, err, "the next request works")
	require.Equal(t, o.ID, got.ID)
}
