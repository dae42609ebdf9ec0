package httpapi_test

// Concurrency tests of the versioned write (DESIGN.md sections 4 and 6),
// all through real HTTP against a real posd over a real Postgres database:
//
//   - TestTwoTabs is the lost-update story of the seeds, step by step.
//   - TestBanquet has several waiters hammer one order (and several orders)
//     with a re-applying client and checks that nothing acknowledged is lost.
//   - TestLinearizable records a concurrent history of reads and versioned
//     writes and checks it with porcupine against a versioned-register model.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// lineIDs lists an order's line ids in position order.
func lineIDs(o order.Order) []string {
	ids := make([]string, len(o.Lines))
	for i, l := range o.Lines {
		ids[i] = l.ID.String()
	}
	return ids
}

// noted is one add_item of a line with a note (and, unless uuid.Nil, the
// client's line id).
func noted(sku, note string, lineID uuid.UUID) order.Op {
	if lineID == uuid.Nil {
		return apitest.AddItem(sku, 1, apitest.LineNote(note))
	}
	return apitest.AddItem(sku, 1, apitest.LineNote(note), apitest.LineID(lineID))
}

// dbState is what Postgres itself says about an order, read as the
// superuser: its version column, its event rows and its line rows.
func dbState(t *testing.T, f *apitest.Fixture, id uuid.UUID) (version, events, lines int64) {
	t.Helper()
	version = f.DB.Count(t, `SELECT version FROM orders WHERE id = $1`, id)
	events = f.DB.Count(t, `SELECT count(*) FROM order_events WHERE order_id = $1`, id)
	lines = f.DB.Count(t, `SELECT count(*) FROM order_lines WHERE order_id = $1`, id)
	return version, events, lines
}

// getOrder reads an order and checks its ETag is its version.
func getOrder(t *testing.T, c *apitest.Client, id uuid.UUID) order.Order {
	t.Helper()
	r := c.TryOrder(id)
	require.Equal(t, 200, r.Status, string(r.Body))
	o := r.Order(t)
	require.Equal(t, strconv.Quote(strconv.FormatInt(o.Version, 10)), r.Header.Get("ETag"))
	return o
}

