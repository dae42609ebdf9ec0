package main

import (
	_ "embed"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/posd/posd/internal/benchkit"
)

// Targets from the issue.
const (
	targetRatio = 0.60 // posd PATCH/s vs pgbench tps at targetClients
	// Issue 13: posd PATCH/s against the minimal write's tps, at
	// targetClients and at 1 client, and the 1-client p50.
	targetMinimalRatio  = 0.50
	targetMinimalRatio1 = 0.35
	targetP50At1        = 1500 * time.Microsecond
	targetP99           = 15 * time.Millisecond // posd PATCH p99 at targetClients
	targetRSS           = 150_000_000           // posd peak RSS, bytes
	targetClients       = 8
	targetSSEP99        = 50 * time.Millisecond // commit→SSE p99 under the kitchen load
	targetDrain         = 5000                  // outbox backlog drained, events per second
)

// report is everything one run measured.
type report struct {
	Started, Finished time.Time
	Config            Config
	Machine           benchkit.Machine
	DB                dbInfo
	Low               []loadStats
	Pgbench           []pgbenchResult
	PgbenchMinimal    []pgbenchResult // the minimal write, by client count as Pgbench
	Banquet           []banquetResult
	Kitchen           *kitchenResult // nil when skipped
	Drain             *drainResult   // nil when skipped
	SSE               []sseSeries    // kitchen screens, then handhelds
	PeakRSS           int64          // posd VmHWM at the end
	ErrorLogLines     int
	ErrorLogSample    string
	VerifyProblems    []string
	StopError         string
	PreLoad           float64 // machine busy share before the run
	Idle              benchkit.Use
	IdleFor           time.Duration
	PgbenchTxs        int64 // transactions pgbench's orders record, warm-ups included
	PgbenchMinimalTxs int64 // the same for the minimal write's orders
}

var ms = benchkit.MS

//go:embed report.tmpl
var reportTemplate string

var reportFuncs = template.FuncMap{
	"ms": ms, "mb": benchkit.MB, "per": benchkit.Per, "share": benchkit.Share, "bucket": benchkit.BucketMS,
	"clients": clients, "ordinal": benchkit.Ordinal, "add": func(a, b int) int { return a + b },
	"f0":    func(f float64) string { return fmt.Sprintf("%.0f", f) },
	"f1":    func(f float64) string { return fmt.Sprintf("%.1f", f) },
	"f2":    func(f float64) string { return fmt.Sprintf("%.2f", f) },
	"mbn":   func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/1e6) },
	"join":  strings.Join,
	"max":   slicesMax,
	"gib":   func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<30)) },
	"mib":   func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) },
	"pct":   func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
	"round": func(d time.Duration) time.Duration { return d.Round(time.Millisecond) },
	"trunc": func(s string) string { return benchkit.Truncate(s, 300) },
	"ratio": func(a, b int) string {
		if b == 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f", float64(a)/float64(b))
	},
}

// writeMarkdown renders the report with report.tmpl.
func (r *report) writeMarkdown(w io.Writer) error {
	return template.Must(template.New("report").Funcs(reportFuncs).Parse(reportTemplate)).Execute(w, r)
}

// Constants the template names.
func (r *report) DeliveryMetric() string       { return deliveryMetric }
func (r *report) SSEStation() string           { return sseStation }
func (r *report) DeliveryGrace() time.Duration { return deliveryGrace }
func (r *report) DrainPoll() time.Duration     { return drainPoll }
func (r *report) SSEOpeners() int              { return sseOpeners }

func (r *report) QuietSamples() int   { return quietSamples }
func (r *report) Took() time.Duration { return r.Finished.Sub(r.Started).Round(time.Second) }
func (r *report) RoundDuration() time.Duration {
	return (r.Config.Duration / time.Duration(r.Config.Rounds)).Round(time.Second)
}
func (d *drainResult) Gained() int64 { return int64(d.StreamAfter) - int64(d.StreamBefore) }

