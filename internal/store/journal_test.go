package store_test

import (
	"context"
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// (Moved from internal/audit with the journal's queries: it runs the
// relay's prune and the idempotency upsert as generated, which only the
// store may call.)
// TestOutOfTheAppRolesReach: posd's own role cannot delete outbox rows
// (an event would never reach the kitchen) but the relay's prune still
// removes published ones; it cannot rewrite or delete a stored idempotent
// answer that can still be replayed (nor can the owner), while replacing
// and sweeping expired ones works; and it cannot call posd_event_hash.
func TestOutOfTheAppRolesReach(t *testing.T) {
	t.Parallel()
	db, s, key := signedStore(t)
	ctx := context.Background()
	for _, table := range []string{"T1", "T2"} {
		o, err := s.Open(ctx, "demo", table, 2, alice, nil)
		require.NoError(t, err)
		_, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version,
			Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak"}, {Op: order.OpSend}}}, alice)
		require.NoError(t, err)
		require.True(t, changed)
	}
	requireOK := func() {
		t.Helper()
		res, err := s.Verify(ctx, "demo", audit.VerifyOptions{PublicKey: key.Public().(ed25519.PublicKey)})
		require.NoError(t, err)
		require.True(t, res.OK, "%+v", res.Broken)
	}
	pgErr := func(err error) *pgconn.PgError {
		t.Helper()
		var pe *pgconn.PgError
		require.ErrorAs(t, err, &pe)
		return pe
	}
	q := dbsqlc.New()
	rows := db.Count(t, "SELECT count(*) FROM outbox")
	require.NotZero(t, rows)

	_, err := db.Pool.Exec(ctx, "DELETE FROM outbox")
	require.Equal(t, "permission denied for table outbox", pgErr(err).Message)
	// Nothing is published yet: the prune removes nothing.
	n, err := q.PruneOutbox(ctx, pgtest.SystemScope(db.Pool), dbsqlc.PruneOutboxParams{Name: "relay", Before: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Zero(t, n)
	// The relay has published all but the newest row.
	_, err = pgtest.SystemScope(db.Pool).Exec(ctx, `UPDATE outbox_cursor c SET txid = o.txid, id = o.id
		FROM (SELECT txid, id FROM outbox ORDER BY txid DESC, id DESC OFFSET 1 LIMIT 1) o WHERE c.name = 'relay'`)
	require.NoError(t, err)
	n, err = q.PruneOutbox(ctx, pgtest.SystemScope(db.Pool), dbsqlc.PruneOutboxParams{Name: "relay", Before: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	require.Equal(t, rows-1, n)
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM outbox"))

	dev := uuid.Must(uuid.NewV7())
	put := func(key string, created time.Time, body string) error {
		return q.InsertIdempotency(ctx, pgtest.VenueScope(db.Pool, "demo"), dbsqlc.InsertIdempotencyParams{
			VenueID: "demo", DeviceID: dev, Key: key, Fingerprint: make([]byte, 32), Status: 200, Headers: []byte(`{}`),
			Body: []byte(body), CreatedAt: created, ExpiresAt: created.Add(24 * time.Hour)})
	}
	require.NoError(t, put("live", time.Now(), `{"version":2}`))
	for _, st := range []string{
		`UPDATE idempotency_keys SET body = '{"version":9}' WHERE key = 'live'`,
		`UPDATE idempotency_keys SET expires_at = now() WHERE key = 'live'`,
		`DELETE FROM idempotency_keys WHERE key = 'live'`,
	} {
		for _, pool := range []*pgxpool.Pool{db.Pool, db.Admin} {
			_, err := pgtest.VenueScope(pool, "demo").Exec(ctx, st)
			pe := pgErr(err)
			require.Equal(t, "42501", pe.Code, st)
			require.Contains(t, pe.Message, "can still be replayed", st)
		}
	}
	// The same key again (a retry racing the first) leaves the answer alone.
	require.NoError(t, put("live", time.Now(), `{"version":9}`))
	var body string
	require.NoError(t, db.Admin.QueryRow(ctx, "SELECT convert_from(body, 'UTF8') FROM idempotency_keys WHERE key = 'live'").Scan(&body))
	require.Equal(t, `{"version":2}`, body)
	// An expired answer is replaced by the key's next use, or swept.
	require.NoError(t, put("old", time.Now().Add(-25*time.Hour), `{"version":1}`))
	require.NoError(t, put("old", time.Now(), `{"version":3}`))
	require.NoError(t, put("gone", time.Now().Add(-25*time.Hour), `{"version":1}`))
	swept, err := s.SweepIdempotency(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, swept)
	require.EqualValues(t, 2, db.Count(t, "SELECT count(*) FROM idempotency_keys"))

	_, err = db.Pool.Exec(ctx, "SELECT posd_event_hash(NULL, e) FROM order_events e LIMIT 1")
	require.Contains(t, pgErr(err).Message, "permission denied for function posd_event_hash")
	requireOK()
}

// TestJournalPages: the verifier's reads come in pages of the size asked,
// each after the id given, so Verify never holds more than a page of
// orders, ticket events or refused writes.
func TestJournalPages(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	var ids []uuid.UUID
	for _, table := range []string{"T1", "T2", "T3"} {
		o, err := s.Open(ctx, "demo", table, 2, alice, nil)
		require.NoError(t, err)
		ids = append(ids, o.ID)
		_, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version,
			Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak"}, {Op: order.OpSend}}}, alice)
		require.NoError(t, err)
		require.True(t, changed)
	}
	require.NoError(t, s.InVenue(ctx, "demo", func(tx pgx.Tx) error {
		j := store.JournalOn(tx)
		var got []uuid.UUID
		for after := uuid.Nil; ; {
			page, err := j.OrdersPage(ctx, "demo", after, 2)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 2)
			for _, o := range page {
				got = append(got, o.ID)
				require.Greater(t, o.ID.String(), after.String())
			}
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].ID
		}
		require.ElementsMatch(t, ids, got)

		var events int
		for after := uuid.Nil; ; {
			page, err := j.TicketEventsPage(ctx, "demo", after, 1)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 1)
			events += len(page)
			if len(page) < 1 {
				break
			}
			after = page[0].ID
		}
		require.EqualValues(t, db.Count(t, "SELECT count(*) FROM kitchen_ticket_events WHERE venue_id = 'demo'"), events)
		require.Len(t, ids, 3)
		evs, err := j.OrderEvents(ctx, "demo", ids[0])
		require.NoError(t, err)
		require.Len(t, evs, 2)
		require.EqualValues(t, 1, evs[0].Version)
		require.Equal(t, alice, evs[1].Actor)
		return nil
	}))
}

// TestSealTxOneAtATime: while one transaction holds the sealing lock,
// another SealTx does not run its function and returns nil; once the first
// ends, the lock is free again.
func TestSealTxOneAtATime(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	holding, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.SealTx(ctx, "demo", func(audit.SealJournal) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	ran := false
	require.NoError(t, s.SealTx(ctx, "demo2", func(audit.SealJournal) error { ran = true; return nil }))
	require.False(t, ran, "a second sealer ran while the first held the lock")
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, s.SealTx(ctx, "demo", func(j audit.SealJournal) error {
		ran = true
		_, found, err := j.LastSeal(ctx, "demo")
		require.NoError(t, err)
		require.False(t, found)
		return nil
	}))
	require.True(t, ran, "the lock was not released")
}
