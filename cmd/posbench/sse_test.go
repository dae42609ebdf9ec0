package main

import (
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/posd/posd/internal/benchkit"
)

// The SSE scenario at a few streams, end to end: posd dev, a posd serve
// replica beside it, three kitchen screens and two handhelds, one second
// idle and one busy. Every screen must get every ticket of its station and
// every handheld every order event, and the figures must be there.
func TestSSEScenario(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "posd")
	if out, err := exec.Command("go", "build", "-o", bin, "../posd").CombinedOutput(); err != nil {
		t.Fatalf("build posd: %v\n%s", err, out)
	}
	cfg, err := parseFlags([]string{"--posd", bin, "--clients", "", "--banquet-clients", "", "--delivery-clients", "0",
		"--pgbench", "", "--drain", "0", "--sse-screens", "3", "--sse-handhelds", "2", "--sse-duration", "1s", "--sse-tickets", "1200"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := &bench{cfg: cfg, progress: testLog{t}, rep: &report{Config: cfg}}
	if err := b.run(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.rep.SSE) != 2 || b.rep.SSE[0].Kind != sseKitchen || b.rep.SSE[1].Kind != sseVenue {
		t.Fatalf("series %+v, want kitchen then venue", b.rep.SSE)
	}
	for _, s := range b.rep.SSE {
		if s.Stopped != "" || len(s.Steps) != 1 || s.ErrorLogLines != 0 {
			t.Fatalf("%s: stopped %q, %d steps, %d error log lines (%s)", s.Kind.Name, s.Stopped, len(s.Steps), s.ErrorLogLines, s.ErrorLogSample)
		}
		st := s.Steps[0]
		d := st.Delivered
		// 1200 a minute for 1 s is about 20 tickets, 5 a station.
		if st.Problem != "" || st.Tickets < 8 || d.Expected < 2*st.Streams || d.Missing != 0 || d.Duplicate != 0 || d.Received != d.Expected {
			t.Errorf("%s, %d streams: %q, %d tickets fired, deliveries %+v", s.Kind.Name, st.Streams, st.Problem, st.Tickets, d)
		}
		if u := st.Idle; u.RSS <= 0 || u.Heap <= 0 || u.Goroutines < st.Streams || u.FDs < st.Streams || u.Consumers < st.Streams || u.For < time.Second {
			t.Errorf("%s: idle figures %+v", s.Kind.Name, u)
		}
	}
	var out strings.Builder
	if err := b.rep.writeMarkdown(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### SSE streams on one posd serve replica: kitchen screens", "### SSE streams on one posd serve replica: venue streams of handhelds",
		"--stream-per-venue 100", "| 3 | "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

// A stream that misses a ticket, gets one twice or ends fails the step.
func TestSSECheck(t *testing.T) {
	c := newKitchenClient(sseSKUs)
	c.lines["grill"] = []benchkit.Message{{Key: "a"}, {Key: "b"}}
	c.lines["fry"] = []benchkit.Message{{Key: "c"}}
	screen := func(station string, keys ...string) sseScreen {
		l := &benchkit.Listener{Collector: benchkit.Collector{Done: make(chan struct{})}}
		for _, k := range keys {
			l.Add(benchkit.Message{Key: k, Got: time.Now()})
		}
		return sseScreen{l: l, station: station}
	}
	for _, tc := range []struct {
		screens []sseScreen
		want    string
	}{
		{[]sseScreen{screen("grill", "a", "b"), screen("fry", "c", "a")}, ""},
		{[]sseScreen{screen("grill", "a", "b"), screen("fry")}, "1 of 3 deliveries never arrived"},
		{[]sseScreen{screen("grill", "a"), screen("fry", "c")}, "1 of 3 deliveries never arrived"},
		{[]sseScreen{screen("grill", "a", "b", "b"), screen("fry", "c")}, "1 of 3 deliveries arrived more than once"},
	} {
		d, problem := check(sseKitchen, tc.screens, c)
		if problem != tc.want {
			t.Errorf("check = %q (%+v), want %q", problem, d, tc.want)
		}
	}
	if _, problem := check(sseKitchen, nil, c); problem != "" {
		t.Errorf("no streams: %q", problem)
	}
	ended := screen("grill", "a", "b")
	close(ended.l.Done)
	if _, problem := check(sseKitchen, []sseScreen{ended}, c); !strings.HasPrefix(problem, "1 of 1 streams ended") {
		t.Errorf("an ended stream: %q", problem)
	}
	// A handheld must get every acknowledged PATCH's event.
	c.acks = []benchkit.Message{{Key: "o/2"}, {Key: "o/3"}}
	if _, problem := check(sseVenue, []sseScreen{screen("", "o/2")}, c); problem == "" {
		t.Error("a handheld that missed an event passed")
	}
}

// testLog writes posbench's progress to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