func (r *report) pgbenchFor(n int) *pgbenchResult { return resultFor(r.Pgbench, n) }

// resultFor is the result of list with n clients, or nil.
func resultFor(list []pgbenchResult, n int) *pgbenchResult {
	for i := range list {
		if list[i].Clients == n {
			return &list[i]
		}
	}
	return nil
}

// PgbenchCols are the pgbench columns of l's row: tps, p50, p95, p99 and
// the posd/pgbench ratio, then the minimal write's tps, p50 and ratio.
func (r *report) PgbenchCols(l loadStats) string {
	pg, mn := r.pgbenchFor(l.Clients), resultFor(r.PgbenchMinimal, l.Clients)
	out := "– | – | – | – | –"
	if pg != nil && pg.TPS > 0 {
		out = fmt.Sprintf("%.0f | %s | %s | %s | %.0f%%", pg.TPS, ms(pg.Latency.P50), ms(pg.Latency.P95), ms(pg.Latency.P99), 100*l.Throughput/pg.TPS)
	}
	if mn == nil || mn.TPS == 0 {
		return out + " | – | – | –"
	}
	return out + fmt.Sprintf(" | %.0f | %s | %.0f%%", mn.TPS, ms(mn.Latency.P50), 100*l.Throughput/mn.TPS)
}

// namedRun is a PATCH scenario's stats with its name in the report.
type namedRun struct {
	Name string
	*loadStats
}

// Runs lists every PATCH scenario in report order.
func (r *report) Runs() (runs []namedRun) {
	for i := range r.Low {
		runs = append(runs, namedRun{"posd, " + clients(r.Low[i].Clients), &r.Low[i]})
	}
	if k := r.Kitchen; k != nil {
		runs = append(runs, namedRun{"kitchen mix, " + clients(k.Clients), &k.loadStats})
	}
	for i := range r.Banquet {
		runs = append(runs, namedRun{"banquet, " + clients(r.Banquet[i].Clients), &r.Banquet[i].loadStats})
	}
	return runs
}

func (r *report) HasDelivery() bool {
	return slices.ContainsFunc(r.Runs(), func(n namedRun) bool { return n.Delivery != nil })
}

// cpuRow is a row of the CPU and Postgres tables: CPU of posd, Postgres
// (U.Tree) and the load generator (posbench, or pgbench and posbench) per
// accepted write.
type cpuRow struct {
	Name          string
	Rate          float64
	Writes        int
	U             benchkit.Use
	Posd, Loadgen time.Duration
	Pgbench       bool // posd idles meanwhile: counted with the others
	PG            *benchkit.PGCounters
}

func (x cpuRow) Total() time.Duration  { return x.Posd + x.U.Tree + x.Loadgen }
func (x cpuRow) Others() time.Duration { return x.U.Others(x.Loadgen - x.U.Self - x.U.Target + x.Posd) }

// PGCells is the row of the Postgres table ("" without counters).
func (x cpuRow) PGCells() string {
	c, n := x.PG, float64(x.Writes)
	if c == nil || n == 0 {
		return ""
	}
	f := func(v int64) string { return fmt.Sprintf("%.2f", float64(v)/n) }
	return fmt.Sprintf("%s | %s | %s | %s | %.0f | %s", x.Name, f(c.Commits), f(c.Rollbacks), f(c.WALRecords), float64(c.WALBytes)/n, f(c.WALSyncs))
}

