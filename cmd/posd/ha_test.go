//go:build ha

package main

// The fault tests of make test-ha: real pg_auto_failover, real posd serve
// replicas, handheld-like clients under load, faults injected by SIGKILL.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/benchkit"
	"github.com/posd/posd/internal/outbox"
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

	sent    int
	phase   *atomic.Int32         // the test's phase: 0 steady, then the fault injected
	retries [phases]int           // per phase, the attempts that got no acknowledgement and were sent again
	longest [phases]time.Duration // per phase a write was acknowledged in, the longest it took
	ackedIn [phases]atomic.Int64  // acknowledged writes, per phase
}

const (
	phaseSteady = iota
	phaseReplicaKilled
	phaseNATSKilled
	phaseNATSDown
	phasePostgresKilled
	phases
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
			h.retries[h.phase.Load()]++
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
// formation (primary + synchronous standby) and a three-node NATS cluster
// whose POS stream has three replicas, with 8 handhelds writing through
// both replicas (every eighth write fires a steak to the grill), a kitchen
// screen holding the grill's stream and a JetStream consumer reading every
// order event. The faults, one at a time, each followed by recovery:
//   - a posd replica is killed (SIGKILL) and started again on its address;
//     the handhelds' writes move to the other with their keys, the kitchen
//     screen reconnects there with its cursor;
//   - the node leading the POS stream is killed (SIGKILL), then started
//     again; no write may be refused, and both replicas stay ready;
//   - all three NATS nodes are killed, then started again: orders are
//     still taken, and /readyz stays 200 on both replicas (a load balancer
//     keeps them) while it reports NATS unreachable;
//   - the primary is killed hard (SIGKILL to its keeper and its
//     postmaster); the monitor promotes the standby and the replicas find
//     it by themselves through the multi-host URL
//     (target_session_attrs=read-write); the old primary rejoins as the
//     standby.
//
// At the end every acknowledged write must be in its order, every order's
// version must equal its event count, every order event must be in the
// stream once and have reached the consumer (duplicates dropped by
// Nats-Msg-Id), and the kitchen screen must have seen every grill ticket
// exactly once.
func TestHAFaultsUnderLoad(t *testing.T) {
	f := startFormation(t)
	p := f.primary()
	applyRoles(t, f.superURL(p, "postgres"))
	owner := fmt.Sprintf("postgres://posd_owner@%s/posd?sslmode=disable&target_session_attrs=read-write", f.hosts())
	out, err := posdCmd(t, []string{"DATABASE_URL=" + owner}, "migrate")
	require.NoError(t, err, out)
	out, err = posdCmd(t, []string{"DATABASE_URL=" + owner}, "seed", "--demo")
	require.NoError(t, err, out)

	nc := startNATSCluster(t)
	app := fmt.Sprintf("postgres://posd@%s/posd?sslmode=disable&target_session_attrs=read-write&connect_timeout=2", f.hosts())
	// The audit routes read whichever node is the standby.
	standbyURL := fmt.Sprintf("postgres://posd@%s/posd?sslmode=disable&target_session_attrs=prefer-standby&connect_timeout=2", f.hosts())
	serveEnv := []string{"DATABASE_URL=" + app, "NATS_URL=" + nc.URLs(), "POSD_NATS_CA=" + nc.CA, "POSD_STREAM_REPLICAS=3", "DATABASE_REPLICA_URL=" + standbyURL}
	var rs replicaSet
	var servers []*opsServe
	for i := 0; i < 2; i++ {
		s := startOpsServe(t, serveEnv)
		servers = append(servers, s)
		rs = append(rs, "http://"+s.addr)
	}
	// The test's own client: it tries the next node at once when one dies.
	natsConn, err := nats.Connect(nc.URLs(), append(nc.Options(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))...)
	require.NoError(t, err)
	t.Cleanup(natsConn.Close)
	js, err := jetstream.New(natsConn)
	require.NoError(t, err)
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
	// streamOnThree reports whether POS is on three current replicas.
	streamOnThree := func() bool {
		_, current, err := streamState(js)
		return err == nil && current == 3
	}
	waitFor("the POS stream on three current replicas", 30*time.Second, streamOnThree)
	watch := watchOrderEvents(t, js)
	kds := startKDS(t, rs, "grill")

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
			var pending []uuid.UUID // lines not sent, which may be removed
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// Add a steak; once 20 are pending, take the oldest off
				// instead. Every eighth write fires a steak of course 2 to
				// the grill (one ticket); an order holds at most 500 lines.
				line := uuid.Must(uuid.NewV7())
				ops := []map[string]any{{"op": "add_item", "sku": "steak", "line_id": line}}
				fire := n%8 == 7 && len(h.acked) < 400
				switch {
				case fire:
					ops[0]["course"] = 2
					ops = append(ops, map[string]any{"op": "send", "course": 2})
				case len(pending) >= 20:
					ops = []map[string]any{{"op": "remove_item", "line_id": pending[0]}}
				}
				body := map[string]any{"expected_version": h.version, "ops": ops}
				require.NoError(t, json.Unmarshal(h.send(t, rs, &start, "PATCH", "/v1/orders/"+h.order.String(), body,
					http.StatusOK, uuid.NewString()), &o))
				require.Equal(t, h.version+1, o.Version)
				h.version = o.Version
				switch {
				case ops[0]["op"] == "remove_item":
					h.acked = slices.DeleteFunc(h.acked, func(id uuid.UUID) bool { return id == pending[0] })
					pending = pending[1:]
				case fire:
					h.acked = append(h.acked, line)
				default:
					h.acked = append(h.acked, line)
					pending = append(pending, line)
				}
				acked.Add(1)
			}
		}(i)
	}
	waitFor("writes before the faults", 60*time.Second, func() bool { return acked.Load() >= 200 })
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
	// ready reports whether every replica answers /readyz with 200.
	notReady := atomic.Int64{}
	// checkReady asks every replica's /readyz, counting each answer other
	// than 200 in notReady, and returns what the last answer that did not
	// find NATS ok said of it ("" if none).
	checkReady := func() (natsReport string) {
		for _, base := range rs {
			resp, err := haHTTP.Get(base + "/readyz")
			if err != nil {
				notReady.Add(1)
				continue
			}
			var body struct {
				Checks map[string]string `json:"checks"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				notReady.Add(1)
			}
			if body.Checks["nats"] != "ok" {
				natsReport = body.Checks["nats"]
			}
		}
		return natsReport
	}
	// writesGoOn waits until 100 more writes have been acknowledged.
	writesGoOn := func(what string, timeout time.Duration) {
		t.Helper()
		n := acked.Load()
		waitFor(what, timeout, func() bool { return acked.Load() >= n+100 })
	}

	// A posd replica dies (SIGKILL): its handhelds' writes fail over to the
	// other with their keys. Then it comes back on its address.
	phase.Store(phaseReplicaKilled)
	replicaKilledAt := time.Now()
	require.NoError(t, servers[0].cmd.Process.Kill())
	waitFor("every handheld writing with one replica", 30*time.Second, everyoneWrote(phaseReplicaKilled, 10))
	servers[0] = startOpsServeAt(t, servers[0].addr, serveEnv)
	replicaBackAfter := time.Since(replicaKilledAt)
	writesGoOn("writes with the replica back", 30*time.Second)
	phase.Store(phaseSteady)

	// The NATS node leading the POS stream dies (SIGKILL). Writes go on
	// (they only need Postgres), another node takes the stream's lead, and
	// the outbox reaches it; both replicas stay ready throughout.
	leader, _, err := streamState(js)
	require.NoError(t, err)
	phase.Store(phaseNATSKilled)
	natsKilledAt := time.Now()
	nc.kill(nc.node(leader))
	var newLeader string
	waitFor("a new leader of the POS stream", 60*time.Second, func() bool {
		checkReady()
		l, _, err := streamState(js)
		newLeader = l
		return err == nil && l != "" && l != leader
	})
	leaderAfter := time.Since(natsKilledAt)
	waitFor("every handheld writing with a NATS node down", 30*time.Second, func() bool {
		checkReady()
		return everyoneWrote(phaseNATSKilled, 10)()
	})
	nc.start(nc.node(leader))
	waitFor("the killed NATS node current again", 60*time.Second, func() bool {
		checkReady()
		return streamOnThree()
	})
	natsBackAfter := time.Since(natsKilledAt)
	writesGoOn("writes with the NATS node back", 30*time.Second)
	phase.Store(phaseSteady)
	require.Zero(t, notReady.Load(), "a replica answered /readyz with other than 200 while a NATS node was down")

	// The whole NATS cluster is down. Orders are still taken (delivery
	// waits in the outbox) and no replica leaves the load balancer: /readyz
	// stays 200 and reports NATS as unreachable. Then NATS comes back and
	// the backlog goes out.
	phase.Store(phaseNATSDown)
	natsDownAt := time.Now()
	for _, n := range nc.nodes {
		nc.kill(n)
	}
	var natsReported string
	waitFor("every handheld writing with NATS down", 30*time.Second, func() bool {
		if r := checkReady(); r != "" {
			natsReported = r
		}
		return everyoneWrote(phaseNATSDown, 10)() && natsReported != "" && time.Since(natsDownAt) > 5*time.Second
	})
	natsDownFor := time.Since(natsDownAt)
	for _, n := range nc.nodes {
		nc.start(n)
	}
	waitFor("the NATS cluster back with the POS stream on three current replicas", 90*time.Second, streamOnThree)
	natsUpAfter := time.Since(natsDownAt)
	writesGoOn("writes with NATS back", 30*time.Second)
	phase.Store(phaseSteady)
	require.Zero(t, notReady.Load(), "a replica answered /readyz with other than 200 while NATS was down")

	// The audit read off the primary while orders are being taken: how far
	// behind the standby is under this load.
	var underLoad []string
	for i := 0; i < 3; i++ {
		r := verifyJSON(t, []string{"DATABASE_REPLICA_URL=" + standbyURL}, []string{"audit", "verify", "--venue", "demo", "--no-signatures"})
		require.NotNil(t, r.ReadFrom)
		require.True(t, r.ReadFrom.Standby && r.ReadFrom.Streaming, "%s", r.ReadFrom)
		require.NotNil(t, r.ReadFrom.LagSeconds)
		underLoad = append(underLoad, fmt.Sprintf("%.3f s (%d events)", *r.ReadFrom.LagSeconds, r.EventsChecked))
	}

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
	writesGoOn("writes with the rejoined standby", 60*time.Second)
	close(stop)
	wg.Wait()

	// Every acknowledged write is in its order, and each order's version is
	// its event count, on the new primary.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.superURL(f.primary(), "posd"))
	require.NoError(t, err)
	defer conn.Close(ctx)
	var longest [phases]time.Duration
	var retries [phases]int
	var ackedIn [phases]int64
	total := 0
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
			retries[ph] += h.retries[ph]
			ackedIn[ph] += h.ackedIn[ph].Load()
		}
		total += h.sent
	}
	require.Zero(t, retries[phaseNATSKilled], "writes were refused while a NATS node was down")
	require.Zero(t, retries[phaseNATSDown], "writes were refused while NATS was down")
	// A relay leads again on the new primary: the outbox drains to NATS.
	var pending int64
	waitFor("the outbox drained by a relay on the new primary", 30*time.Second, func() bool {
		return conn.QueryRow(ctx, `SELECT count(*) FROM outbox o JOIN outbox_cursor c ON c.name = 'relay'
			WHERE (o.txid, o.id) > (c.txid, c.id)`).Scan(&pending) == nil && pending == 0
	})

	// Every order event is in the stream once and reached the consumer.
	rows, err := conn.Query(ctx, "SELECT id::text FROM order_events WHERE venue_id = 'demo'")
	require.NoError(t, err)
	eventIDs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	waitFor("every order event at the JetStream consumer", 30*time.Second, func() bool { return watch.has(eventIDs) })
	_, bySubject, err := benchkit.StreamMessages(ctx, nc.URLs(), outbox.StreamName, "pos.demo.order.>", nc.Options()...)
	require.NoError(t, err)
	var inStream uint64
	for _, n := range bySubject {
		inStream += n
	}
	require.EqualValues(t, len(eventIDs), inStream, "the stream holds each order event once")
	received, unique := watch.counts()
	require.Equal(t, len(eventIDs), unique, "the consumer saw exactly the committed order events")

	// The kitchen screen saw every grill ticket once.
	rows, err = conn.Query(ctx, "SELECT id::text FROM kitchen_tickets WHERE venue_id = 'demo' AND station = 'grill'")
	require.NoError(t, err)
	tickets, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Greater(t, len(tickets), 50, "the load fired tickets to the grill")
	waitFor("every grill ticket on the kitchen screen", 30*time.Second, func() bool { return kds.seen() >= len(tickets) })
	kds.requireEach(t, tickets)

	pub, err := posdCmd(t, nil, "audit", "public-key", "--seal-key-file", testSealKeyFile(t))
	require.NoError(t, err, pub)
	verifyArgs := []string{"audit", "verify", "--venue", "demo", "--public-key", strings.TrimSpace(pub)}
	out, err = posdCmd(t, []string{"DATABASE_URL=" + owner}, verifyArgs...)
	require.NoError(t, err, out)

	// Reading off the primary: the audit on the standby (the old primary,
	// rejoined) finds the same journal, and says how far behind it read.
	onPrimary := verifyJSON(t, []string{"DATABASE_URL=" + owner}, verifyArgs)
	require.Nil(t, onPrimary.ReadFrom)
	onStandby := verifyJSON(t, []string{"DATABASE_REPLICA_URL=" + standbyURL}, verifyArgs)
	requireStandbyRead(t, onStandby.ReadFrom)
	require.Equal(t, onPrimary.EventsChecked, onStandby.EventsChecked)
	require.Equal(t, onPrimary.OrdersChecked, onStandby.OrdersChecked)
	var httpLag []string
	for _, base := range rs {
		req, err := http.NewRequest("GET", base+"/v1/audit/verify", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+seed.TokenManager)
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		require.NoError(t, err)
		var r audit.Result
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, r.OK, "GET /v1/audit/verify on the standby: %+v", r.Broken)
		requireStandbyRead(t, r.ReadFrom)
		require.True(t, strings.HasPrefix(resp.Header.Get("Posd-Read-From"), "standby; lag-seconds="), resp.Header.Get("Posd-Read-From"))
		require.Equal(t, onPrimary.EventsChecked, r.EventsChecked)
		httpLag = append(httpLag, resp.Header.Get("Posd-Read-From"))
	}
	t.Logf("audit verify off the primary: under load the standby was behind by %s; at rest %d events, %s (posd audit); GET /v1/audit/verify on the replicas: %q",
		strings.Join(underLoad, ", "), onStandby.EventsChecked, onStandby.ReadFrom, httpLag)
	t.Logf("posd replica killed: the longest wait for one write's acknowledgement %.0f ms (steady: %.0f ms), %d attempts sent again; the replica was back on its address %.1f s after the kill",
		ms(longest[phaseReplicaKilled]), ms(longest[phaseSteady]), retries[phaseReplicaKilled], replicaBackAfter.Seconds())
	t.Logf("NATS stream leader %s killed: %s led the stream %.1f s later, %d writes acknowledged meanwhile and %d refused, the longest wait %.0f ms; "+
		"the node was current again %.1f s after the kill; both replicas ready throughout",
		leader, newLeader, leaderAfter.Seconds(), ackedIn[phaseNATSKilled], retries[phaseNATSKilled],
		ms(longest[phaseNATSKilled]), natsBackAfter.Seconds())
	t.Logf("NATS cluster down for %.1f s: %d writes acknowledged and %d refused, the longest wait %.0f ms; /readyz 200 on both replicas, reporting nats %q; "+
		"the stream on three current replicas %.1f s after the nodes were killed",
		natsDownFor.Seconds(), ackedIn[phaseNATSDown], retries[phaseNATSDown], ms(longest[phaseNATSDown]), natsReported, natsUpAfter.Seconds())
	t.Logf("Postgres failover: %d writes acknowledged (%d before the kill), 0 lost; standby promoted %.1f s after the kill, "+
		"every handheld writing again after %.1f s; the longest wait for one write's acknowledgement %.1f s (%d attempts sent again); "+
		"the old primary rejoined as the standby %.1f s after the kill",
		total, before, promotedAfter.Seconds(), writingAfter.Seconds(), longest[phasePostgresKilled].Seconds(), retries[phasePostgresKilled], rejoinedAfter.Seconds())
	t.Logf("delivery: %d order events, each once in the stream and at the consumer (%d deliveries, %d duplicates dropped); "+
		"the kitchen screen saw %d grill tickets once each, over %d connections",
		len(eventIDs), received, received-unique, len(tickets), kds.connections())
}

// verifyJSON runs posd audit verify --json with env and decodes its answer.
func verifyJSON(t *testing.T, env, args []string) audit.Result {
	t.Helper()
	out, err := posdCmd(t, env, append(args, "--json")...)
	require.NoError(t, err, out)
	var r audit.Result
	require.NoError(t, json.Unmarshal([]byte(out), &r), out)
	require.True(t, r.OK, out)
	return r
}

// requireStandbyRead requires an answer read on a streaming standby that
// knew how far behind it was: at most a second, with no load running.
func requireStandbyRead(t *testing.T, r *audit.ReadFrom) {
	t.Helper()
	require.NotNil(t, r, "the answer says where it was read")
	require.True(t, r.Standby, "read on the standby")
	require.True(t, r.Streaming, "the standby streams from the new primary")
	require.NotNil(t, r.LagSeconds)
	require.Less(t, *r.LagSeconds, 1.0)
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

// eventWatch is a JetStream consumer of every order event of the demo
// venue, as a downstream system would read them: an ordered consumer, which
// the client recreates after a NATS node dies, and de-duplication by
// Nats-Msg-Id.
type eventWatch struct {
	mu       sync.Mutex
	seen     map[string]int
	received int
}

func watchOrderEvents(t *testing.T, js jetstream.JetStream) *eventWatch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cons, err := js.OrderedConsumer(ctx, outbox.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"pos.demo.order.>"}})
	require.NoError(t, err)
	w := &eventWatch{seen: map[string]int{}}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.received++
		w.seen[m.Headers().Get(nats.MsgIdHdr)]++
	})
	require.NoError(t, err)
	t.Cleanup(cc.Stop)
	return w
}

// has reports whether every id has been received.
func (w *eventWatch) has(ids []string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, id := range ids {
		if w.seen[id] == 0 {
			return false
		}
	}
	return true
}

// counts is the messages received and the distinct ids among them.
func (w *eventWatch) counts() (received, unique int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.received, len(w.seen)
}

// kdsScreen is a kitchen screen holding one station's stream through
// whichever replica answers. After the stream ends it reconnects to the next
// replica with Last-Event-ID, as the browser KDS does, waiting out a 429's
// Retry-After and retrying a 503.
type kdsScreen struct {
	mu      sync.Mutex
	created map[string]int // ticket id -> times its ticket.created arrived
	cursor  string
	conns   int
	err     error
}

func startKDS(t *testing.T, rs replicaSet, station string) *kdsScreen {
	t.Helper()
	k := &kdsScreen{created: map[string]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		for attempt := 0; ctx.Err() == nil; attempt++ {
			wait := k.hold(ctx, rs[attempt%len(rs)]+"/v1/kitchen/stream?station="+station)
			select {
			case <-ctx.Done():
			case <-time.After(wait):
			}
		}
	}()
	// The screen is live once its first stream is open.
	deadline := time.Now().Add(30 * time.Second)
	for k.connections() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the kitchen screen could not open its stream: %v", k.lastErr())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return k
}

// hold opens the stream at url and reads it until it ends; it returns how
// long to wait before the next attempt.
func (k *kdsScreen) hold(ctx context.Context, url string) time.Duration {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		k.fail(err)
		return time.Second
	}
	req.Header.Set("Authorization", "Bearer "+seed.TokenKitchen)
	req.Header.Set("Accept", "text/event-stream")
	k.mu.Lock()
	if k.cursor != "" {
		req.Header.Set("Last-Event-ID", k.cursor)
	}
	k.mu.Unlock()
	resp, err := (&http.Client{}).Do(req) // no timeout: the stream lives until it drops
	if err != nil {
		k.fail(err)
		return 200 * time.Millisecond
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		k.fail(fmt.Errorf("HTTP %d", resp.StatusCode))
		return max(time.Duration(secs)*time.Second, 500*time.Millisecond)
	default:
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		k.fail(fmt.Errorf("HTTP %d: %s", resp.StatusCode, b))
		return time.Second
	}
	k.mu.Lock()
	k.conns++
	k.mu.Unlock()
	err = benchkit.ReadSSEEvents(resp.Body, func(ev benchkit.SSEEvent) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if ev.ID != "" {
			k.cursor = ev.ID
		}
		if ev.Type != "ticket.created" {
			return
		}
		var body struct {
			Ticket struct {
				ID string `json:"id"`
			} `json:"ticket"`
		}
		if err := json.Unmarshal([]byte(ev.Data), &body); err != nil {
			k.err = fmt.Errorf("ticket.created: %w", err)
			return
		}
		k.created[body.Ticket.ID]++
	})
	if err != nil && ctx.Err() == nil {
		k.fail(err)
	}
	return 200 * time.Millisecond
}

func (k *kdsScreen) fail(err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.err = err
}

func (k *kdsScreen) lastErr() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err
}

func (k *kdsScreen) connections() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.conns
}

// seen is the number of distinct tickets the screen was told of.
func (k *kdsScreen) seen() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.created)
}

// requireEach checks that the screen saw each ticket exactly once, and no
// other.
func (k *kdsScreen) requireEach(t *testing.T, tickets []string) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, id := range tickets {
		require.Equal(t, 1, k.created[id], "ticket %s on the kitchen screen", id)
	}
	require.Len(t, k.created, len(tickets), "the kitchen screen saw tickets that are not the grill's")
}
