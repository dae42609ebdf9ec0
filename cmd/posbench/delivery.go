package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// deliveryMetric is posd's histogram of the time from an outbox row's insert
// (inside the writing transaction, just before commit) to its JetStream
// acknowledgement: an upper bound of commit→NATS delivery.
const deliveryMetric = "posd_outbox_delivery_seconds"

// histogram is one scrape of a Prometheus histogram: cumulative counts per
// upper bound, sorted by bound.
type histogram struct {
	bounds []float64 // seconds; the last is +Inf
	counts []float64
	sum    float64
	count  float64
}

// scrapeDelivery reads the delivery histogram from posd's /metrics; ok is
// false when posd does not export it (no outbox relay).
func scrapeDelivery(ctx context.Context, a *api) (h histogram, ok bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.base+"/metrics", nil)
	if err != nil {
		return h, false, err
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return h, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return h, false, fmt.Errorf("GET /metrics: HTTP %d", resp.StatusCode)
	}
	type bucket struct{ le, n float64 }
	var buckets []bucket
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, deliveryMetric) {
			continue
		}
		name, value, found := strings.Cut(line, " ")
		if !found {
			continue
		}
		v, perr := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if perr != nil {
			continue
		}
		switch {
		case strings.HasPrefix(name, deliveryMetric+"_bucket{"):
			_, le, _ := strings.Cut(name, `le="`)
			le, _, _ = strings.Cut(le, `"`)
			bound := math.Inf(1)
			if le != "+Inf" {
				if bound, perr = strconv.ParseFloat(le, 64); perr != nil {
					continue
				}
			}
			buckets = append(buckets, bucket{bound, v})
			ok = true
		case name == deliveryMetric+"_sum":
			h.sum = v
		case name == deliveryMetric+"_count":
			h.count = v
		}
	}
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	for _, b := range buckets {
		h.bounds, h.counts = append(h.bounds, b.le), append(h.counts, b.n)
	}
	return h, ok, sc.Err()
}

// sub returns the observations h has beyond before (same metric, later
// scrape).
func (h histogram) sub(before histogram) histogram {
	d := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)),
		sum: h.sum - before.sum, count: h.count - before.count}
	for i := range h.counts {
		d.counts[i] = h.counts[i]
		if i < len(before.counts) {
			d.counts[i] -= before.counts[i]
		}
	}
	return d
}

// add merges the observations of o (same metric) into h.
func (h *histogram) add(o histogram) {
	if len(h.bounds) == 0 {
		h.bounds, h.counts = o.bounds, make([]float64, len(o.counts))
	}
	for i := range o.counts {
		if i < len(h.counts) {
			h.counts[i] += o.counts[i]
		}
	}
	h.sum += o.sum
	h.count += o.count
}

// addHistograms merges two optional histograms.
func addHistograms(a, b *histogram) *histogram {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	sum := *a
	sum.counts = append([]float64(nil), a.counts...)
	sum.add(*b)
	return &sum
}

// deliveryStats summarises a histogram of delivery latencies.
type deliveryStats struct {
	Messages int
	Mean     time.Duration
	// P50 and P99 are bucket upper bounds: the true percentile is at most
	// this (Inf when it lies in the last, open bucket).
	P50, P99 float64 // seconds
}

// stats summarises h.
func (h histogram) stats() deliveryStats {
	n := h.count
	if n <= 0 || len(h.bounds) == 0 {
		return deliveryStats{}
	}
	bound := func(q float64) float64 {
		for i, c := range h.counts {
			if c >= q*n {
				return h.bounds[i]
			}
		}
		return math.Inf(1)
	}
	return deliveryStats{Messages: int(n), Mean: time.Duration(h.sum / n * float64(time.Second)),
		P50: bound(0.50), P99: bound(0.99)}
}

// bucketMS formats a bucket upper bound in ms.
func bucketMS(s float64) string {
	if math.IsInf(s, 1) {
		return "> last bucket"
	}
	return "≤ " + strconv.FormatFloat(s*1000, 'f', -1, 64)
}

// watchDelivery scrapes the delivery histogram at the start and the end of w
// in the background; the returned function waits for the second scrape and
// returns the observations in between (nil if posd does not export it).
func watchDelivery(ctx context.Context, a *api, w window) func() *histogram {
	done := make(chan *histogram, 1)
	go func() {
		var res *histogram
		defer func() { done <- res }()
		if sleepCtx(ctx, time.Until(w.start)) != nil {
			return
		}
		before, ok, err := scrapeDelivery(ctx, a)
		if err != nil || !ok {
			return
		}
		if sleepCtx(ctx, time.Until(w.end)) != nil {
			return
		}
		after, ok, err := scrapeDelivery(ctx, a)
		if err != nil || !ok {
			return
		}
		d := after.sub(before)
		res = &d
	}()
	return func() *histogram { return <-done }
}
