package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// TestIdempotentRetry: a retried PATCH with the same key and body gets the
// stored answer, marked replayed, and writes nothing; the same key with
// another body is refused; a different device's key is its own.
func TestIdempotentRetry(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	body := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.AddItem("steak", 1)}}
	first := f.Waiter.SendPatch(id, body, apitest.Keyed("tap-1"))
	require.Equal(t, 200, first.Status, string(first.Body))
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))
	before := f.Fingerprint()

	again := f.Waiter.SendPatch(id, body, apitest.Keyed("tap-1"))
	require.Equal(t, 200, again.Status)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, first.Header.Get("ETag"), again.Header.Get("ETag"))
	require.Equal(t, before, f.Fingerprint())

	other := apitest.Patch{ExpectedVersion: 2, Ops: []order.Op{apitest.AddItem("fries", 1)}}
	apitest.RequireFieldProblem(t, f.Waiter.SendPatch(id, other, apitest.Keyed("tap-1")), 422, "idempotency-key-reused", apitest.TopLevel, "Idempotency-Key")
	require.Equal(t, before, f.Fingerprint())

	// Keys are scoped to the device: waiter-2's "tap-1" is a new request.
	r := f.Waiter2.SendPatch(id, other, apitest.Keyed("tap-1"))
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Empty(t, r.Header.Get("Idempotent-Replayed"))

	for _, bad := range []string{strings.Repeat("k", 256), "tab\there", "é"} {
		apitest.RequireProblem(t, f.Waiter.SendPatch(id, body, apitest.Keyed(bad)), 400, "bad-request")
	}
}

// TestIdempotentOpen: a retried open replays 201 with Location, never a
// second order and never a table-occupied refusal.
func TestIdempotentOpen(t *testing.T) {
	f := start(t)
	first := f.Waiter.TryOpen("T8", 3, apitest.Keyed("open-T8"))
	require.Equal(t, 201, first.Status, string(first.Body))
	again := f.Waiter.TryOpen("T8", 3, apitest.Keyed("open-T8"))
	require.Equal(t, 201, again.Status, string(again.Body))
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders WHERE table_id = 'T8'"))
}

// TestIdempotentConflictReplays: a refused stale write stored under a key
// replays as the same 409, even after the order moved on again.
func TestIdempotentConflictReplays(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1))
	stale := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.AddItem("fries", 1)}}
	first := f.Waiter2.SendPatch(id, stale, apitest.Keyed("k-409"))
	apitest.RequireProblem(t, first, 409, "version-conflict")
	f.Waiter.Patch(id, 2, apitest.AddItem("beer", 1))
	before := f.Fingerprint()
	again := f.Waiter2.SendPatch(id, stale, apitest.Keyed("k-409"))
	require.Equal(t, 409, again.Status)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, before, f.Fingerprint())

	// A no-op PATCH's 200 is stored too.
	noop := apitest.Patch{ExpectedVersion: 3, Ops: []order.Op{apitest.SetGuests(2)}}
	require.Equal(t, 200, f.Waiter.SendPatch(id, noop, apitest.Keyed("k-noop")).Status)
	require.Equal(t, "true", f.Waiter.SendPatch(id, noop, apitest.Keyed("k-noop")).Header.Get("Idempotent-Replayed"))
}

// TestIdempotentConcurrentDuplicates: many copies of one keyed request sent
// at once (a double tap on flaky Wi-Fi, many times over) write exactly once;
// every answer is the original 200, its replay, or 409 in flight. The copies
// start together (apitest.Race), and at least one of them must have been
// refused as in flight: a run where every copy found the answer already
// stored would have tested a sequential retry, not the race.
func TestIdempotentConcurrentDuplicates(t *testing.T) {
	f := start(t)
	var inflightTotal int
	// Ten rounds, and more (up to one per demo table) while no copy has
	// been refused as in flight yet: on a loaded machine the copies of a
	// round may arrive one after the other.
	for round := 0; round < 10 || inflightTotal == 0 && round < 30; round++ {
		id := f.Open(fmt.Sprintf("T%d", round+1)).ID
		body := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.AddItem("steak", 1), apitest.Fire()}}
		key := apitest.Keyed(fmt.Sprintf("double-tap-%d", round))
		const n = 16
		res := make([]apitest.Response, n)
		apitest.Race(n, func(i int) { res[i] = f.Waiter.SendPatch(id, body, key) })
		var fresh, replayed, inflight int
		var okBody string
		for _, r := range res {
			switch {
			case r.Status == 200 && r.Header.Get("Idempotent-Replayed") == "true":
				replayed++
				if okBody != "" {
					require.Equal(t, okBody, string(r.Body))
				}
				okBody = string(r.Body)
			case r.Status == 200:
				fresh++
				if okBody != "" {
					require.Equal(t, okBody, string(r.Body))
				}
				okBody = string(r.Body)
			case r.Status == 409:
				apitest.RequireProblem(t, r, 409, "idempotency-in-flight")
				inflight++
			default:
				t.Fatalf("unexpected %d %s", r.Status, r.Body)
			}
		}
		require.Equal(t, 1, fresh, "exactly one request wrote (replayed %d, in flight %d)", replayed, inflight)
		require.EqualValues(t, 2, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))
		require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE order_id = $1", id))
		require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_lines WHERE order_id = $1", id))
		inflightTotal += inflight
	}
	require.Positive(t, inflightTotal, "no copy was ever refused as in flight: the duplicates did not overlap")
}

// TestIdempotencyExpiry: keys expire after 24 h and the sweep removes them.
func TestIdempotencyExpiry(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	body := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.AddItem("steak", 1)}}
	require.Equal(t, 200, f.Waiter.SendPatch(id, body, apitest.Keyed("old")).Status)
	var ttl float64
	require.NoError(t, f.DB.Admin.QueryRow(context.Background(),
		"SELECT extract(epoch FROM expires_at - created_at) FROM idempotency_keys").Scan(&ttl))
	require.Equal(t, 24*3600.0, ttl)
	// Age the key 24 h. A live answer cannot be changed, not even by the
	// owner (db/schema/0001_baseline.sql): the superuser turns the
	// trigger off for this statement.
	require.NoError(t, pgx.BeginFunc(context.Background(), f.DB.Admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
		return err
	}))
	n, err := f.Store.SweepIdempotency(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	// The expired key is a new request again: here a stale one.
	apitest.RequireProblem(t, f.Waiter.SendPatch(id, body, apitest.Keyed("old")), 409, "version-conflict")
}
