//go:build ha

package main

// The fault tests of make test-ha: real pg_auto_failover, real posd serve
// replicas, handheld-like clients under load, faults injected by SIGKILL.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/seed"
)

// handheld is one waiter's client: its own order on its own table, written
// through whichever replica answers. Every write carries an Idempotency-Key;
// a write whose answer did not arrive (a dead replica, a 503, a key still
// in flight) is sent again with the same key and body, to the other replica.
type handheld struct {
	token   string
	table   string
	order   uuid.UUID
	version int64
	acked   []uuid.UUID // the lines the order holds by the acknowledged writes, oldest first

	sent, retries int
	phase         *atomic.Int32    // the test's phase: 0 steady, then the fault injected
	longest       [3]time.Duration // per phase a write was acknowledged in, the longest it took
	ackedIn       [3]atomic.Int64  // acknowledged writes, per phase
}

const (
	phaseSteady = iota
	phaseReplicaKilled
	phasePostgresKilled
)

// replicaSet is the base URLs of the posd replicas; a client starts on its
// own and moves to the next one after a failed attempt.
type replicaSet []string

var haHTTP = &http.Client{Timeout: 3 * time.Second}

// send sends one request with key until a replica acknowledges it (want),
// or fails the test on any answer a retry cannot fix. It returns the body.
func (h *handheld) send(t *testing.T, rs replicaSet, start *int, method, path string, body any, want int, key string) []byte {
	b, err := json.Marshal(body)
	require.NoError(t, err)
	first := time.Now()
	for attempt := 0; ; attempt++ {
		base := rs[(*start+attempt)%len(rs)]
		req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+h.token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := haHTTP.Do(req)
		var out []byte
		status := 0
		if err == nil {
			var buf bytes.Buffer
			_, err = buf.ReadFrom(resp.Body)
			resp.Body.Close()
			out, status = buf.Bytes(), resp.StatusCode
		}
		switch {
		case err == nil && status == want:
			*start = (*start + attempt) % len(rs)
			h.sent++
			ph := h.phase.Load()
			h.longest[ph] = max(h.longest[ph], time.Since(first))
			h.ackedIn[ph].Add(1)
			return out
		case err != nil || status >= 500 || (status == http.StatusConflict && bytes.Contains(out, []byte("idempotency-in-flight"))):
			h.retries++
			if time.Since(first) > 90*time.Second {
				t.Fatalf("%s %s not acknowledged in 90 s (last: %v %d %s)", method, path, err, status, out)
			}
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("%s %s: HTTP %d %s", method, path, status, out)
		}
	}
}