// TestTwoTabs is the seeds' "two tabs" lost-update story through the API.
// Invariant 1 (DESIGN.md §6): the second, stale write is refused with 409 and
// the authoritative order instead of silently erasing the first; the client
// re-applies its change on the latest version and both changes survive.
// Invariant 3: version = number of events (3 = 3 rows in order_events), and
// the refused write left no trace in the order, its lines or its log.
func TestTwoTabs(t *testing.T) {
	f := start(t)
	tabA, tabB := f.Waiter, f.Waiter2

	o := openFresh(t, tabA, "T12")

	// Both tabs load the order at version 1.
	a := getOrder(t, tabA, o.ID)
	b := getOrder(t, tabB, o.ID)
	require.EqualValues(t, 1, a.Version)
	require.EqualValues(t, 1, b.Version)

	// Tab A saves first: steak, accepted at version 2.
	r := tabA.TryPatch(o.ID, a.Version, noted("steak", "tab A", uuid.Nil))
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	afterA := r.Order(t)
	require.EqualValues(t, 2, afterA.Version)
	require.Len(t, afterA.Lines, 1)
	steak := afterA.Lines[0]
	require.Equal(t, "steak", steak.SKU)
	require.Equal(t, "tab A", steak.Note)

	// Tab B saves from its stale version 1: refused, with what changed.
	r = tabB.TryPatch(o.ID, b.Version, noted("fries", "tab B", uuid.Nil))
	p := apitest.RequireProblem(t, r, 409, "version-conflict")
	require.NotNil(t, p.ExpectedVersion)
	require.EqualValues(t, 1, *p.ExpectedVersion)
	require.NotNil(t, p.CurrentVersion)
	require.EqualValues(t, 2, *p.CurrentVersion)
	require.NotNil(t, p.Current)
	require.EqualValues(t, 2, p.Current.Version)
	require.Equal(t, o.ID, p.Current.ID)
	require.Equal(t, []order.Line{steak}, p.Current.Lines, "current must hold tab A's steak and nothing of tab B")
	require.NotNil(t, p.Changes)
	require.Len(t, *p.Changes, 1, "changes = the events after expected_version 1")
	ch := (*p.Changes)[0]
	require.EqualValues(t, 2, ch.Version)
	require.Equal(t, "order.patched", ch.Type)
	require.Equal(t, o.ID, ch.OrderID)
	require.Equal(t, "waiter-1", ch.Actor.Device)
	require.False(t, ch.Forced)
	require.Len(t, ch.Ops, 1)
	require.Equal(t, "add_item", ch.Ops[0].Op)
	require.Equal(t, "steak", ch.Ops[0].SKU)
	require.Equal(t, &steak.ID, ch.Ops[0].LineID)

	// The refused write changed nothing.
	v, evs, lines := dbState(t, f, o.ID)
	require.EqualValues(t, [3]int64{2, 2, 1}, [3]int64{v, evs, lines}, "version, events, lines after the 409")

	// Tab B re-applies its line on the latest version: accepted at 3.
	afterB := tabB.Patch(o.ID, *p.CurrentVersion, noted("fries", "tab B", uuid.Nil))
	require.EqualValues(t, 3, afterB.Version)

	// Both changes are there, in the order they were accepted.
	final := getOrder(t, tabA, o.ID)
	require.EqualValues(t, 3, final.Version)
	require.Len(t, final.Lines, 2)
	require.Equal(t, steak, final.Lines[0])
	require.Equal(t, "fries", final.Lines[1].SKU)
	require.Equal(t, "tab B", final.Lines[1].Note)
	require.Equal(t, afterB.Lines, final.Lines)

	events := tabA.Events(o.ID, 0).Events
	require.Len(t, events, 3)
	for i, e := range events {
		require.EqualValues(t, i+1, e.Version)
	}
	require.Equal(t, "order.opened", events[0].Type)
	require.Equal(t, "order.patched", events[1].Type)
	require.Equal(t, "order.patched", events[2].Type)
	require.Equal(t, "waiter-1", events[1].Actor.Device)
	require.Equal(t, "waiter-2", events[2].Actor.Device)
	require.Equal(t, &steak.ID, events[1].Ops[0].LineID)
	require.Equal(t, &final.Lines[1].ID, events[2].Ops[0].LineID)

	v, evs, lines = dbState(t, f, o.ID)
	require.EqualValues(t, 3, v, "orders.version")
	require.Equal(t, v, evs, "version = number of order_events rows")
	require.EqualValues(t, 2, lines)
}

// openFresh opens an order on table for 4 guests and requires it at
// version 1 without lines.
func openFresh(t *testing.T, c *apitest.Client, table string) order.Order {
	t.Helper()
	o := c.Open(table, 4)
	require.EqualValues(t, 1, o.Version)
	require.Empty(t, o.Lines)
	return o
}

// TestBanquet is the banquet story: several waiters add items to the same
// order(s) at once, each with the honest client loop: PATCH with the version
// it knows; on 409 take current_version from the problem and re-apply its own
// line (the server never merges).
//
// Invariant 1 (DESIGN.md §6): every acknowledged (200) line is in the final
// order exactly once, each acknowledged write got its own version, and no 409
// ever hides a line that was acknowledged before it was read. Invariant 3:
// version = 1 + accepted writes = number of order_events rows, and the log's
// add_item ops, in version order, are exactly the order's lines.
func TestBanquet(t *testing.T) {
	t.Parallel()
	t.Run("one order", func(t *testing.T) {
		t.Parallel()
		banquet(t, 1, 4, 15)
	})
	t.Run("several orders", func(t *testing.T) {
		t.Parallel()
		banquet(t, 3, 4, 6)
	})
}

// ack is one acknowledged add_item.
type ack struct {
	order        uuid.UUID
	lineID, note string
	version      int64
}

