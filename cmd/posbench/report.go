package main

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/posd/posd/internal/benchkit"
)

// Targets from the issue.
const (
	targetRatio   = 0.60                  // posd PATCH/s vs pgbench tps at targetClients
	targetP99     = 15 * time.Millisecond // posd PATCH p99 at targetClients
	targetRSS     = 150_000_000           // posd peak RSS, bytes
	targetClients = 8
	targetSSEP99  = 50 * time.Millisecond // commit→SSE p99 under the kitchen load
	targetDrain   = 5000                  // outbox backlog drained, events per second
)

// report is everything one run measured.
type report struct {
	Started, Finished time.Time
	Config            Config
	Machine           benchkit.Machine
	DB                dbInfo
	Low               []loadStats
	Pgbench           []pgbenchResult
	Banquet           []banquetResult
	Kitchen           *kitchenResult // nil when skipped
	Drain             *drainResult   // nil when skipped
	PeakRSS           int64          // posd VmHWM at the end
	ErrorLogLines     int
	ErrorLogSample    string
	VerifyProblems    []string
	StopError         string
	PreLoad           float64 // machine busy share before the run
	Idle              benchkit.Use
	IdleFor           time.Duration
	PgbenchTxs        int64 // transactions pgbench's orders record, warm-ups included
}

var ms = benchkit.MS

func (r *report) pgbenchFor(n int) *pgbenchResult {
	for i := range r.Pgbench {
		if r.Pgbench[i].Clients == n {
			return &r.Pgbench[i]
		}
	}
	return nil
}

// runs lists every PATCH scenario's stats with its name, in report order.
func (r *report) runs() (names []string, stats []*loadStats) {
	add := func(name string, s *loadStats) { names, stats = append(names, name), append(stats, s) }
	for i := range r.Low {
		add("posd, "+clients(r.Low[i].Clients), &r.Low[i])
	}
	if k := r.Kitchen; k != nil {
		add("kitchen mix, "+clients(k.Clients), &k.loadStats)
	}
	for i := range r.Banquet {
		add("banquet, "+clients(r.Banquet[i].Clients), &r.Banquet[i].loadStats)
	}
	return names, stats
}

