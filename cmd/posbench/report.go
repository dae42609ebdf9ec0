package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Targets from the issue.
const (
	targetRatio   = 0.60                  // posd PATCH/s at 8 clients vs pgbench tps at 8 clients
	targetP99     = 15 * time.Millisecond // posd PATCH p99 at 8 clients
	targetRSS     = 150_000_000           // posd peak RSS, bytes (150 MB)
	targetClients = 8
	targetSSEP99  = 50 * time.Millisecond // commit→SSE p99 at the 8-client write load
	targetDrain   = 5000                  // outbox backlog drained, events per second
)

// report is everything one run measured.
type report struct {
	Started, Finished time.Time
	Config            Config
	Machine           machine
	DB                dbInfo
	Low               []lowResult
	Pgbench           []pgbenchResult
	Banquet           []banquetResult
	Kitchen           *kitchenResult // nil when skipped
	Drain             *drainResult   // nil when skipped
	PeakRSS           int64          // posd VmHWM at the end of the run
	ErrorLogLines     int
	ErrorLogSample    string
	VerifyProblems    []string
	PgbenchScript     string
	StopError         string
	// PreLoad is the machine's busy share in the quietSamples seconds before
	// the run.
	PreLoad float64
	// Idle is the CPU posd and Postgres used over IdleFor with no load.
	Idle    cpuUse
	IdleFor time.Duration
	// PgbenchTxs is the number of transactions pgbench's orders record
	// (warm-ups included), from their versions.
	PgbenchTxs int64
}

func vcs(rev string) string {
	if rev == "" {
		return ""
	}
	return " from git " + rev
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }

// latencyCols is "n | p50 | p95 | p99 | max" of s in ms.
func latencyCols(s latencySummary) string {
	if s.N == 0 {
		return "0 | – | – | – | –"
	}
	return fmt.Sprintf("%d | %s | %s | %s | %s", s.N, ms(s.P50), ms(s.P95), ms(s.P99), ms(s.Max))
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// pgbenchFor returns the pgbench run with n clients, if any.
func (r *report) pgbenchFor(n int) *pgbenchResult {
	for i := range r.Pgbench {
		if r.Pgbench[i].Clients == n {
			return &r.Pgbench[i]
		}
	}
	return nil
}

func (r *report) lowFor(n int) *lowResult {
	for i := range r.Low {
		if r.Low[i].Clients == n {
			return &r.Low[i]
		}
	}
	return nil
}

// perWrite is CPU time per accepted write, in ms.
func perWrite(d time.Duration, writes int) string {
	if writes == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)/float64(writes))
}

// share is part as a percentage of whole.
func share(part, whole time.Duration) string {
	if whole <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", 100*float64(part)/float64(whole))
}