// CPURows are the low-contention, pgbench, kitchen, banquet and drain rows.
func (r *report) CPURows() (rows []cpuRow) {
	for _, s := range r.Runs() {
		rows = append(rows, cpuRow{s.Name, s.Throughput, s.OK, s.CPU, s.CPU.Target, s.CPU.Self, false, s.PG})
	}
	for i, pg := range r.Pgbench {
		rows = slices.Insert(rows, len(r.Low)+i, cpuRow{"pgbench, " + clients(pg.Clients), pg.TPS, pg.Transactions, pg.CPU, 0, pg.PgbenchCPU + pg.CPU.Self, true, pg.PG})
	}
	for i, pg := range r.PgbenchMinimal {
		rows = slices.Insert(rows, len(r.Low)+len(r.Pgbench)+i, cpuRow{"pgbench minimal write, " + clients(pg.Clients), pg.TPS, pg.Transactions, pg.CPU, 0, pg.PgbenchCPU + pg.CPU.Self, true, pg.PG})
	}
	if d := r.Drain; d != nil && d.Drain > 0 {
		rows = append(rows, cpuRow{fmt.Sprintf("drain, %d events", d.Events), d.Rate, d.Events, d.CPU, d.CPU.Target, d.CPU.Self, false, nil})
	}
	return rows
}

// lowFor is the low-contention run with n clients, or nil.
func (r *report) lowFor(n int) *loadStats {
	for i := range r.Low {
		if r.Low[i].Clients == n {
			return &r.Low[i]
		}
	}
	return nil
}

// missedBy describes a latency over its target.
func missedBy(got, target time.Duration) string {
	return fmt.Sprintf("**missed** by %s ms (%.0f%% over)", ms(got-target), 100*(float64(got)/float64(target)-1))
}