func (r *report) writeMarkdown(w io.Writer) {
	md := benchkit.Markdown{W: w}
	p, m, c := md.P, r.Machine, r.Config
	vcs := ""
	if m.VCS != "" {
		vcs = " from git " + m.VCS
	}
	p("## posbench run of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("**Machine.** %s, %d logical CPUs, %.1f GiB RAM, Linux %s. posd built with %s%s (posbench %s). "+
		"PostgreSQL %s (synchronous_commit=%s, fsync=%s, shared_buffers=%s), data directory on %s.\n\n",
		m.CPU, m.Cores, float64(m.MemTotal)/(1<<30), m.Kernel, m.GoBinary, vcs, m.GoSelf,
		r.DB.Version, r.DB.SynchronousCommit, r.DB.Fsync, r.DB.SharedBuffers, m.DataDirFS)
	p("**Settings.** Low contention and pgbench: %s measured per client count, alternating posd and pgbench "+
		"in %d rounds of %s, each after a %s warm-up. Banquet: %s warm-up, then %s measured. Low-contention "+
		"orders hold %d–%d lines; banquet clients keep up to %d lines each on the hot order. posd, Postgres and "+
		"the load generator (posbench or pgbench) share the machine. Run took %s.\n\n",
		c.Duration, c.Rounds, (c.Duration / time.Duration(c.Rounds)).Round(time.Second), c.Warmup, c.Warmup, c.Duration,
		c.Lines-1, c.Lines, c.BanquetLinesPerClient, r.Finished.Sub(r.Started).Round(time.Second))

	p("### Low contention: each client PATCHes its own order, vs pgbench with the same SQL\n\n")
	p("Latencies in ms, client-side, successful PATCHes only (pgbench: per-transaction log).\n\n")
	md.Table("clients", "posd PATCH/s", "p50", "p95", "p99", "max", "errors", "pgbench tps", "pgbench p50", "p95", "p99", "posd / pgbench")
	for _, l := range r.Low {
		pgCols, ratio := []string{"–", "–", "–", "–"}, "–"
		if pg := r.pgbenchFor(l.Clients); pg != nil {
			pgCols = []string{fmt.Sprintf("%.0f", pg.TPS), ms(pg.Latency.P50), ms(pg.Latency.P95), ms(pg.Latency.P99)}
			if pg.TPS > 0 {
				ratio = fmt.Sprintf("%.0f%%", 100*l.Throughput/pg.TPS)
			}
		}
		md.Row(append(append([]string{strconv.Itoa(l.Clients), fmt.Sprintf("%.0f", l.Throughput), ms(l.Latency.P50), ms(l.Latency.P95),
			ms(l.Latency.P99), ms(l.Latency.Max), l.ErrorCell()}, pgCols...), ratio)...)
	}
	p("\n")

	if len(r.Banquet) > 0 {
		p("### Banquet: every client on one hot order, re-applying on 409\n\n")
		md.Table("clients", "accepted/s", "conflicts", "conflicts per accepted", "p50", "p95", "p99", "p99 incl. retries", "lost", "unexpected",
			"version (want)", "event rows", "errors")
		for _, b := range r.Banquet {
			cpa := "–"
			if b.OK > 0 {
				cpa = fmt.Sprintf("%.2f", float64(b.Conflicts)/float64(b.OK))
			}
			md.Row(strconv.Itoa(b.Clients), fmt.Sprintf("%.0f", b.Throughput), strconv.Itoa(b.Conflicts), cpa, ms(b.Latency.P50), ms(b.Latency.P95),
				ms(b.Latency.P99), ms(b.Effective.P99), strconv.Itoa(b.Lost), strconv.Itoa(b.Unexpected),
				fmt.Sprintf("%d (%d)", b.Version, b.WantVersion), strconv.FormatInt(b.EventRows, 10), b.ErrorCell())
		}
		p("\nLost: acknowledged lines missing from the order at the end. Unexpected: lines present that no " +
			"client holds. The version must equal 1 + accepted writes (warm-up included) and the event log must hold one row per version.\n\n")
	}

	names, runs := r.runs()
	if slices.ContainsFunc(runs, func(s *loadStats) bool { return s.Delivery != nil }) {
		p("### Commit → NATS delivery\n\n")
		p("From posd's %s histogram, scraped at the start and end of each window: time from the outbox row's "+
			"insert (in the writing transaction, just before commit) to the JetStream acknowledgement of its "+
			"publication by the outbox relay. Percentiles are histogram bucket bounds.\n\n", deliveryMetric)
		md.Table("run", "messages", "mean", "p50", "p99")
		for i, s := range runs {
			if s.Delivery != nil {
				d := s.Delivery.Stats()
				md.Row(names[i], strconv.Itoa(d.N), ms(d.Mean), benchkit.BucketMS(d.P50), benchkit.BucketMS(d.P99))
			}
		}
		p("\nMeasured from outside posd, at 8 clients: see the next section.\n\n")
	}
	r.writeKitchen(md)
	r.writeDrain(md)

	p("### CPU time per accepted write and memory\n\n")
	p("CPU ms per accepted write, charged from /proc during each measured window. \"Machine busy\" is all CPU "+
		"time used on the machine (/proc/stat) as a share of its %d CPUs; \"others\" is the part used by processes "+
		"that are not part of the run (must be near 0%% for the figures to mean anything); \"steal\" is time the "+
		"hypervisor gave our CPUs to other guests.\n\n", m.Cores)
	md.Table("run", "writes/s", "posd", "Postgres", "load generator", "total", "machine busy", "others", "steal", "posd max RSS")
	type row struct {
		name          string
		rate          float64
		writes        int
		u             benchkit.Use
		posd, loadgen time.Duration // loadgen: posbench, or pgbench and posbench
		rss           string
		pg            *benchkit.PGCounters
	}
	var rows []row
	for i, s := range runs {
		rows = append(rows, row{names[i], s.Throughput, s.OK, s.CPU, s.CPU.Target, s.CPU.Self, benchkit.MB(s.CPU.MaxRSS), s.PG})
	}
	for i, pg := range r.Pgbench { // after the low-contention rows; posd idles meanwhile: counted with the others
		rows = slices.Insert(rows, len(r.Low)+i, row{"pgbench, " + clients(pg.Clients), pg.TPS, pg.Transactions, pg.CPU, 0, pg.PgbenchCPU + pg.CPU.Self, "–", pg.PG})
	}
	if d := r.Drain; d != nil && d.Drain > 0 {
		rows = append(rows, row{fmt.Sprintf("drain, %d events", d.Events), d.Rate, d.Events, d.CPU, d.CPU.Target, d.CPU.Self, benchkit.MB(d.CPU.MaxRSS), nil})
	}
	for _, x := range rows {
		posd, gen := benchkit.Per(x.posd, x.writes), "posbench"
		if x.rss == "–" {
			posd, gen = "–", "pgbench"
		}
		md.Row(x.name, fmt.Sprintf("%.0f", x.rate), posd, benchkit.Per(x.u.Tree, x.writes), fmt.Sprintf("%s (%s)", benchkit.Per(x.loadgen, x.writes), gen),
			benchkit.Per(x.posd+x.u.Tree+x.loadgen, x.writes), benchkit.Share(x.u.MachineBusy, x.u.MachineTotal),
			benchkit.Share(x.u.Others(x.loadgen-x.u.Self-x.u.Target+x.posd), x.u.MachineTotal), benchkit.Share(x.u.Steal, x.u.MachineTotal), x.rss)
	}
	p("\n#### Postgres work per accepted write\n\n")
	p("From pg_stat_database (posd's database) and pg_stat_wal over each window: transactions committed, " +
		"WAL written and WAL flushes to disk, divided by the accepted writes (PATCHes or pgbench transactions). " +
		"posd's commits include its outbox relay's.\n\n")
	md.Table("run", "commits", "rollbacks", "WAL records", "WAL bytes", "WAL flushes")
	for _, x := range rows {
		if c, n := x.pg, float64(x.writes); c != nil && n > 0 {
			f := func(v int64) string { return fmt.Sprintf("%.2f", float64(v)/n) }
			md.Row(x.name, f(c.Commits), f(c.Rollbacks), f(c.WALRecords), fmt.Sprintf("%.0f", float64(c.WALBytes)/n), f(c.WALSyncs))
		}
	}
	p("\nIdle (no requests, %s before the first scenario): posd %s and Postgres %s of one CPU.\n",
		r.IdleFor.Round(100*time.Millisecond), benchkit.Share(r.Idle.Target, r.IdleFor), benchkit.Share(r.Idle.Tree, r.IdleFor))
	p("\nposd peak RSS over the whole run (VmHWM, start-up and embedded NATS included): **%s** (%.1f MiB).\n\n",
		benchkit.MB(r.PeakRSS), float64(r.PeakRSS)/(1<<20))

	p("### Targets\n\n")
	md.Table("target", "measured", "result")
	for _, t := range r.targets() {
		md.Row(t[:]...)
	}
	p("\n### Health\n\n")
	p("- Machine busy in the %d s before the run (other processes): %.0f%%\n", quietSamples, 100*r.PreLoad)
	p("- posd log lines at level error or worse: %d", r.ErrorLogLines)
	if r.ErrorLogSample != "" {
		p(" (first: `%s`)", benchkit.Truncate(r.ErrorLogSample, 300))
	}
	p("\n")
	for _, v := range r.VerifyProblems {
		p("- VERIFY: %s\n", v)
	}
	if len(r.VerifyProblems) == 0 {
		p("- Every low-contention order read back with exactly the version and lines its client was acknowledged.\n")
		if len(r.Pgbench) > 0 {
			p("- Every pgbench order has one event per version, the line count its %d transactions imply, and one outbox_bench row for each of them.\n", r.PgbenchTxs)
		}
		if r.Kitchen != nil {
			p("- Every kitchen order read back with the version and line count its client was acknowledged.\n")
		}
	}
	for i, s := range runs {
		if s.FirstBad != "" {
			p("- %s, first unexpected answer: `%s`\n", names[i], s.FirstBad)
		}
	}
	for _, b := range r.Banquet {
		if b.Unknown > 0 {
			p("- Banquet, %s: %d writes with unknown outcome (no answer or a 5xx)\n", clients(b.Clients), b.Unknown)
		}
	}
	for _, pg := range r.Pgbench {
		if pg.Failed > 0 {
			p("- pgbench, %s: %d failed transactions\n", clients(pg.Clients), pg.Failed)
		}
	}
	if r.StopError != "" {
		p("- Stopping posd: %s\n", r.StopError)
	}
	if len(r.Pgbench) > 0 {
		p("- pgbench script rendered from db/queries (posbench --print-script shows it)\n")
		p("- pgbench command (per client count): `%s`\n", r.Pgbench[0].Command)
	}
}

