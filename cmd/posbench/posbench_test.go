package main

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestSummarizeNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := summarize(s)
	want := latencySummary{N: 100, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond,
		P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Fatalf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != latencySummary{}) {
		t.Fatal("summarize(nil) is not zero")
	}
}

func TestParsePgbench(t *testing.T) {
	out := `pgbench (15.18 (Debian 15.18-0+deb12u1))
transaction type: patch.sql
number of transactions actually processed: 2739
number of failed transactions: 0 (0.000%)
latency average = 2.187 ms
initial connection time = 3.101 ms
tps = 913.789514 (without initial connection time)
`
	r, err := parsePgbench(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.TPS != 913.789514 || r.Transactions != 2739 || r.Failed != 0 || r.LatencyAvg != 2187*time.Microsecond {
		t.Fatalf("parsePgbench = %+v", r)
	}
	if _, err := parsePgbench("pgbench: error: connection refused"); err == nil {
		t.Fatal("no error for output without tps")
	}
}

func TestHistogramSinceAndStats(t *testing.T) {
	inf := math.Inf(1)
	before := histogram{bounds: []float64{0.005, 0.01, 0.025, inf}, counts: []float64{10, 10, 10, 10}, sum: 0.05, count: 10}
	after := histogram{bounds: before.bounds, counts: []float64{10, 60, 109, 110}, sum: 1.05, count: 110}
	st := after.sub(before).stats()
	if st.Messages != 100 || st.Mean != 10*time.Millisecond || st.P50 != 0.01 || st.P99 != 0.025 {
		t.Fatalf("stats = %+v", st)
	}
	var sum histogram
	sum.add(after.sub(before))
	sum.add(after.sub(before))
	if st2 := sum.stats(); st2.Messages != 200 || st2.P50 != 0.01 {
		t.Fatalf("merged stats = %+v", st2)
	}
}

// The script must be complete for every schema posbench knows, and must not
// contain a ":name" pgbench would take for a variable other than its own.
func TestPgbenchScriptRenders(t *testing.T) {
	known := map[string]bool{"client_id": true, "si": true, "lid": true, "add": true}
	vars := regexp.MustCompile(`:([A-Za-z0-9_]+)`) // pgbench allows a leading digit
	for _, f := range []schemaFeatures{{}, currentFeatures, {Outbox: true}, {OrdersFull: true, Hash: true},
		{Outbox: true, OrdersFull: true, Hash: true, OpsJSON: true}, {WriteGuard: true}, {RLS: true},
		{Outbox: true, OrdersFull: true, Hash: true, OpsJSON: true, WriteGuard: true}} {
		s := renderPgbenchScript(10, f)
		if strings.Contains(s, "{{") {
			t.Fatalf("%v: unsubstituted placeholder in\n%s", f, s)
		}
		for _, line := range strings.Split(s, "\n") {
			if strings.HasPrefix(line, "--") {
				continue
			}
			for _, m := range vars.FindAllStringSubmatchIndex(line, -1) {
				name := line[m[2]:m[3]]
				if m[0] > 0 && line[m[0]-1] == ':' {
					continue // a cast
				}
				if !known[name] && !strings.HasPrefix(name, "o_") && !strings.HasPrefix(name, "m_") {
					t.Errorf("%v: unexpected variable :%s in %q", f, name, line)
				}
			}
		}
		if f.Outbox != strings.Contains(s, "outbox_bench") || f.Hash != strings.Contains(s, "last_hash") {
			t.Errorf("%v: script does not follow the features", f)
		}
		// With the write guard posd sends BEGIN … COMMIT as one pipeline
		// with the assertion after the UPDATE, and reads no menu.
		guarded := strings.Count(s, "\\startpipeline\nBEGIN;\n") == 2 && strings.Count(s, "COMMIT;\n\\endpipeline") == 2 &&
			strings.Count(s, "posd_assert(") == 2 && !strings.Contains(s, "menu_items")
		batched := strings.Count(s, "BEGIN;\n\\startpipeline") == 2 && strings.Count(s, "\\endpipeline\nCOMMIT;") == 2 &&
			!strings.Contains(s, "posd_assert") && strings.Count(s, "FROM menu_items") == 1
		if f.WriteGuard != guarded || f.WriteGuard == batched {
			t.Errorf("%v: write guard %v, but the script is guarded %v, batched %v:\n%s", f, f.WriteGuard, guarded, batched, s)
		}
		// Under row-level security the token lookup runs in the system
		// scope and each write names the venue, as posd's do.
		if rls := strings.Count(s, "set_config('posd.scope', 'system', true)") == 1 &&
			strings.Count(s, "set_config('posd.venue', 'demo', true)") == 2; rls != f.RLS {
			t.Errorf("%v: row-level security %v, but the script sets the scope: %v", f, f.RLS, rls)
		}
		if strings.Count(s, "\\startpipeline") != strings.Count(s, "\\endpipeline") {
			t.Errorf("%v: unbalanced pipeline", f)
		}
	}
}

func TestReadSSE(t *testing.T) {
	stream := "retry: 2000\n\n" +
		": heartbeat\n\n" +
		"event: ticket.created\ndata: {\"a\":1}\n\n" +
		"id: 7\nevent: ticket.bumped\ndata: x\ndata: y\n\n" +
		"data: plain\n\n" +
		"event: cut.off\ndata: never dispatched\n"
	var got []string
	err := readSSE(strings.NewReader(stream), func(typ, data string, at time.Time) {
		if at.IsZero() {
			t.Error("zero receive time")
		}
		got = append(got, typ+"|"+data)
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`ticket.created|{"a":1}`, "ticket.bumped|x\ny", "message|plain"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("readSSE = %q, want %q", got, want)
	}
}

func TestMatchDeliveries(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	msAfter := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	l1, l2, l3, l4 := newLineID(), newLineID(), newLineID(), newLineID()
	sent := []sentLine{
		{line: l1, station: "grill", at: msAfter(10)},
		{line: l2, station: "grill", at: msAfter(20)},
		{line: l3, station: "bar", at: msAfter(30)}, // not on the grill stream
		{line: l4, station: "grill", at: msAfter(40)},
	}
	tickets := []sseTicket{
		{created: msAfter(5), lines: []uuid.UUID{l1}, at: msAfter(15)},
		{created: msAfter(15), lines: []uuid.UUID{l2}, at: msAfter(18)}, // before the 200
		{created: msAfter(15), lines: []uuid.UUID{l2}, at: msAfter(50)}, // a duplicate
		{created: msAfter(1), lines: []uuid.UUID{newLineID()}, at: msAfter(2)},
	}
	var r kitchenResult
	matchTickets(&r, sent, tickets)
	if r.SSEExpected != 3 || r.SSEReceived != 2 || r.SSEMissing != 1 || r.SSEDuplicate != 1 {
		t.Fatalf("tickets: %+v", r)
	}
	if r.SSEFromCreated.Max != 10*time.Millisecond || r.SSEFromAck.P50 != -2*time.Millisecond {
		t.Fatalf("ticket latencies: from created %+v, from ack %+v", r.SSEFromCreated, r.SSEFromAck)
	}
	acks := []ack{{"o1", 2, msAfter(10)}, {"o1", 3, msAfter(20)}, {"o2", 2, msAfter(20)}}
	events := []natsEvent{
		{order: "o1", version: 2, created: msAfter(4), at: msAfter(12)},
		{order: "o2", version: 2, created: msAfter(14), at: msAfter(16)},
		{order: "o1", version: 1, created: msAfter(0), at: msAfter(1)},
	}
	matchEvents(&r, acks, events)
	if r.NATSExpected != 3 || r.NATSReceived != 2 || r.NATSMissing != 1 || r.NATSDuplicate != 0 {
		t.Fatalf("events: %+v", r)
	}
	if r.NATSFromAt.Max != 8*time.Millisecond || r.NATSFromAck.P50 != -4*time.Millisecond {
		t.Fatalf("event latencies: from at %+v, from ack %+v", r.NATSFromAt, r.NATSFromAck)
	}
}

// The drain's payload template, filled in as Postgres's format() does, is an
// order event's JSON of about the size of posd's.
func TestDrainPayload(t *testing.T) {
	id, orderID, line := uuid.New().String(), uuid.New().String(), uuid.New().String()
	s := drainPayload
	for i, v := range []string{id, orderID, "42", "2026-11-22T02:00:00.123456Z", line, strings.Repeat("ab", 32)} {
		s = strings.ReplaceAll(s, fmt.Sprintf("%%%d$s", i+1), v)
	}
	var ev struct {
		OrderID string    `json:"order_id"`
		Version int64     `json:"version"`
		At      time.Time `json:"at"`
	}
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	if ev.OrderID != orderID || ev.Version != 42 || ev.At.IsZero() {
		t.Fatalf("decoded %+v from %s", ev, s)
	}
	if len(s) < 400 || len(s) > 700 {
		t.Fatalf("payload is %d bytes", len(s))
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 112: "112th"} {
		if got := ordinal(n); got != want {
			t.Errorf("ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