// TestHAFaultsUnderLoad runs two posd serve replicas on a pg_auto_failover
// formation (primary + synchronous standby) and one NATS server, with 8
// handhelds writing through both replicas. First a replica is killed
// (SIGKILL) and started again on its address; the handhelds' writes move to
// the other with their keys. Then the primary is killed hard
// (SIGKILL to its keeper and its postmaster) under that load, the monitor
// promotes the standby, and the replicas find it by themselves through the
// multi-host URL (target_session_attrs=read-write). Then the old primary is
// started again and rejoins as the standby. At the end every acknowledged
// write must be in its order, and every order's version must equal its
// event count.
func TestHAFaultsUnderLoad(t *testing.T) {
	f := startFormation(t)
	p := f.primary()
	applyRoles(t, f.superURL(p, "postgres"))
	owner := fmt.Sprintf("postgres://posd_owner@%s/posd?sslmode=disable&target_session_attrs=read-write", f.hosts())
	out, err := posdCmd(t, []string{"DATABASE_URL=" + owner}, "migrate")
	require.NoError(t, err, out)
	out, err = posdCmd(t, []string{"DATABASE_URL=" + owner}, "seed", "--demo")
	require.NoError(t, err, out)

	ns := startNATS(t)
	app := fmt.Sprintf("postgres://posd@%s/posd?sslmode=disable&target_session_attrs=read-write&connect_timeout=2", f.hosts())
	serveEnv := []string{"DATABASE_URL=" + app, "NATS_URL=" + ns.ClientURL()}
	var rs replicaSet
	var servers []*opsServe
	for i := 0; i < 2; i++ {
		s := startOpsServe(t, serveEnv)
		servers = append(servers, s)
		rs = append(rs, "http://"+s.addr)
	}

	tokens := []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}
	hands := make([]*handheld, 8)
	var acked atomic.Int64
	var phase atomic.Int32
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := range hands {
		h := &handheld{token: tokens[i%len(tokens)], table: fmt.Sprintf("T%d", i+1), phase: &phase}
		hands[i] = h
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			start := i % len(rs)
			var o struct {
				ID      uuid.UUID `json:"id"`
				Version int64     `json:"version"`
			}
			require.NoError(t, json.Unmarshal(h.send(t, rs, &start, "POST", "/v1/orders",
				map[string]any{"table": h.table, "guests": 2}, http.StatusCreated, uuid.NewString()), &o))
			h.order, h.version = o.ID, o.Version
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Add a steak; once the order holds 20 lines, take the
				// oldest off instead (an order holds at most 500).
				op := map[string]any{"op": "add_item", "sku": "steak", "line_id": uuid.Must(uuid.NewV7())}
				if len(h.acked) >= 20 {
					op = map[string]any{"op": "remove_item", "line_id": h.acked[0]}
				}
				body := map[string]any{"expected_version": h.version, "ops": []map[string]any{op}}
				require.NoError(t, json.Unmarshal(h.send(t, rs, &start, "PATCH", "/v1/orders/"+h.order.String(), body,
					http.StatusOK, uuid.NewString()), &o))
				require.Equal(t, h.version+1, o.Version)
				h.version = o.Version
				if op["op"] == "add_item" {
					h.acked = append(h.acked, op["line_id"].(uuid.UUID))
				} else {
					h.acked = h.acked[1:]
				}
				acked.Add(1)
			}
		}(i)
	}
	waitFor := func(what string, timeout time.Duration, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("writes before the fault", 60*time.Second, func() bool { return acked.Load() >= 200 })
	everyoneWrote := func(ph int32, n int64) func() bool {
		return func() bool {
			for _, h := range hands {
				if h.ackedIn[ph].Load() < n {
					return false
				}
			}
			return true
		}
	}

	// A posd replica dies (SIGKILL): its handhelds' writes fail over to the
	// other with their keys. Then it comes back on its address.
	phase.Store(phaseReplicaKilled)
	replicaKilledAt := time.Now()
	require.NoError(t, servers[0].cmd.Process.Kill())
	waitFor("every handheld writing with one replica", 30*time.Second, everyoneWrote(phaseReplicaKilled, 10))
	servers[0] = startOpsServeAt(t, servers[0].addr, serveEnv)
	replicaBackAfter := time.Since(replicaKilledAt)
	n0 := acked.Load()
	waitFor("writes with the replica back", 30*time.Second, func() bool { return acked.Load() >= n0+100 })
	phase.Store(phaseSteady)

	// The guarantee under test: a commit is acknowledged only once the
	// standby has flushed it (synchronous_commit on, one synchronous
	// standby, which pg_auto_failover names while the standby is healthy).
	killed := f.primary()
	var syncNames, syncCommit string
	require.NoError(t, queryRow(f.superURL(killed, "posd"), "SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit')",
		&syncNames, &syncCommit))
	require.Equal(t, "on", syncCommit)
	require.Contains(t, syncNames, "ANY 1 (", "the standby must be synchronous")
	before := acked.Load()
	faultAt := time.Now()
	phase.Store(phasePostgresKilled)
	f.kill(killed)
	t.Logf("killed the primary %s after %d acknowledged writes", killed.name, before)
	f.waitStates(90*time.Second, map[string]string{f.other(killed).name: "wait_primary"})
	promotedAfter := time.Since(faultAt)
	waitFor("every handheld writing again", 90*time.Second, everyoneWrote(phasePostgresKilled, 5))
	writingAfter := time.Since(faultAt)

	// The old primary comes back and rejoins as the standby.
	f.restart(killed)
	f.waitStates(120*time.Second, map[string]string{f.other(killed).name: "primary", killed.name: "secondary"})
	rejoinedAfter := time.Since(faultAt)
	for _, e := range f.events(faultAt) {
		t.Log("monitor: " + e)
	}
	n := acked.Load()
	waitFor("writes with the rejoined standby", 60*time.Second, func() bool { return acked.Load() >= n+100 })
	close(stop)
	wg.Wait()

	// Every acknowledged write is in its order, and each order's version is
	// its event count, on the new primary.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.superURL(f.primary(), "posd"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var longest [3]time.Duration
	retries, total := 0, 0
	for _, h := range hands {
		var version, events int64
		require.NoError(t, conn.QueryRow(ctx, `SELECT o.version, (SELECT count(*) FROM order_events e
			WHERE e.venue_id = o.venue_id AND e.order_id = o.id) FROM orders o WHERE o.venue_id = 'demo' AND o.id = $1`,
			h.order).Scan(&version, &events))
		require.Equal(t, h.version, version, "order on %s: version the handheld was acknowledged", h.table)
		require.Equal(t, version, events, "order on %s: one event per version", h.table)
		rows, err := conn.Query(ctx, "SELECT id FROM order_lines WHERE venue_id = 'demo' AND order_id = $1", h.order)
		require.NoError(t, err)
		have, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		require.NoError(t, err)
		sort.Slice(have, func(i, j int) bool { return have[i].String() < have[j].String() })
		want := append([]uuid.UUID{}, h.acked...)
		sort.Slice(want, func(i, j int) bool { return want[i].String() < want[j].String() })
		require.Equal(t, want, have, "order on %s: exactly its acknowledged lines", h.table)
		for ph := range longest {
			longest[ph] = max(longest[ph], h.longest[ph])
		}
		retries += h.retries
		total += h.sent
	}
	// A relay leads again on the new primary: the outbox drains to NATS.
	var pending int64
	waitFor("the outbox drained by a relay on the new primary", 30*time.Second, func() bool {
		return conn.QueryRow(ctx, `SELECT count(*) FROM outbox o JOIN outbox_cursor c ON c.name = 'relay'
			WHERE (o.txid, o.id) > (c.txid, c.id)`).Scan(&pending) == nil && pending == 0
	})
	pub, err := posdCmd(t, nil, "audit", "public-key", "--seal-key-file", testSealKeyFile(t))
	require.NoError(t, err, pub)
	out, err = posdCmd(t, []string{"DATABASE_URL=" + owner}, "audit", "verify", "--venue", "demo", "--public-key", strings.TrimSpace(pub))
	require.NoError(t, err, out)
	t.Logf("Postgres failover: %d writes acknowledged (%d before the kill), 0 lost; standby promoted %.1f s after the kill, "+
		"every handheld writing again after %.1f s; the longest wait for one write's acknowledgement %.1f s (%d retried attempts); "+
		"the old primary rejoined as the standby %.1f s after the kill",
		total, before, promotedAfter.Seconds(), writingAfter.Seconds(), longest[phasePostgresKilled].Seconds(), retries, rejoinedAfter.Seconds())
	t.Logf("posd replica killed: the longest wait for one write's acknowledgement %.0f ms (steady: %.0f ms); the replica was back on its address %.1f s after the kill",
		ms(longest[phaseReplicaKilled]), ms(longest[phaseSteady]), replicaBackAfter.Seconds())
}

// queryRow runs one query on a fresh connection to url and scans its row.
func queryRow(url, sql string, dst ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.QueryRow(ctx, sql).Scan(dst...)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
