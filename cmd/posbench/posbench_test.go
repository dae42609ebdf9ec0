package main

import (
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
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
	for _, f := range []schemaFeatures{{}, currentFeatures, {Outbox: true}, {OrdersFull: true, Hash: true}} {
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
	}
}