// missedBy describes a latency over its target.
func missedBy(got, target time.Duration) string {
	return fmt.Sprintf("**missed** by %s ms (%.0f%% over)", ms(got-target), 100*(float64(got)/float64(target)-1))
}

// targets evaluates the targets: name, measured, result.
func (r *report) targets() [][3]string {
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

// writeKitchen renders the kitchen scenario: commit→SSE and commit→NATS.
func (r *report) writeKitchen(md benchkit.Markdown) {
	k, p := r.Kitchen, md.P
	if k == nil {
		return
	}
	p("### Commit → SSE and commit → NATS at %s\n\n", clients(k.Clients))
	p("The low-contention loop at %s for %s (after a %s warm-up), every %s PATCH of a client replaced by a "+
		"kitchen PATCH on a second order of its own: add_item + send (steak, fries, burger, beer in turn: one fire "+
		"ticket for the grill, fry or bar station); a kitchen order holding %d lines is settled (add_payment + close) and "+
		"a new one opened. Requests in the window: %d add_item and %d remove_item on the clients' own orders, "+
		"%d add_item + send, %d add_payment + close, %d opens. posbench holds the grill station's SSE stream "+
		"(/v1/kitchen/stream?station=%s, as the demo kitchen device) and a core NATS subscription on pos.demo.order.>, "+
		"and keeps listening %s after the window.\n\n",
		clients(k.Clients), k.Duration, r.Config.Warmup, benchkit.Ordinal(k.SendEvery), r.Config.Lines, k.Mix.Add, k.Mix.Remove, k.Mix.Send,
		k.Mix.Settle, k.Mix.Open, sseStation, deliveryGrace)
	md.Table("", "PATCH/s", "p50", "p95", "p99", "max", "errors")
	md.Row("kitchen mix, "+clients(k.Clients), fmt.Sprintf("%.0f", k.Throughput), ms(k.Latency.P50), ms(k.Latency.P95), ms(k.Latency.P99),
		ms(k.Latency.Max), k.ErrorCell())
	p("\nDelivery latency in ms. \"from created_at\" / \"from at\": from the time posd stamped on the ticket or event, " +
		"taken before the write's round trip to Postgres, so it includes the commit itself: an upper bound of " +
		"commit→delivery. \"from the 200\": from the arrival of the PATCH's answer at the client, which is after " +
		"the commit: a lower estimate, negative when the message arrived before the answer. Same machine, same clock.\n\n")
	md.Table("delivery", "expected", "received", "missing", "duplicates", "n", "p50", "p95", "p99", "max")
	counts := func(c benchkit.Deliveries) string {
		return fmt.Sprintf("%d | %d | %d | %d | %s", c.Expected, c.Received, c.Missing, c.Duplicate, c.FromStamp.Cols())
	}
	md.Row("commit→SSE, ticket.created on "+sseStation+", from created_at", counts(k.SSE))
	md.Row("commit→SSE, from the 200 | | | |", k.SSEFromAck.Cols())
	md.Row("commit→NATS, order events, from at", counts(k.NATS))
	md.Row("commit→NATS, from the 200 | | | |", k.NATSFromAck.Cols())
	p("\nExpected: grill lines sent (SSE) and PATCHes answered 200 (NATS) inside the window; missing: not received "+
		"within %s after it.", deliveryGrace)
	if k.SSEError != "" {
		p(" The SSE stream ended with: `%s`.", benchkit.Truncate(k.SSEError, 300))
	}
	if k.NATSError != "" {
		p(" NATS reported: `%s`.", benchkit.Truncate(k.NATSError, 300))
	}
	p("\n\n")
}

// writeDrain renders the drain scenario.
func (r *report) writeDrain(md benchkit.Markdown) {
	d, p := r.Drain, md.P
	if d == nil {
		return
	}
	p("### Outbox drain: %d events committed at once\n\n", d.Events)
	p("With posd idle and its relay caught up, posbench inserted %d outbox rows (order.patched events of %d orders, "+
		"payload %d bytes on average, unique msg_id) as the superuser in one transaction (%s, commit included), "+
		"and polled the relay's cursor every %s.\n\n", d.Events, drainOrders, d.PayloadBytes, d.Insert.Round(time.Millisecond), drainPoll)
	md.Table("events", "first progress", "drained after", "events/s", "POS stream messages before → after", "in the stream on the backlog's subjects")
	drained := "not finished"
	if d.Drain > 0 {
		drained = d.Drain.Round(time.Millisecond).String()
	}
	md.Row(strconv.Itoa(d.Events), d.FirstProgress.Round(time.Millisecond).String(), drained, fmt.Sprintf("%.0f", d.Rate),
		fmt.Sprintf("%d → %d (+%d)", d.StreamBefore, d.StreamAfter, int64(d.StreamAfter)-int64(d.StreamBefore)), strconv.Itoa(d.Published))
	p("\n")
	if d.Error != "" {
		p("%s\n\n", d.Error)
	}
	if d.Drain > 0 {
		p("posd used %s and Postgres %s of CPU time during the drain (%s of one CPU and %s)", d.CPU.Target.Round(time.Millisecond),
			d.CPU.Tree.Round(time.Millisecond), benchkit.Share(d.CPU.Target, d.Drain), benchkit.Share(d.CPU.Tree, d.Drain))
		if d.PG != nil {
			p("; Postgres committed %d transactions and flushed the WAL %d times (the relay saves its cursor after every batch)", d.PG.Commits, d.PG.WALSyncs)
		}
		p(".\n\n")
	}
}