func banquet(t *testing.T, nOrders, nWaiters, itemsPerOrder int) {
	f := apitest.NewFixture(t)
	waiters := []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}
	skus := []string{"steak", "burger", "fries", "caesar", "beer", "espresso"}

	orders := make([]uuid.UUID, nOrders)
	for i := range orders {
		orders[i] = openFresh(t, f.Manager, "T"+strconv.Itoa(i+1)).ID
	}

	var (
		mu        sync.Mutex
		acks      []ack
		errs      []error
		accepted  = make(map[uuid.UUID]int64) // order → 200s
		conflicts atomic.Int64
		attempts  atomic.Int64
		start     = make(chan struct{})
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	began := time.Now()
	for w := range nWaiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := f.As(t, waiters[w%4])
			// Every waiter loaded every order at version 1 (the open): by
			// pigeonhole at least two waiters start on the same order with
			// expected_version 1, so at least one 409 is certain.
			known := make(map[uuid.UUID]int64, nOrders)
			for _, id := range orders {
				known[id] = 1
			}
			// mine is what this waiter had acknowledged, per order.
			mine := make(map[uuid.UUID][]string)
			<-start
			for i := range itemsPerOrder * nOrders {
				id := orders[(i+w)%nOrders]
				note := fmt.Sprintf("waiter %d item %d", w, i)
				lineUUID := uuid.New()
				lineID := lineUUID.String()
				op := noted(skus[(w+i)%len(skus)], note, lineUUID)
				for attempt := 1; ; attempt++ {
					if attempt > 500 {
						fail(fmt.Errorf("%s: no write landed in 500 attempts", note))
						return
					}
					attempts.Add(1)
					exp := known[id]
					r := client.TryPatch(id, exp, op)
					if r.Status == 200 {
						var o order.Order
						if err := decode(r, &o); err != nil {
							fail(err)
							return
						}
						if o.Version != exp+1 {
							fail(fmt.Errorf("%s: 200 at version %d from expected %d", note, o.Version, exp))
							return
						}
						if !slices.Contains(lineIDs(o), lineID) {
							fail(fmt.Errorf("%s: 200 without the line", note))
							return
						}
						known[id] = o.Version
						mine[id] = append(mine[id], lineID)
						mu.Lock()
						acks = append(acks, ack{order: id, lineID: lineID, note: note, version: o.Version})
						accepted[id]++
						mu.Unlock()
						break
					}
					if r.Status != 409 {
						fail(fmt.Errorf("%s: status %d: %s", note, r.Status, r.Body))
						return
					}
					conflicts.Add(1)
					var p httpapi.Problem
					if err := decode(r, &p); err != nil {
						fail(err)
						return
					}
					if err := checkConflict(p, exp, mine[id], lineID); err != nil {
						fail(fmt.Errorf("%s: %w (body %s)", note, err, r.Body))
						return
					}
					known[id] = *p.CurrentVersion
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	require.Empty(t, errs)

	want := nWaiters * itemsPerOrder
	require.Len(t, acks, want*nOrders, "every item was acknowledged once")
	require.GreaterOrEqual(t, conflicts.Load(), int64(1), "the waiters must actually have collided")
	t.Logf("%d orders, %d waiters: %d writes accepted, %d conflicts (409), %d PATCHes in %v",
		nOrders, nWaiters, len(acks), conflicts.Load(), attempts.Load(), elapsed.Round(time.Millisecond))

	for _, id := range orders {
		final := getOrder(t, f.Auditor, id)
		byID := make(map[string]order.Line, len(final.Lines))
		notes := make(map[string]bool, len(final.Lines))
		for _, l := range final.Lines {
			require.NotContains(t, byID, l.ID, "duplicate line id %s", l.ID)
			require.NotContains(t, notes, l.Note, "duplicate line %q", l.Note)
			byID[l.ID.String()], notes[l.Note] = l, true
		}
		versions := make(map[int64]string)
		for _, a := range acks {
			if a.order != id {
				continue
			}
			l, ok := byID[a.lineID]
			require.True(t, ok, "acknowledged line %q (version %d) is missing: a lost update", a.note, a.version)
			require.Equal(t, a.note, l.Note)
			require.NotContains(t, versions, a.version, "two writes acknowledged at version %d", a.version)
			versions[a.version] = a.lineID
		}
		require.Len(t, final.Lines, want, "no line lost, none invented")
		require.Equal(t, 1+accepted[id], final.Version, "version = 1 + accepted writes")
		for v := int64(2); v <= final.Version; v++ {
			require.Contains(t, versions, v, "no acknowledged write at version %d", v)
		}

		// The log: one event per version, its add_items are the lines, in order.
		events := f.Auditor.Events(id, 0).Events
		require.Len(t, events, int(final.Version))
		var logged []string
		for i, e := range events {
			require.EqualValues(t, i+1, e.Version)
			for _, op := range e.Ops {
				if op.Op == "add_item" {
					logged = append(logged, op.LineID.String())
					require.Equal(t, versions[e.Version], op.LineID.String(), "event %d is the write acknowledged at %d", e.Version, e.Version)
				}
			}
		}
		require.Equal(t, lineIDs(final), logged, "folding the log gives the order's lines")

		v, evs, lines := dbState(t, f, id)
		require.Equal(t, final.Version, v, "orders.version")
		require.Equal(t, v, evs, "version = number of order_events rows")
		require.EqualValues(t, want, lines, "order_lines rows")
	}
}

// checkConflict checks a 409 a waiter got for a write made against
// expected: a version-conflict problem whose current order is past expected,
// holds every line this waiter had acknowledged on the order, does not hold
// the refused line, and whose changes are exactly the events after expected
// (or, when changes_truncated says so, the newest of them up to the current
// version).
func checkConflict(p httpapi.Problem, expected int64, mine []string, refused string) error {
	switch {
	case !strings.HasSuffix(p.Type, "version-conflict"):
		return fmt.Errorf("problem type %q", p.Type)
	case p.ExpectedVersion == nil || p.CurrentVersion == nil:
		return fmt.Errorf("expected_version or current_version missing")
	case *p.ExpectedVersion != expected:
		return fmt.Errorf("expected_version %d, sent %d", *p.ExpectedVersion, expected)
	case *p.CurrentVersion <= expected:
		return fmt.Errorf("current_version %d not past expected %d", *p.CurrentVersion, expected)
	case p.Current == nil || p.Current.Version != *p.CurrentVersion:
		return fmt.Errorf("current order does not match current_version")
	case p.Changes == nil || p.ChangesTruncated == nil:
		return fmt.Errorf("changes or changes_truncated missing")
	case len(*p.Changes) == 0 || *p.ChangesTruncated != (int64(len(*p.Changes)) < *p.CurrentVersion-expected):
		return fmt.Errorf("changes_truncated %v with %d changes for versions %d..%d", *p.ChangesTruncated, len(*p.Changes), expected+1, *p.CurrentVersion)
	}
	first := *p.CurrentVersion - int64(len(*p.Changes)) + 1
	for i, e := range *p.Changes {
		if e.Version != first+int64(i) {
			return fmt.Errorf("changes[%d] has version %d", i, e.Version)
		}
	}
	have := lineIDs(*p.Current)
	for _, id := range mine {
		if !slices.Contains(have, id) {
			return fmt.Errorf("current lacks acknowledged line %s", id)
		}
	}
	if slices.Contains(have, refused) {
		return fmt.Errorf("current holds the refused line %s", refused)
	}
	return nil
}

// decode decodes a response body; for use off the test goroutine, where
// require cannot stop the test.
func decode(r apitest.Response, v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %d body %q: %w", r.Status, r.Body, err)
	}
	return nil
}

// --- linearizability -------------------------------------------------------

// linInput is one operation on one order: a GET, or a PATCH adding line
// LineID against version Expected.
type linInput struct {
	Order    string
	Patch    bool
	Expected int64
	LineID   string
}

// linOutput is what came back: for a GET and a 200 the order's version and
// line ids (in position order, comma-joined); for a 409 the current_version
// and the line ids of `current`.
type linOutput struct {
	Conflict bool
	Version  int64
	Lines    string
}

// linState is the model of one order: a versioned register whose value is
// the list of its line ids in the order they were added.
type linState struct {
	Version int64
	Lines   string
}

func linAppend(lines, id string) string {
	if lines == "" {
		return id
	}
	return lines + "," + id
}

// linModel is the sequential specification, partitioned by order (orders are
// independent registers, so the history is linearizable iff each order's is).
//
//   - GET returns the state.
//   - PATCH(expected) succeeds iff state.Version == expected; it yields
//     version expected+1 with its line appended, and the 200 body is exactly
//     that state.
//   - PATCH(expected) is refused (409) iff state.Version != expected, and
//     the refusal is linearized as an atomic read: current_version and
//     `current` equal the state at that point.
//
// The last rule is stronger than "current_version != expected", and it is what
// the server actually guarantees: a 409 comes either from the pre-read (the
// conflict reports that same snapshot) or from the versioned UPDATE matching
// no row, after which `current` is read afresh. In the second case the
// refusal's linearization point is that later read: at that point the
// version still differs from expected because versions only grow and the
// client's expected was a version the order had already reached when the
// request was sent (every client here only sends versions it observed). A
// 409 for a version the order had not reached yet could not be placed like
// this, but no client in this test can send one.
var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byOrder := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(linInput).Order
			if _, ok := byOrder[k]; !ok {
				keys = append(keys, k)
			}
			byOrder[k] = append(byOrder[k], op)
		}
		parts := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, byOrder[k])
		}
		return parts
	},
	Init: func() any { return linState{Version: 1} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(linState), input.(linInput), output.(linOutput)
		switch {
		case !in.Patch:
			return out.Version == st.Version && out.Lines == st.Lines, st
		case out.Conflict:
			return st.Version != in.Expected && out.Version == st.Version && out.Lines == st.Lines, st
		case st.Version != in.Expected:
			return false, st
		}
		next := linState{Version: st.Version + 1, Lines: linAppend(st.Lines, in.LineID)}
		return out.Version == next.Version && out.Lines == next.Lines, next
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		n := strings.Count(out.Lines, ",") + 1
		if out.Lines == "" {
			n = 0
		}
		switch {
		case !in.Patch:
			return fmt.Sprintf("get -> v%d (%d lines)", out.Version, n)
		case out.Conflict:
			return fmt.Sprintf("patch(v%d, %.8s) -> 409 current v%d", in.Expected, in.LineID, out.Version)
		}
		return fmt.Sprintf("patch(v%d, %.8s) -> 200 v%d", in.Expected, in.LineID, out.Version)
	},
	DescribeState: func(state any) string {
		st := state.(linState)
		return fmt.Sprintf("v%d", st.Version)
	},
}