func statusList(m map[int]int) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d×%d", m[k], k))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// writeMarkdown renders the report.
func (r *report) writeMarkdown(w io.Writer) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format, a...) }
	m, c := r.Machine, r.Config
	p("## posbench run of %s\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"))
	p("**Machine.** %s, %d logical CPUs, %.1f GiB RAM, Linux %s. posd built with %s%s (posbench %s). "+
		"PostgreSQL %s (synchronous_commit=%s, fsync=%s, shared_buffers=%s), data directory on %s.\n\n",
		m.CPU, m.Cores, float64(m.MemTotal)/(1<<30), m.Kernel, m.GoPosd, vcs(m.PosdVCS), m.GoBench,
		r.DB.Version, r.DB.SynchronousCommit, r.DB.Fsync, r.DB.SharedBuffers, m.DataDirFS)
	p("**Settings.** Low contention and pgbench: %s measured per client count, alternating posd and pgbench "+
		"in %d rounds of %s, each after a %s warm-up. Banquet: %s warm-up, then %s measured. Low-contention "+
		"orders hold %d–%d lines; banquet clients keep up to %d lines each on the hot order. posd, Postgres and "+
		"the load generator (posbench or pgbench) share the machine. Run took %s.\n\n",
		c.Duration, c.Rounds, (c.Duration / time.Duration(c.Rounds)).Round(time.Second), c.Warmup, c.Warmup, c.Duration,
		c.Lines-1, c.Lines, c.BanquetLinesPerClient, r.Finished.Sub(r.Started).Round(time.Second))

	p("### Low contention: each client PATCHes its own order, vs pgbench with the same SQL\n\n")
	p("Latencies in ms, client-side, successful PATCHes only (pgbench: per-transaction log).\n\n")
	p("| clients | posd PATCH/s | p50 | p95 | p99 | max | errors | pgbench tps | pgbench p50 | p95 | p99 | posd / pgbench |\n")
	p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, l := range r.Low {
		pg := r.pgbenchFor(l.Clients)
		pgCols, ratio := "– | – | – | –", "–"
		if pg != nil {
			pgCols = fmt.Sprintf("%.0f | %s | %s | %s", pg.TPS, ms(pg.Latency.P50), ms(pg.Latency.P95), ms(pg.Latency.P99))
			if pg.TPS > 0 {
				ratio = fmt.Sprintf("%.0f%%", 100*l.Throughput/pg.TPS)
			}
		}
		p("| %d | %.0f | %s | %s | %s | %s | %d%s | %s | %s |\n", l.Clients, l.Throughput,
			ms(l.Latency.P50), ms(l.Latency.P95), ms(l.Latency.P99), ms(l.Latency.Max),
			l.Errors, statusList(l.Statuses), pgCols, ratio)
	}
	p("\n")

	if len(r.Banquet) > 0 {
		p("### Banquet: every client on one hot order, re-applying on 409\n\n")
		p("| clients | accepted/s | conflicts | conflicts per accepted | p50 | p95 | p99 | p99 incl. retries | lost | unexpected | version (want) | event rows | errors |\n")
		p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, b := range r.Banquet {
			cpa := "–"
			if b.Accepted > 0 {
				cpa = fmt.Sprintf("%.2f", float64(b.Conflicts)/float64(b.Accepted))
			}
			p("| %d | %.0f | %d | %s | %s | %s | %s | %s | %d | %d | %d (%d) | %d | %d%s |\n",
				b.Clients, b.Throughput, b.Conflicts, cpa, ms(b.Latency.P50), ms(b.Latency.P95), ms(b.Latency.P99),
				ms(b.Effective.P99), b.Lost, b.Unexpected, b.Version, b.WantVersion, b.EventRows,
				b.Errors, statusList(b.Statuses))
		}
		p("\nLost: acknowledged lines missing from the order at the end. Unexpected: lines present that no " +
			"client holds. The version must equal 1 + accepted writes (warm-up included) and the event log must hold one row per version.\n\n")
	}

	if r.hasDelivery() {
		p("### Commit → NATS delivery\n\n")
		p("From posd's %s histogram, scraped at the start and end of each window: time from the outbox row's "+
			"insert (in the writing transaction, just before commit) to the JetStream acknowledgement of its "+
			"publication by the outbox relay. Percentiles are histogram bucket bounds.\n\n", deliveryMetric)
		p("| run | messages | mean | p50 | p99 |\n|---|---:|---:|---:|---:|\n")
		dl := func(name string, h *histogram) {
			if h == nil {
				return
			}
			d := h.stats()
			p("| %s | %d | %s | %s | %s |\n", name, d.Messages, ms(d.Mean), bucketMS(d.P50), bucketMS(d.P99))
		}
		for _, l := range r.Low {
			dl(fmt.Sprintf("posd, %s", clients(l.Clients)), l.Delivery)
		}
		if k := r.Kitchen; k != nil {
			dl(fmt.Sprintf("kitchen mix, %s", clients(k.Clients)), k.Delivery)
		}
		for _, b := range r.Banquet {
			dl(fmt.Sprintf("banquet, %s", clients(b.Clients)), b.Delivery)
		}
		p("\nMeasured from outside posd, at 8 clients: see the next section.\n\n")
	}
	r.writeKitchen(p)
	r.writeDrain(p)

	p("### CPU time per accepted write and memory\n\n")
	p("CPU ms per accepted write, charged from /proc during each measured window. \"Machine busy\" is all CPU "+
		"time used on the machine (/proc/stat) as a share of its %d CPUs; \"others\" is the part used by processes "+
		"that are not part of the run (must be near 0%% for the figures to mean anything); \"steal\" is time the "+
		"hypervisor gave our CPUs to other guests.\n\n", m.Cores)
	p("| run | writes/s | posd | Postgres | load generator | total | machine busy | others | steal | posd max RSS |\n")
	p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	row := func(name string, rate float64, writes int, u cpuUse, loadgen time.Duration, loadgenName, rss string) {
		posd := perWrite(u.Posd, writes)
		if loadgenName == "pgbench" {
			posd = "–"
		}
		p("| %s | %.0f | %s | %s | %s (%s) | %s | %s | %s | %s | %s |\n", name, rate, posd,
			perWrite(u.Postgres, writes), perWrite(loadgen, writes), loadgenName,
			perWrite(u.Posd+u.Postgres+loadgen, writes), share(u.MachineBusy, u.MachineTotal),
			share(u.Others(loadgen-u.Posbench), u.MachineTotal), share(u.Steal, u.MachineTotal), rss)
	}
	for _, l := range r.Low {
		row(fmt.Sprintf("posd, %s", clients(l.Clients)), l.Throughput, l.OK, l.CPU, l.CPU.Posbench, "posbench", mb(l.CPU.MaxRSS))
	}
	for _, pg := range r.Pgbench {
		pg.CPU.Posd = 0 // idle during pgbench; counted with the others
		row(fmt.Sprintf("pgbench, %s", clients(pg.Clients)), pg.TPS, pg.Transactions, pg.CPU, pg.PgbenchCPU+pg.CPU.Posbench, "pgbench", "–")
	}
	if k := r.Kitchen; k != nil {
		row(fmt.Sprintf("kitchen mix, %s", clients(k.Clients)), k.Throughput, k.OK, k.CPU, k.CPU.Posbench, "posbench", mb(k.CPU.MaxRSS))
	}
	for _, b := range r.Banquet {
		row(fmt.Sprintf("banquet, %s", clients(b.Clients)), b.Throughput, b.Accepted, b.CPU, b.CPU.Posbench, "posbench", mb(b.CPU.MaxRSS))
	}
	if d := r.Drain; d != nil && d.Drain > 0 {
		row(fmt.Sprintf("drain, %d events", d.Events), d.Rate, d.Events, d.CPU, d.CPU.Posbench, "posbench", mb(d.CPU.MaxRSS))
	}
	p("\n#### Postgres work per accepted write\n\n")
	p("From pg_stat_database (posd's database) and pg_stat_wal over each window: transactions committed, " +
		"WAL written and WAL flushes to disk, divided by the accepted writes (PATCHes or pgbench transactions). " +
		"posd's commits include its outbox relay's.\n\n")
	p("| run | commits | rollbacks | WAL records | WAL bytes | WAL flushes |\n|---|---:|---:|---:|---:|---:|\n")
	pgRow := func(name string, c *pgCounters, writes int) {
		if c == nil || writes == 0 {
			return
		}
		f := func(n int64) string { return fmt.Sprintf("%.2f", float64(n)/float64(writes)) }
		p("| %s | %s | %s | %s | %.0f | %s |\n", name, f(c.Commits), f(c.Rollbacks), f(c.WALRecords),
			float64(c.WALBytes)/float64(writes), f(c.WALSyncs))
	}
	for _, l := range r.Low {
		pgRow(fmt.Sprintf("posd, %s", clients(l.Clients)), l.PG, l.OK)
	}
	for _, pg := range r.Pgbench {
		pgRow(fmt.Sprintf("pgbench, %s", clients(pg.Clients)), pg.PG, pg.Transactions)
	}
	if k := r.Kitchen; k != nil {
		pgRow(fmt.Sprintf("kitchen mix, %s", clients(k.Clients)), k.PG, k.OK)
	}
	for _, b := range r.Banquet {
		pgRow(fmt.Sprintf("banquet, %s", clients(b.Clients)), b.PG, b.Accepted)
	}

	p("\nIdle (no requests, %s before the first scenario): posd %s and Postgres %s of one CPU.\n",
		r.IdleFor.Round(100*time.Millisecond), share(r.Idle.Posd, r.IdleFor), share(r.Idle.Postgres, r.IdleFor))
	p("\nposd peak RSS over the whole run (VmHWM, start-up and embedded NATS included): **%s** (%.1f MiB).\n\n",
		mb(r.PeakRSS), float64(r.PeakRSS)/(1<<20))

	p("### Targets\n\n")
	p("| target | measured | result |\n|---|---|---|\n")
	for _, t := range r.targets() {
		p("| %s | %s | %s |\n", t[0], t[1], t[2])
	}
	p("\n")

	p("### Health\n\n")
	p("- Machine busy in the %d s before the run (other processes): %.0f%%\n", quietSamples, 100*r.PreLoad)
	p("- posd log lines at level error or worse: %d", r.ErrorLogLines)
	if r.ErrorLogSample != "" {
		p(" (first: `%s`)", truncate(r.ErrorLogSample, 300))
	}
	p("\n")
	if len(r.VerifyProblems) == 0 {
		p("- Every low-contention order read back with exactly the version and lines its client was acknowledged.\n")
		if len(r.Pgbench) > 0 {
			if r.DB.Features.Outbox {
				p("- Every pgbench order has one event per version, the line count its %d transactions imply, and one outbox_bench row for each of them.\n", r.PgbenchTxs)
			} else {
				p("- Every pgbench order has one event per version and the line count its %d transactions imply.\n", r.PgbenchTxs)
			}
			if r.Kitchen != nil {
				p("- Every kitchen order read back with the version and line count its client was acknowledged.\n")
			}
		}
	} else {
		for _, v := range r.VerifyProblems {
			p("- VERIFY: %s\n", v)
		}
	}
	for _, l := range r.Low {
		if l.FirstBad != "" {
			p("- Low contention, %s, first unexpected answer: `%s`\n", clients(l.Clients), l.FirstBad)
		}
	}
	if k := r.Kitchen; k != nil && k.FirstBad != "" {
		p("- Kitchen mix, %s, first unexpected answer: `%s`\n", clients(k.Clients), k.FirstBad)
	}
	for _, b := range r.Banquet {
		if b.FirstBad != "" {
			p("- Banquet, %s, first unexpected answer: `%s`\n", clients(b.Clients), b.FirstBad)
		}
		if b.Unknown > 0 {
			p("- Banquet, %s: %d writes with unknown outcome (no HTTP answer)\n", clients(b.Clients), b.Unknown)
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
		p("- pgbench script written for posd's schema with: %s\n", r.DB.Features)
		p("- pgbench command (per client count): `%s`\n", r.Pgbench[0].Command)
	}
}

