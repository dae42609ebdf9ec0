// Package metrics holds posd's Prometheus instruments. Each Metrics has its own
// registry, so several servers (tests) can live in one process.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the instruments the HTTP edge and the write path update.
type Metrics struct {
	Registry *prometheus.Registry
	// Requests counts HTTP requests by route pattern, method and status.
	Requests *prometheus.CounterVec
	// Duration observes HTTP request latency by route pattern, method and
	// status.
	Duration *prometheus.HistogramVec
	// Conflicts counts refused stale writes by kind (version-conflict,
	// future-version, table-occupied, order-closed).
	Conflicts *prometheus.CounterVec
	// Writes counts accepted order writes by kind (opened, patched, forced,
	// no-op).
	Writes *prometheus.CounterVec
	// ConnsRefused counts connections refused over the connection caps, by
	// the status answered (503 total cap, 429 per-address cap).
	ConnsRefused *prometheus.CounterVec
}

// New returns Metrics registered in a fresh registry together with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posd_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "status"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "posd_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		Conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posd_order_conflicts_total",
			Help: "Refused order writes by kind: version-conflict, table-occupied, order-closed.",
		}, []string{"kind"}),
		Writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posd_order_writes_total",
			Help: "Order writes by outcome: opened, patched, forced, noop.",
		}, []string{"kind"}),
	}
	m.ConnsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "posd_http_connections_refused_total",
		Help: "Connections refused over the connection caps, by status answered (503 total, 429 per address).",
	}, []string{"status"})
	m.Registry.MustRegister(m.Requests, m.Duration, m.Conflicts, m.Writes, m.ConnsRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