// TestLinearizable records a history of concurrent GETs and versioned PATCHes
// of several clients on a few orders and checks it with porcupine against the
// versioned-register model above (linModel).
//
// Invariant 1 (DESIGN.md §6): a versioned write is accepted only against the
// current version, so no two writes are acknowledged from the same version
// and none is silently overwritten; every read sees every write acknowledged
// before it started. Invariant 3: each accepted write is exactly one version
// step, and the database's version equals the number of its events. The
// checker is shown to reject corrupted histories, so the check is not vacuous.
func TestLinearizable(t *testing.T) {
	f := start(t)
	waiters := []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}
	const (
		nOrders        = 3
		nClients       = 8
		opsPerClient   = 40
		getProbability = 0.35
	)
	orders := make([]uuid.UUID, nOrders)
	for i := range orders {
		orders[i] = openFresh(t, f.Manager, "T"+strconv.Itoa(20+i)).ID
	}
	rngSeed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", rngSeed)

	var (
		mu      sync.Mutex
		history []porcupine.Operation
		errs    []error
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	// Times come from the monotonic clock, relative to one origin.
	origin := time.Now()
	now := func() int64 { return int64(time.Since(origin)) }

	for c := range nClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(rngSeed, uint64(c)))
			client := f.As(t, waiters[c%4])
			known := map[uuid.UUID]int64{} // order → last version this client saw
			<-start
			for range opsPerClient {
				id := orders[rng.IntN(nOrders)]
				exp, seen := known[id]
				var in linInput
				var send func() apitest.Response
				if !seen || rng.Float64() < getProbability {
					in = linInput{Order: id.String()}
					send = func() apitest.Response { return client.TryOrder(id) }
				} else {
					line := uuid.New()
					in = linInput{Order: id.String(), Patch: true, Expected: exp, LineID: line.String()}
					send = func() apitest.Response {
						return client.TryPatch(id, exp, noted("espresso", "c"+strconv.Itoa(c), line))
					}
				}
				call := now()
				r := send()
				ret := now()
				var out linOutput
				switch {
				case r.Status == 200:
					var o order.Order
					if err := decode(r, &o); err != nil {
						fail(err)
						return
					}
					out = linOutput{Version: o.Version, Lines: strings.Join(lineIDs(o), ",")}
				case r.Status == 409 && in.Patch:
					var p httpapi.Problem
					if err := decode(r, &p); err != nil {
						fail(err)
						return
					}
					if err := checkConflict(p, exp, nil, in.LineID); err != nil {
						fail(fmt.Errorf("client %d: %w (body %s)", c, err, r.Body))
						return
					}
					out = linOutput{Conflict: true, Version: *p.CurrentVersion, Lines: strings.Join(lineIDs(*p.Current), ",")}
				default:
					fail(fmt.Errorf("client %d: %+v: status %d: %s", c, in, r.Status, r.Body))
					return
				}
				known[id] = out.Version
				mu.Lock()
				history = append(history, porcupine.Operation{
					ClientId: c, Input: in, Call: call, Output: out, Return: ret,
				})
				mu.Unlock()
			}
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(began)
	require.Empty(t, errs)
	require.Len(t, history, nClients*opsPerClient)

	var gets, oks, refused int
	okByOrder := map[uuid.UUID]int64{}
	for _, op := range history {
		in, out := op.Input.(linInput), op.Output.(linOutput)
		switch {
		case !in.Patch:
			gets++
		case out.Conflict:
			refused++
		default:
			oks++
			okByOrder[uuid.MustParse(in.Order)]++
		}
	}
	t.Logf("%d ops in %v: %d GET, %d PATCH 200, %d PATCH 409", len(history), elapsed.Round(time.Millisecond), gets, oks, refused)
	require.Positive(t, oks)
	require.Positive(t, refused, "no conflicts: the clients never actually raced")

	checkStart := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linModel, history, 30*time.Second)
	t.Logf("porcupine: %s in %v", res, time.Since(checkStart).Round(time.Millisecond))
	if res != porcupine.Ok {
		// porcupine draws the history and the longest linearizable prefix;
		// t.TempDir vanishes with the test, so POSD_TEST_ARTIFACTS keeps it.
		path := filepath.Join(t.TempDir(), "linearizability.html")
		if dir := os.Getenv("POSD_TEST_ARTIFACTS"); dir != "" {
			path = filepath.Join(dir, "linearizability.html")
		}
		if err := porcupine.VisualizePath(linModel, info, path); err == nil {
			t.Logf("visualization: %s", path)
		}
	}
	require.Equal(t, porcupine.Ok, res, "the history of reads and versioned writes is not linearizable")

	for _, id := range orders {
		v, evs, lines := dbState(t, f, id)
		require.Equal(t, 1+okByOrder[id], v, "version = 1 + accepted writes")
		require.Equal(t, v, evs, "version = number of order_events rows")
		require.Equal(t, okByOrder[id], lines)
	}

	// The checker must be able to fail, or the check above proves nothing.
	t.Run("rejects corrupted histories", func(t *testing.T) {
		// An accepted write that claims a version it cannot have had.
		bumped := slices.Clone(history)
		i := slices.IndexFunc(bumped, func(op porcupine.Operation) bool {
			return op.Input.(linInput).Patch && !op.Output.(linOutput).Conflict
		})
		require.GreaterOrEqual(t, i, 0)
		out := bumped[i].Output.(linOutput)
		out.Version++
		bumped[i].Output = out
		require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(linModel, bumped, 30*time.Second),
			"a 200 at the wrong version must be rejected")

		// The lost update itself: a refused write reported as accepted, so
		// two writes were acknowledged from the same version (two tabs both
		// told "saved").
		lost := slices.Clone(history)
		// Every output, 409s included, observed a state: order → version → lines.
		linesAt := map[string]map[int64]string{}
		for _, op := range lost {
			in, out := op.Input.(linInput), op.Output.(linOutput)
			if linesAt[in.Order] == nil {
				linesAt[in.Order] = map[int64]string{1: ""}
			}
			linesAt[in.Order][out.Version] = out.Lines
		}
		i = slices.IndexFunc(lost, func(op porcupine.Operation) bool {
			return op.Output.(linOutput).Conflict
		})
		require.GreaterOrEqual(t, i, 0)
		in := lost[i].Input.(linInput)
		before, ok := linesAt[in.Order][in.Expected]
		require.True(t, ok, "lines at version %d unknown", in.Expected)
		lost[i].Output = linOutput{Version: in.Expected + 1, Lines: linAppend(before, in.LineID)}
		require.Equal(t, porcupine.Illegal, porcupine.CheckOperationsTimeout(linModel, lost, 30*time.Second),
			"two writes acknowledged from one version must be rejected")
	})
}
