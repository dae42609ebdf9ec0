package benchkit

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSummarizeNearestRank(t *testing.T) {
	var s []time.Duration
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i)*time.Millisecond)
	}
	got := Summarize(s)
	want := Summary{N: 100, P50: 50 * time.Millisecond, P95: 95 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond}
	if got != want {
		t.Fatalf("Summarize = %+v, want %+v", got, want)
	}
	if (Summarize(nil) != Summary{}) || Summarize(nil).Cols() != "0 | – | – | – | –" {
		t.Fatal("Summarize(nil) is not empty")
	}
	if c := Summarize([]time.Duration{time.Millisecond}).Cols(); c != "1 | 1.00 | 1.00 | 1.00 | 1.00" {
		t.Fatalf("Cols = %q", c)
	}
}

func TestWindow(t *testing.T) {
	w := NewWindow(time.Hour, time.Minute)
	if w.Has(time.Now()) || !w.Has(w.Start) || w.Has(w.End) || w.Over(context.Background()) {
		t.Fatalf("window %+v", w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if !w.Over(ctx) || Sleep(ctx, time.Hour) == nil {
		t.Fatal("a cancelled context does not end the window or the sleep")
	}
}

func TestFormatting(t *testing.T) {
	for got, want := range map[string]string{
		MS(1500 * time.Microsecond): "1.50", MB(90_300_000): "90.3 MB", Share(time.Second, 4*time.Second): "25%",
		Share(time.Second, 0): "–", Per(3*time.Millisecond, 2): "1.500", Per(time.Second, 0): "–", Truncate("abcdef", 3): "abc…",
		Ordinal(1): "1st", Ordinal(2): "2nd", Ordinal(3): "3rd", Ordinal(4): "4th", Ordinal(11): "11th", Ordinal(12): "12th",
		Ordinal(13): "13th", Ordinal(21): "21st", Ordinal(112): "112th",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	var b bytes.Buffer
	md := Markdown{W: &b}
	md.Table("run", "n")
	md.Row("a", "1")
	if b.String() != "| run | n |\n|---|---:|\n| a | 1 |\n" {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestHistogram(t *testing.T) {
	exposition := `# HELP x_seconds x
x_seconds_bucket{le="0.01"} 60
x_seconds_bucket{le="0.005"} 10
x_seconds_bucket{le="0.025"} 109
x_seconds_bucket{le="+Inf"} 110
x_seconds_sum 1.05
x_seconds_count 110
other_bucket{le="1"} 5
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(exposition)) }))
	defer srv.Close()
	after, ok, err := ScrapeHistogram(context.Background(), srv.Client(), srv.URL, "x_seconds")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	before := Histogram{Bounds: after.Bounds, Counts: []float64{10, 10, 10, 10}, Sum: 0.05, Count: 10}
	d := after.Sub(before)
	if st := d.Stats(); st.N != 100 || st.Mean != 10*time.Millisecond || st.P50 != 0.01 || st.P99 != 0.025 {
		t.Fatalf("stats = %+v", st)
	}
	if st := AddHistograms(&d, &d).Stats(); st.N != 200 || st.P50 != 0.01 {
		t.Fatalf("merged stats = %+v", st)
	}
	if AddHistograms(nil, &d) != &d || BucketMS(math.Inf(1)) != "> last bucket" || BucketMS(0.025) != "≤ 25" {
		t.Fatal("AddHistograms or BucketMS")
	}
	if _, ok, _ := ParseHistogram(strings.NewReader(exposition), "missing"); ok {
		t.Fatal("found a missing metric")
	}
}

func TestGauges(t *testing.T) {
	exposition := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_other 1\n" +
		"go_memstats_heap_inuse_bytes 3.104768e+06\nlabelled{a=\"b\"} 7\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(exposition)) }))
	defer srv.Close()
	g, err := ScrapeGauges(context.Background(), srv.URL, "go_goroutines", "go_memstats_heap_inuse_bytes", "missing")
	if err != nil || len(g) != 2 || g["go_goroutines"] != 42 || g["go_memstats_heap_inuse_bytes"] != 3104768 {
		t.Fatalf("ScrapeGauges = %v, %v", g, err)
	}
}

func TestReadSSE(t *testing.T) {
	stream := "retry: 2000\n\n: heartbeat\n\nevent: ticket.created\ndata: {\"a\":1}\n\n" +
		"id: 7\nevent: ticket.bumped\ndata: x\ndata: y\n\ndata: plain\n\nevent: cut.off\ndata: never dispatched\n"
	var got []string
	if err := ReadSSE(strings.NewReader(stream), func(typ, data string, at time.Time) {
		if at.IsZero() {
			t.Error("zero receive time")
		}
		got = append(got, typ+"|"+data)
	}); err != nil {
		t.Fatal(err)
	}
	if want := `ticket.created|{"a":1};ticket.bumped|x` + "\ny;message|plain"; strings.Join(got, ";") != want {
		t.Fatalf("ReadSSE = %q", got)
	}
}

func TestReadSSEEventsIDs(t *testing.T) {
	stream := "retry: 2000\n\nevent: ticket.created\ndata: a\n\nid: 7\nevent: ticket.bumped\ndata: b\n\n" +
		": heartbeat\n\nid: 8\ndata: c\n\nid: 9\nevent: cut.off\ndata: never dispatched\n"
	var got []string
	if err := ReadSSEEvents(strings.NewReader(stream), func(ev SSEEvent) {
		got = append(got, ev.ID+"|"+ev.Type+"|"+ev.Data)
	}); err != nil {
		t.Fatal(err)
	}
	if want := "|ticket.created|a;7|ticket.bumped|b;8|message|c"; strings.Join(got, ";") != want {
		t.Fatalf("ReadSSEEvents = %q", got)
	}
}

func TestParsePgbench(t *testing.T) {
	out := "pgbench (15.18)\nnumber of transactions actually processed: 2739\nnumber of failed transactions: 3 (0.1%)\n" +
		"latency average = 2.187 ms\ntps = 913.789514 (without initial connection time)\n"
	r, err := ParsePgbench(out)
	if err != nil || r.TPS != 913.789514 || r.Transactions != 2739 || r.Failed != 3 || r.LatencyAvg != 2187*time.Microsecond {
		t.Fatalf("ParsePgbench = %+v, %v", r, err)
	}
	if _, err := ParsePgbench("pgbench: error: connection refused"); err == nil {
		t.Fatal("no error without tps")
	}
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "log.1"), []byte("0 1 1500 0 1700000000 1\n0 2 failed 0 1700000000 2\n"), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "log.2"), []byte("1 1 250 0 1700000000 3\n"), 0o644)
	lat, err := ReadPgbenchLogs(filepath.Join(dir, "log"))
	if err != nil || Summarize(lat) != (Summary{N: 2, P50: 250 * time.Microsecond, P95: 1500 * time.Microsecond, P99: 1500 * time.Microsecond, Max: 1500 * time.Microsecond}) {
		t.Fatalf("ReadPgbenchLogs = %v, %v", lat, err)
	}
	if _, err := ReadPgbenchLogs(filepath.Join(dir, "none")); err == nil {
		t.Fatal("no error without logs")
	}
}

// The sampler charges this process's own CPU to Self, and burning CPU shows.
func TestSampler(t *testing.T) {
	s := StartSampler(os.Getpid(), -1, 20*time.Millisecond)
	from := time.Now()
	start, _, _ := ReadStat(os.Getpid())
	// Burn 300 ms of CPU (however long that takes on a busy machine).
	for cpu := start; cpu-start < 30 && time.Since(from) < 20*time.Second; cpu, _, _ = ReadStat(os.Getpid()) {
		for i := 0; i < 1e6; i++ {
		}
	}
	to := time.Now()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	u := s.Window(from, to)
	// The target is this process too: its ticks go to Target (matched first).
	if u.Target < 200*time.Millisecond || u.MaxRSS <= 0 || u.MachineTotal <= 0 || u.MachineBusy < u.Target/2 {
		t.Fatalf("window %+v", u)
	}
	var sum Use
	sum.Add(u)
	sum.Add(u)
	if sum.Target != 2*u.Target || sum.MaxRSS != u.MaxRSS || u.Others(u.MachineBusy) != 0 {
		t.Fatalf("Add %+v, Others %v", sum, u.Others(u.MachineBusy))
	}
	rss, hwm, err := ReadRSS(os.Getpid())
	if err != nil || rss <= 0 || hwm < rss {
		t.Fatalf("ReadRSS = %d, %d, %v", rss, hwm, err)
	}
	if m := DescribeMachine(os.Args[0], t.TempDir()); m.Cores < 1 || m.MemTotal <= 0 || m.Kernel == "unknown" || m.DataDirFS == "unknown" {
		t.Fatalf("DescribeMachine = %+v", m)
	}
}

func TestOutcomesAndMatch(t *testing.T) {
	a, b := NewOutcomes(), NewOutcomes()
	a.Accepted(true, time.Millisecond)
	a.Accepted(false, time.Hour) // outside the window
	a.Bad(true, 500, []byte("boom"))
	b.Bad(false, 404, []byte("late"))
	b.Lost(true, context.DeadlineExceeded)
	b.Bad(true, 500, nil)
	a.Merge(b)
	if a.OK != 1 || len(a.Latencies) != 1 || a.Errors() != 3 || a.FirstBad != "boom" || a.ErrorCell() != "3 (2×500)" {
		t.Fatalf("outcomes %+v, cell %q", a, a.ErrorCell())
	}
	if NewOutcomes().ErrorCell() != "0" {
		t.Fatal("empty cell")
	}
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	expected := []Message{{Key: "a", Got: at(10)}, {Key: "b", Got: at(20)}, {Key: "c", Got: at(40)}}
	got := []Message{
		{Key: "a", Stamped: at(5), Got: at(15)},
		{Key: "b", Stamped: at(15), Got: at(18)}, // before the acknowledgement
		{Key: "b", Stamped: at(15), Got: at(50)}, // a duplicate
		{Key: "x", Stamped: at(1), Got: at(2)},   // not expected
	}
	c, fromAck := Match(expected, got)
	if c.Expected != 3 || c.Received != 2 || c.Missing != 1 || c.Duplicate != 1 {
		t.Fatalf("counts %+v", c)
	}
	if c.FromStamp.Max != 10*time.Millisecond || c.FromStamp.N != 2 || fromAck.P50 != -2*time.Millisecond {
		t.Fatalf("latencies: from stamp %+v, from ack %+v", c.FromStamp, fromAck)
	}
}

func TestPoll(t *testing.T) {
	n := 0
	ok, err := Poll(context.Background(), time.Millisecond, time.Second, func() (bool, error) { n++; return n == 3, nil })
	if !ok || err != nil || n != 3 {
		t.Fatalf("Poll = %v, %v after %d calls", ok, err, n)
	}
	if ok, err := Poll(context.Background(), time.Millisecond, 5*time.Millisecond, func() (bool, error) { return false, nil }); ok || err != nil {
		t.Fatalf("Poll past its timeout = %v, %v", ok, err)
	}
}

// A process is started, found ready, its error lines counted, and stopped.
func TestProcess(t *testing.T) {
	ports, err := FreePorts(2)
	if err != nil || ports[0] == ports[1] {
		t.Fatal(ports, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	log := filepath.Join(t.TempDir(), "log")
	cmd := exec.Command("sh", "-c", `echo '{"level":"error","m":"x"}'; echo ok; exec sleep 30`)
	p, err := StartProcess(context.Background(), cmd, log, srv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !Alive(p.PID()) {
		t.Fatal("not alive")
	}
	if fds, err := OpenFDs(p.PID()); err != nil || fds < 3 {
		t.Fatalf("OpenFDs = %d, %v", fds, err)
	}
	if cpu, err := CPUTime(p.PID()); err != nil || cpu < 0 || cpu > 5*time.Second {
		t.Fatalf("CPUTime = %s, %v", cpu, err)
	}
	time.Sleep(100 * time.Millisecond)
	if n, first := p.ErrorLines(); n != 1 || !strings.Contains(first, `"m":"x"`) || !strings.Contains(p.LogTail(3), "ok") {
		t.Fatalf("ErrorLines = %d, %q; tail %q", n, first, p.LogTail(3))
	}
	if err := p.Stop(5 * time.Second); err == nil || !strings.Contains(err.Error(), "signal: terminated") {
		t.Fatalf("Stop = %v", err)
	}
	if _, err := StartProcess(context.Background(), exec.Command("false"), log, fmt.Sprintf("http://127.0.0.1:%d/", ports[1]), 5*time.Second); err == nil {
		t.Fatal("a process that exits started")
	}
}
