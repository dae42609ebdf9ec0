package main

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"
)

// window is the measured part of a scenario. A request counts when it
// completes inside the window; its latency is the full round trip.
type window struct {
	start, end time.Time
}

// newWindow starts a window after warmup from now, lasting d.
func newWindow(warmup, d time.Duration) window {
	s := time.Now().Add(warmup)
	return window{start: s, end: s.Add(d)}
}

// has reports whether t falls inside the window.
func (w window) has(t time.Time) bool { return !t.Before(w.start) && t.Before(w.end) }

// over reports whether no more requests should start.
func (w window) over(ctx context.Context) bool {
	return ctx.Err() != nil || !time.Now().Before(w.end)
}

// latencySummary is the distribution of a set of latencies (nearest-rank
// percentiles over every sample).
type latencySummary struct {
	N                  int
	P50, P95, P99, Max time.Duration
}

// summarize sorts samples in place and returns their distribution.
func summarize(samples []time.Duration) latencySummary {
	if len(samples) == 0 {
		return latencySummary{}
	}
	slices.Sort(samples)
	return latencySummary{
		N:   len(samples),
		P50: percentile(samples, 0.50), P95: percentile(samples, 0.95), P99: percentile(samples, 0.99),
		Max: samples[len(samples)-1],
	}
}

// percentile is the nearest-rank percentile p (0..1] of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// outcomes counts what the requests of one client inside the window came
// back with. Each client owns one; they are merged after the run.
type outcomes struct {
	ok        int
	latencies []time.Duration
	// statuses counts non-2xx statuses other than the expected 409s.
	statuses map[int]int
	// transport counts requests that got no HTTP answer (outcome unknown).
	transport int
	// firstBad is the body of the first unexpected answer, for the report.
	firstBad string
}

func newOutcomes() *outcomes { return &outcomes{statuses: map[int]int{}} }

// bad records an unexpected status.
func (o *outcomes) bad(status int, body []byte) {
	o.statuses[status]++
	if o.firstBad == "" {
		o.firstBad = truncate(string(body), 300)
	}
}

// merge folds others into o.
func (o *outcomes) merge(others ...*outcomes) {
	for _, x := range others {
		o.ok += x.ok
		o.latencies = append(o.latencies, x.latencies...)
		for k, v := range x.statuses {
			o.statuses[k] += v
		}
		o.transport += x.transport
		if o.firstBad == "" {
			o.firstBad = x.firstBad
		}
	}
}

// errors is the number of requests that failed for any reason other than a
// version conflict.
func (o *outcomes) errors() int {
	n := o.transport
	for _, v := range o.statuses {
		n += v
	}
	return n
}

// runClients runs fn for clients 0..n-1 concurrently and waits for all.
func runClients(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(i)
		}()
	}
	wg.Wait()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