// targets evaluates the targets: name, measured, result.
func (r *report) Targets() [][3]string {
	var out [][3]string
	var low *loadStats
	for i := range r.Low {
		if r.Low[i].Clients == targetClients {
			low = &r.Low[i]
		}
	}
	if pg := r.pgbenchFor(targetClients); low != nil && pg != nil && pg.TPS > 0 {
		ratio, res := low.Throughput/pg.TPS, "met"
		if ratio < targetRatio {
			res = fmt.Sprintf("**missed** by %.1f points: posd would need %.0f PATCH/s (%.1f%% more)",
				100*(targetRatio-ratio), targetRatio*pg.TPS, 100*(targetRatio*pg.TPS/low.Throughput-1))
		}
		out = append(out, [3]string{"posd PATCH/s at 8 clients ≥ 60% of pgbench", fmt.Sprintf("%.1f%% (%.0f vs %.0f)", 100*ratio, low.Throughput, pg.TPS), res})
		// With the CPUs saturated, throughput is CPU available / CPU per
		// write: the CPU ratio is the throughput ratio at equal CPU.
		if posdCPU, pgCPU := low.CPU.Target+low.CPU.Tree+low.CPU.Self, pg.CPU.Tree+pg.PgbenchCPU; posdCPU > 0 && pg.Transactions > 0 && low.OK > 0 {
			cr, res := (pgCPU.Seconds()/float64(pg.Transactions))/(posdCPU.Seconds()/float64(low.OK)), "met"
			if cr < targetRatio {
				res = fmt.Sprintf("**missed** by %.1f points", 100*(targetRatio-cr))
			}
			out = append(out, [3]string{"… the same, from CPU time per write (pgbench ÷ posd, load generator included)",
				fmt.Sprintf("%.1f%% (%s vs %s ms)", 100*cr, benchkit.Per(posdCPU, low.OK), benchkit.Per(pgCPU, pg.Transactions)), res})
		}
	} else {
		out = append(out, [3]string{"posd PATCH/s at 8 clients ≥ 60% of pgbench", "not measured", "–"})
	}
	for _, want := range []struct {
		clients int
		ratio   float64
	}{{targetClients, targetMinimalRatio}, {1, targetMinimalRatio1}} {
		name := fmt.Sprintf("posd PATCH/s at %s ≥ %.0f%% of pgbench's minimal write", clients(want.clients), 100*want.ratio)
		l, mn := r.lowFor(want.clients), resultFor(r.PgbenchMinimal, want.clients)
		if l == nil || mn == nil || mn.TPS == 0 {
			out = append(out, [3]string{name, "not measured", "–"})
			continue
		}
		ratio, res := l.Throughput/mn.TPS, "met"
		if ratio < want.ratio {
			res = fmt.Sprintf("**missed** by %.1f points: posd would need %.0f PATCH/s", 100*(want.ratio-ratio), want.ratio*mn.TPS)
		}
		out = append(out, [3]string{name, fmt.Sprintf("%.1f%% (%.0f vs %.0f)", 100*ratio, l.Throughput, mn.TPS), res})
	}
	if l := r.lowFor(1); l != nil {
		res := "met"
		if l.Latency.P50 >= targetP50At1 {
			res = missedBy(l.Latency.P50, targetP50At1)
		}
		out = append(out, [3]string{"PATCH p50 at 1 client < 1.5 ms", ms(l.Latency.P50) + " ms", res})
	}
	if low != nil {
		res := "met"
		if low.Latency.P99 >= targetP99 {
			res = missedBy(low.Latency.P99, targetP99)
		}
		out = append(out, [3]string{"PATCH p99 at 8 clients < 15 ms", ms(low.Latency.P99) + " ms", res})
	}
	res := "met"
	if r.PeakRSS >= targetRSS {
		res = "**missed** by " + benchkit.MB(r.PeakRSS-targetRSS)
	}
	out = append(out, [3]string{"posd peak RSS < 150 MB", benchkit.MB(r.PeakRSS), res})
	if k := r.Kitchen; k != nil {
		s := k.SSE.FromStamp
		out = append(out, [3]string{fmt.Sprintf("commit→SSE p99 at %s < 50 ms (from the ticket's created_at: upper bound), every ticket once", clients(k.Clients)),
			fmt.Sprintf("%s ms (p50 %s ms, %d of %d tickets)", ms(s.P99), ms(s.P50), k.SSE.Received, k.SSE.Expected), sseVerdict(k.SSE)},
			[3]string{fmt.Sprintf("commit→NATS at %s: every acknowledged write's event once", clients(k.Clients)),
				fmt.Sprintf("%d of %d events, p99 %s ms", k.NATS.Received, k.NATS.Expected, ms(k.NATS.FromStamp.P99)), onceVerdict(k.NATS, "events")})
	}
	if d := r.Drain; d != nil {
		out = append(out, [3]string{"outbox drain ≥ 5000 events/s, every event in the stream",
			fmt.Sprintf("%.0f events/s (%d in %s), %d in the stream", d.Rate, d.Events, d.Drain.Round(time.Millisecond), d.Published), drainVerdict(*d)})
	}
	for _, b := range r.Banquet {
		res := "met"
		if b.Lost > 0 || b.Unexpected > 0 || b.Version != b.WantVersion || b.EventRows != b.Version {
			res = "**FAILED**"
		}
		out = append(out, [3]string{fmt.Sprintf("banquet %s: 0 lost items, version = 1 + accepted", clients(b.Clients)),
			fmt.Sprintf("%d lost, %d unexpected, version %d (want %d), %d event rows", b.Lost, b.Unexpected, b.Version, b.WantVersion, b.EventRows), res})
	}
	return out
}

// onceVerdict checks from the counts that every expected message arrived
// exactly once.
func onceVerdict(c benchkit.Deliveries, what string) string {
	switch {
	case c.Expected == 0:
		return "**FAILED**: nothing expected, nothing checked"
	case c.Missing > 0 || c.Received+c.Missing != c.Expected || c.FromStamp.N != c.Received:
		return fmt.Sprintf("**FAILED**: %d of %d %s never arrived", c.Expected-c.Received, c.Expected, what)
	case c.Duplicate > 0:
		return fmt.Sprintf("**FAILED**: %d of %d %s arrived more than once", c.Duplicate, c.Expected, what)
	}
	return "met"
}

// sseVerdict is onceVerdict for tickets, then the latency target.
func sseVerdict(c benchkit.Deliveries) string {
	if v := onceVerdict(c, "tickets"); v != "met" {
		return v
	}
	if c.FromStamp.P99 >= targetSSEP99 {
		return missedBy(c.FromStamp.P99, targetSSEP99)
	}
	return "met"
}
