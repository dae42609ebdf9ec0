package benchkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Histogram is one reading of a Prometheus histogram: cumulative counts per
// upper bound (seconds, the last +Inf), sorted by bound.
type Histogram struct {
	Bounds, Counts []float64
	Sum, Count     float64
}

// ParseHistogram reads metric from a Prometheus text exposition; ok is false
// when it is absent.
func ParseHistogram(r io.Reader, metric string) (h Histogram, ok bool, err error) {
	type bucket struct{ le, n float64 }
	var buckets []bucket
	err = scanSamples(r, func(name string, v float64) {
		if !strings.HasPrefix(name, metric) {
			return
		}
		switch {
		case strings.HasPrefix(name, metric+"_bucket{"):
			_, le, _ := strings.Cut(name, `le="`)
			le, _, _ = strings.Cut(le, `"`)
			bound := math.Inf(1)
			if le != "+Inf" {
				var perr error
				if bound, perr = strconv.ParseFloat(le, 64); perr != nil {
					return
				}
			}
			buckets, ok = append(buckets, bucket{bound, v}), true
		case name == metric+"_sum":
			h.Sum = v
		case name == metric+"_count":
			h.Count = v
		}
	})
	sort.Slice(buckets, func(i, j int) bool { return buckets[i].le < buckets[j].le })
	for _, b := range buckets {
		h.Bounds, h.Counts = append(h.Bounds, b.le), append(h.Counts, b.n)
	}
	return h, ok, err
}

// ParseGauges reads the samples named names (without labels: a gauge such
// as go_goroutines) from a Prometheus text exposition; an absent one is
// left out of the map.
func ParseGauges(r io.Reader, names ...string) (map[string]float64, error) {
	out := map[string]float64{}
	err := scanSamples(r, func(name string, v float64) {
		if slices.Contains(names, name) {
			out[name] = v
		}
	})
	return out, err
}

// scanSamples calls fn with the name (labels included) and value of every
// sample line of a Prometheus text exposition.
func scanSamples(r io.Reader, fn func(name string, v float64)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, found := strings.Cut(sc.Text(), " ")
		if !found || strings.HasPrefix(name, "#") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			fn(name, v)
		}
	}
	return sc.Err()
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// ScrapeHistogram reads metric from url (a /metrics endpoint).
func ScrapeHistogram(ctx context.Context, hc *http.Client, url, metric string) (h Histogram, ok bool, err error) {
	err = scrape(ctx, hc, url, func(r io.Reader) (err error) {
		h, ok, err = ParseHistogram(r, metric)
		return err
	})
	return h, ok, err
}

// ScrapeGauges reads the gauges names from url (a /metrics endpoint).
func ScrapeGauges(ctx context.Context, url string, names ...string) (g map[string]float64, err error) {
	err = scrape(ctx, httpClient, url, func(r io.Reader) (err error) {
		g, err = ParseGauges(r, names...)
		return err
	})
	return g, err
}

// scrape GETs url and passes the body of a 200 to parse.
func scrape(ctx context.Context, hc *http.Client, url string, parse func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return parse(resp.Body)
}

// Sub returns the observations h has beyond before (a later reading).
func (h Histogram) Sub(before Histogram) Histogram {
	d := Histogram{Bounds: h.Bounds, Counts: make([]float64, len(h.Counts)), Sum: h.Sum - before.Sum, Count: h.Count - before.Count}
	for i := range h.Counts {
		d.Counts[i] = h.Counts[i]
		if i < len(before.Counts) {
			d.Counts[i] -= before.Counts[i]
		}
	}
	return d
}

// AddHistograms merges two optional histograms of the same metric.
func AddHistograms(a, b *Histogram) *Histogram {
	if a == nil || b == nil {
		return cmpOr(a, b)
	}
	sum := Histogram{Bounds: a.Bounds, Counts: append([]float64(nil), a.Counts...), Sum: a.Sum + b.Sum, Count: a.Count + b.Count}
	for i := range b.Counts {
		if i < len(sum.Counts) {
			sum.Counts[i] += b.Counts[i]
		}
	}
	return &sum
}

func cmpOr[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// HistogramStats summarises a histogram of latencies.
type HistogramStats struct {
	N    int
	Mean time.Duration
	// P50 and P99 are bucket upper bounds in seconds (Inf in the open last
	// bucket): the true percentile is at most this.
	P50, P99 float64
}

// Stats summarises h.
func (h Histogram) Stats() HistogramStats {
	if h.Count <= 0 || len(h.Bounds) == 0 {
		return HistogramStats{}
	}
	bound := func(q float64) float64 {
		for i, c := range h.Counts {
			if c >= q*h.Count {
				return h.Bounds[i]
			}
		}
		return math.Inf(1)
	}
	return HistogramStats{N: int(h.Count), Mean: time.Duration(h.Sum / h.Count * float64(time.Second)), P50: bound(0.50), P99: bound(0.99)}
}

// BucketMS formats a bucket upper bound (seconds) in ms.
func BucketMS(s float64) string {
	if math.IsInf(s, 1) {
		return "> last bucket"
	}
	return "≤ " + strconv.FormatFloat(s*1000, 'f', -1, 64)
}

// ReadSSE reads a text/event-stream and calls fn for every event with its
// type ("message" when none is given), its data (data lines joined by "\n")
// and the time its terminating blank line was read. Comments and other
// fields are skipped.
func ReadSSE(r io.Reader, fn func(typ, data string, at time.Time)) error {
	return ReadSSEEvents(r, func(ev SSEEvent) { fn(ev.Type, ev.Data, ev.At) })
}

// SSEEvent is one event of a text/event-stream.
type SSEEvent struct {
	// ID is the event's own id field, "" when it has none (a client keeps
	// the last one it was given as its cursor).
	ID   string
	Type string // "message" when none is given
	Data string // the data lines joined by "\n"
	At   time.Time
}

// ReadSSEEvents reads a text/event-stream and calls fn for every event, at
// the time its terminating blank line was read. Comments and other fields
// are skipped; an event cut off before its blank line is not dispatched.
func ReadSSEEvents(r io.Reader, fn func(SSEEvent)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var ev SSEEvent
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 {
				ev.Type, ev.Data, ev.At = cmp(ev.Type, "message"), strings.Join(data, "\n"), time.Now()
				fn(ev)
			}
			ev, data = SSEEvent{}, nil
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "id":
			ev.ID = value
		case "event":
			ev.Type = value
		case "data":
			data = append(data, value)
		}
	}
	return sc.Err()
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
