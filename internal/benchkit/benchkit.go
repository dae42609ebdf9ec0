// Package benchkit holds the generic parts of posbench: latency percentiles,
// measurement windows, CPU and memory of processes from /proc, a description
// of the machine, Prometheus histograms, Postgres activity counters, pgbench
// output, a text/event-stream reader and Markdown formatting. Nothing in it
// knows posd.
package benchkit

import (
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Summary is the distribution of a set of latencies (nearest-rank
// percentiles over every sample).
type Summary struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

// Summarize sorts samples in place and returns their distribution.
func Summarize(samples []time.Duration) Summary {
	if len(samples) == 0 {
		return Summary{}
	}
	slices.Sort(samples)
	pct := func(p float64) time.Duration {
		i := int(math.Ceil(p*float64(len(samples)))) - 1
		return samples[min(max(i, 0), len(samples)-1)]
	}
	return Summary{N: len(samples), P50: pct(0.50), P95: pct(0.95), P99: pct(0.99), Max: samples[len(samples)-1]}
}

// Window is the measured part of a run: a request counts when it completes
// inside it.
type Window struct{ Start, End time.Time }

// NewWindow starts a window warmup from now, lasting d.
func NewWindow(warmup, d time.Duration) Window {
	s := time.Now().Add(warmup)
	return Window{Start: s, End: s.Add(d)}
}

// Has reports whether t falls inside the window.
func (w Window) Has(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// Over reports whether no more requests should start.
func (w Window) Over(ctx context.Context) bool { return ctx.Err() != nil || !time.Now().Before(w.End) }

// Sleep sleeps for d or until ctx is done.
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// RunClients runs fn(0..n-1) concurrently and waits for all.
func RunClients(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// Truncate cuts s to n bytes, marking the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// MS formats d in milliseconds with two decimals.
func MS(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// MB formats bytes in megabytes.
func MB(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// Share is part as a whole percentage of whole ("–" without a whole).
func Share(part, whole time.Duration) string {
	if whole <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
}

// Per is d per item in ms with three decimals ("–" for no items).
func Per(d time.Duration, n int) string {
	if n == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)/float64(n))
}

// Cols is "n | p50 | p95 | p99 | max" of s in ms.
func (s Summary) Cols() string {
	if s.N == 0 {
		return "0 | – | – | – | –"
	}
	return fmt.Sprintf("%d | %s | %s | %s | %s", s.N, MS(s.P50), MS(s.P95), MS(s.P99), MS(s.Max))
}

// Ordinal is "1st", "2nd", "3rd", "4th", "11th", ….
func Ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// Markdown writes a Markdown document.
type Markdown struct{ W io.Writer }

// P writes formatted text.
func (m Markdown) P(format string, a ...any) { fmt.Fprintf(m.W, format, a...) }

// Table starts a table: the first column is left-aligned, the others right.
func (m Markdown) Table(header ...string) {
	m.P("| %s |\n|---%s|\n", strings.Join(header, " | "), strings.Repeat("|---:", len(header)-1))
}

// Row writes one table row.
func (m Markdown) Row(cells ...string) { m.P("| %s |\n", strings.Join(cells, " | ")) }
