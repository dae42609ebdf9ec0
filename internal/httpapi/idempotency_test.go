package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
)

func keyed(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

// TestIdempotentRetry: a retried PATCH with the same key and body gets the
// stored answer, marked replayed, and writes nothing; the same key with
// another body is refused; a different device's key is its own.
func TestIdempotentRetry(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	body := map[string]any{"expected_version": 1, "ops": []any{addItem("steak")}}
	path := "/v1/orders/" + id
	first := f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: body, Header: keyed("tap-1")})
	require.Equal(t, 200, first.Status, string(first.Body))
	require.Empty(t, first.Header.Get("Idempotent-Replayed"))
	before := f.state()

	again := f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: body, Header: keyed("tap-1")})
	require.Equal(t, 200, again.Status)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, first.Header.Get("ETag"), again.Header.Get("ETag"))
	require.Equal(t, before, f.state())

	other := map[string]any{"expected_version": 2, "ops": []any{addItem("fries")}}
	p := requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: other, Header: keyed("tap-1")}), 422, "idempotency-key-reused")
	requireFieldError(t, p, -1, "Idempotency-Key")
	require.Equal(t, before, f.state())

	// Keys are scoped to the device: waiter-2's "tap-1" is a new request.
	r := f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter2, Body: other, Header: keyed("tap-1")})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Empty(t, r.Header.Get("Idempotent-Replayed"))

	for _, bad := range []string{strings.Repeat("k", 256), "tab\there", "é"} {
		requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: body, Header: keyed(bad)}), 400, "bad-request")
	}
}

// TestIdempotentOpen: a retried open replays 201 with Location, never a
// second order and never a table-occupied refusal.
func TestIdempotentOpen(t *testing.T) {
	f := setup(t)
	req := apitest.Req{Method: "POST", Path: "/v1/orders", Token: waiter, Body: map[string]any{"table": "T8", "guests": 3}, Header: keyed("open-T8")}
	first := f.Do(t, req)
	require.Equal(t, 201, first.Status, string(first.Body))
	again := f.Do(t, req)
	require.Equal(t, 201, again.Status, string(again.Body))
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first.Header.Get("Location"), again.Header.Get("Location"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders WHERE table_id = 'T8'"))
}

// TestIdempotentConflictReplays: a refused stale write stored under a key
// replays as the same 409, even after the order moved on again.
func TestIdempotentConflictReplays(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	f.mustPatch(waiter, id, 1, addItem("steak"))
	stale := apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: waiter2,
		Body: map[string]any{"expected_version": 1, "ops": []any{addItem("fries")}}, Header: keyed("k-409")}
	first := f.Do(t, stale)
	requireProblem(t, first, 409, "version-conflict")
	f.mustPatch(waiter, id, 2, addItem("beer"))
	before := f.state()
	again := f.Do(t, stale)
	require.Equal(t, 409, again.Status)
	require.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	require.Equal(t, string(first.Body), string(again.Body))
	require.Equal(t, before, f.state())

	// A no-op PATCH's 200 is stored too.
	noop := apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: waiter,
		Body: map[string]any{"expected_version": 3, "ops": []any{map[string]any{"op": "set_guests", "guests": 2}}}, Header: keyed("k-noop")}
	require.Equal(t, 200, f.Do(t, noop).Status)
	require.Equal(t, "true", f.Do(t, noop).Header.Get("Idempotent-Replayed"))
}

// TestIdempotentConcurrentDuplicates: many copies of one keyed request sent
// at once (a double tap on flaky Wi-Fi, many times over) write exactly once;
// every answer is the original 200, its replay, or 409 in flight.
func TestIdempotentConcurrentDuplicates(t *testing.T) {
	f := setup(t)
	for round := 0; round < 10; round++ {
		id := f.open(fmt.Sprintf("T%d", round+1))
		body := map[string]any{"expected_version": 1, "ops": []any{addItem("steak"), map[string]any{"op": "send"}}}
		const n = 16
		var wg sync.WaitGroup
		res := make([]apitest.Response, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				res[i] = f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: waiter, Body: body, Header: keyed(fmt.Sprintf("double-tap-%d", round))})
			}(i)
		}
		wg.Wait()
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
				requireProblem(t, r, 409, "idempotency-in-flight")
				inflight++
			default:
				t.Fatalf("unexpected %d %s", r.Status, r.Body)
			}
		}
		require.Equal(t, 1, fresh, "exactly one request wrote (replayed %d, in flight %d)", replayed, inflight)
		require.EqualValues(t, 2, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))
		require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE order_id = $1", id))
		require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_lines WHERE order_id = $1", id))
	}
}

// TestIdempotencyExpiry: keys expire after 24 h and the sweep removes them.
func TestIdempotencyExpiry(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	req := apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: waiter,
		Body: map[string]any{"expected_version": 1, "ops": []any{addItem("steak")}}, Header: keyed("old")}
	require.Equal(t, 200, f.Do(t, req).Status)
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
	requireProblem(t, f.Do(t, req), 409, "version-conflict")
}