func (r *report) hasDelivery() bool {
	for _, l := range r.Low {
		if l.Delivery != nil {
			return true
		}
	}
	for _, b := range r.Banquet {
		if b.Delivery != nil {
			return true
		}
	}
	return false
}

// targets evaluates the targets: name, measured, result.
func (r *report) targets() [][3]string {
	var out [][3]string
	low, pg := r.lowFor(targetClients), r.pgbenchFor(targetClients)
	switch {
	case low != nil && pg != nil && pg.TPS > 0:
		ratio := low.Throughput / pg.TPS
		res := "met"
		if ratio < targetRatio {
			res = fmt.Sprintf("**missed** by %.1f points: posd would need %.0f PATCH/s (%.1f%% more)",
				100*(targetRatio-ratio), targetRatio*pg.TPS, 100*(targetRatio*pg.TPS/low.Throughput-1))
		}
		out = append(out, [3]string{"posd PATCH/s at 8 clients ≥ 60% of pgbench",
			fmt.Sprintf("%.1f%% (%.0f vs %.0f)", 100*ratio, low.Throughput, pg.TPS), res})
		// With the CPUs saturated, throughput is CPU available / CPU per
		// write; the CPU ratio is what the throughput ratio would be if
		// both had the same CPU, whatever else ran meanwhile.
		if posdCPU, pgCPU := low.CPU.Posd+low.CPU.Postgres+low.CPU.Posbench, pg.CPU.Postgres+pg.PgbenchCPU; posdCPU > 0 && pg.Transactions > 0 && low.OK > 0 {
			cr := (pgCPU.Seconds() / float64(pg.Transactions)) / (posdCPU.Seconds() / float64(low.OK))
			res := "met"
			if cr < targetRatio {
				res = fmt.Sprintf("**missed** by %.1f points", 100*(targetRatio-cr))
			}
			out = append(out, [3]string{"… the same, from CPU time per write (pgbench ÷ posd, load generator included)",
				fmt.Sprintf("%.1f%% (%s vs %s ms)", 100*cr, perWrite(posdCPU, low.OK), perWrite(pgCPU, pg.Transactions)), res})
		}
	default:
		out = append(out, [3]string{"posd PATCH/s at 8 clients ≥ 60% of pgbench", "not measured", "–"})
	}
	if low != nil {
		res := "met"
		if low.Latency.P99 >= targetP99 {
			res = fmt.Sprintf("**missed** by %s ms (%.0f%% over)", ms(low.Latency.P99-targetP99),
				100*(float64(low.Latency.P99)/float64(targetP99)-1))
		}
		out = append(out, [3]string{"PATCH p99 at 8 clients < 15 ms", ms(low.Latency.P99) + " ms", res})
	}
	res := "met"
	if r.PeakRSS >= targetRSS {
		res = fmt.Sprintf("**missed** by %s", mb(r.PeakRSS-targetRSS))
	}
	out = append(out, [3]string{"posd peak RSS < 150 MB", mb(r.PeakRSS), res})
	if k := r.Kitchen; k != nil {
		sse := k.SSEFromCreated
		res := "met"
		switch {
		case sse.N == 0:
			res = "not measured (no ticket received)"
		case sse.P99 >= targetSSEP99:
			res = fmt.Sprintf("**missed** by %s ms (%.0f%% over)", ms(sse.P99-targetSSEP99), 100*(float64(sse.P99)/float64(targetSSEP99)-1))
		}
		if k.SSEMissing > 0 {
			res += fmt.Sprintf("; **%d of %d tickets never arrived**", k.SSEMissing, k.SSEExpected)
		}
		out = append(out, [3]string{fmt.Sprintf("commit→SSE p99 at %s < 50 ms (from the ticket's created_at: upper bound)", clients(k.Clients)),
			fmt.Sprintf("%s ms (p50 %s ms, %d tickets)", ms(sse.P99), ms(sse.P50), sse.N), res})
	}
	if d := r.Drain; d != nil {
		res := "met"
		switch {
		case d.Drain == 0:
			res = "**not finished**: " + d.Error
		case d.Rate < targetDrain:
			res = fmt.Sprintf("**missed** by %.0f events/s (%.0f%% short)", targetDrain-d.Rate, 100*(1-d.Rate/targetDrain))
		}
		out = append(out, [3]string{"outbox drain ≥ 5000 events/s",
			fmt.Sprintf("%.0f events/s (%d in %s)", d.Rate, d.Events, d.Drain.Round(time.Millisecond)), res})
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

// ordinal is "1st", "2nd", "3rd", "4th", "11th", ….
func ordinal(n int) string {
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

// clients is "1 client" or "n clients".
func clients(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}

// writeKitchen renders the kitchen scenario: commit→SSE and commit→NATS.
func (r *report) writeKitchen(p func(string, ...any)) {
	k := r.Kitchen
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
		clients(k.Clients), k.Duration, r.Config.Warmup, ordinal(k.SendEvery), r.Config.Lines, k.Mix.Add, k.Mix.Remove, k.Mix.Send,
		k.Mix.Settle, k.Mix.Open, sseStation, deliveryGrace)
	p("| | PATCH/s | p50 | p95 | p99 | max | errors |\n|---|---:|---:|---:|---:|---:|---:|\n")
	p("| kitchen mix, %s | %.0f | %s | %s | %s | %s | %d%s |\n\n", clients(k.Clients), k.Throughput, ms(k.Latency.P50),
		ms(k.Latency.P95), ms(k.Latency.P99), ms(k.Latency.Max), k.Errors, statusList(k.Statuses))
	p("Delivery latency in ms. \"from created_at\" / \"from at\": from the time posd stamped on the ticket or event, " +
		"taken before the write's round trip to Postgres, so it includes the commit itself: an upper bound of " +
		"commit→delivery. \"from the 200\": from the arrival of the PATCH's answer at the client, which is after " +
		"the commit: a lower estimate, negative when the message arrived before the answer. Same machine, same clock.\n\n")
	p("| delivery | expected | received | missing | duplicates | n | p50 | p95 | p99 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	p("| commit→SSE, ticket.created on %s, from created_at | %d | %d | %d | %d | %s |\n", sseStation,
		k.SSEExpected, k.SSEReceived, k.SSEMissing, k.SSEDuplicate, latencyCols(k.SSEFromCreated))
	p("| commit→SSE, from the 200 | | | | | %s |\n", latencyCols(k.SSEFromAck))
	p("| commit→NATS, order events, from at | %d | %d | %d | %d | %s |\n",
		k.NATSExpected, k.NATSReceived, k.NATSMissing, k.NATSDuplicate, latencyCols(k.NATSFromAt))
	p("| commit→NATS, from the 200 | | | | | %s |\n\n", latencyCols(k.NATSFromAck))
	p("Expected: grill lines sent (SSE) and PATCHes answered 200 (NATS) inside the window; missing: not received "+
		"within %s after it.", deliveryGrace)
	if k.SSEError != "" {
		p(" The SSE stream ended with: `%s`.", truncate(k.SSEError, 300))
	}
	if k.NATSError != "" {
		p(" NATS reported: `%s`.", truncate(k.NATSError, 300))
	}
	p("\n\n")
}

// writeDrain renders the drain scenario.
func (r *report) writeDrain(p func(string, ...any)) {
	d := r.Drain
	if d == nil {
		return
	}
	p("### Outbox drain: %d events committed at once\n\n", d.Events)
	p("With posd idle and its relay caught up, posbench inserted %d outbox rows (order.patched events of %d orders, "+
		"payload %d bytes on average, unique msg_id) as the superuser in one transaction (%s, commit included), "+
		"and polled the relay's cursor every %s.\n\n", d.Events, drainOrders, d.PayloadBytes, d.Insert.Round(time.Millisecond), drainPoll)
	p("| events | first progress | drained after | events/s | POS stream messages before → after |\n|---:|---:|---:|---:|---|\n")
	drained := "not finished"
	if d.Drain > 0 {
		drained = d.Drain.Round(time.Millisecond).String()
	}
	p("| %d | %s | %s | %.0f | %d → %d (+%d) |\n\n", d.Events, d.FirstProgress.Round(time.Millisecond), drained, d.Rate,
		d.StreamBefore, d.StreamAfter, int64(d.StreamAfter)-int64(d.StreamBefore))
	if d.Error != "" {
		p("%s\n\n", d.Error)
	}
	if d.Drain > 0 {
		p("posd used %s and Postgres %s of CPU time during the drain (%s of one CPU", d.CPU.Posd.Round(time.Millisecond),
			d.CPU.Postgres.Round(time.Millisecond), share(d.CPU.Posd, d.Drain))
		p(" and %s)", share(d.CPU.Postgres, d.Drain))
		if d.PG != nil {
			p("; Postgres committed %d transactions and flushed the WAL %d times (the relay saves its cursor after every batch)",
				d.PG.Commits, d.PG.WALSyncs)
		}
		p(".\n\n")
	}
}
