package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/posd/posd/internal/benchkit"
)

const (
	quietLoad    = 0.15 // machine busy share under which it counts as idle
	quietSamples = 5    // consecutive one-second samples under quietLoad
	// deliveryMetric is posd's histogram of the time from an outbox row's
	// insert (just before commit) to its JetStream acknowledgement.
	deliveryMetric = "posd_outbox_delivery_seconds"
)

// run performs one benchmark and writes its report to stdout and cfg.Out.
func run(ctx context.Context, cfg Config, stdout, progress io.Writer) error {
	if cfg.PrintScript {
		s, err := renderPgbenchScript(cfg.Lines)
		if err != nil {
			return err
		}
		m, err := renderMinimalScript()
		if err == nil {
			_, err = io.WriteString(stdout, s+"\n"+m)
		}
		return err
	}
	b := &bench{cfg: cfg, progress: progress, rep: &report{Config: cfg}}
	if err := b.run(ctx); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := b.rep.writeMarkdown(&buf); err != nil {
		return err
	}
	if _, err := stdout.Write(buf.Bytes()); err != nil {
		return err
	}
	if cfg.Out != "" {
		if err := os.WriteFile(cfg.Out, buf.Bytes(), 0o644); err != nil {
			return err
		}
		b.logf("wrote %s", cfg.Out)
	}
	return nil
}

// bench is one benchmark run in progress.
type bench struct {
	cfg      Config
	progress io.Writer
	rep      *report
	st       *stack
	smp      *benchkit.Sampler
	api      *api
	orders   []*ownedOrder // the low-contention orders, one per client
	pgb      *pgbench      // nil when pgbench is skipped
	pgbMin   *pgbench      // the minimal write's script, beside pgb
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.progress, "posbench: "+format+"\n", a...)
}

// watch scrapes the delivery histogram and the Postgres counters at the
// start and end of w in the background.
func (b *bench) watch(ctx context.Context, w benchkit.Window) (func() *benchkit.Histogram, func() *benchkit.PGCounters) {
	return benchkit.WatchHistogram(ctx, b.api.base+"/metrics", deliveryMetric, w), benchkit.WatchPG(ctx, b.st.superuserURL(), w)
}

// run starts posd, prepares, runs every scenario and stops posd.
func (b *bench) run(ctx context.Context) (err error) {
	cfg := b.cfg
	quiet := false
	if b.rep.PreLoad, quiet, err = benchkit.WaitQuiet(ctx, cfg.WaitQuiet, quietLoad, quietSamples, b.logf); err != nil {
		return err
	} else if !quiet {
		b.logf("warning: the machine was %.0f%% busy in the %ds before posbench started; figures will be skewed", 100*b.rep.PreLoad, quietSamples)
	}
	b.rep.Started = time.Now()
	b.logf("starting %s dev", cfg.PosdPath)
	if b.st, err = startStack(ctx, cfg.PosdPath); err != nil {
		return err
	}
	defer func() {
		if b.smp != nil { // an error: posd is still running
			b.smp.Close()
			err = errors.Join(err, b.st.stop())
		}
		b.st.cleanup(cfg.Keep)
		if cfg.Keep {
			b.logf("kept %s", b.st.dir)
		}
	}()
	b.logf("posd pid %d ready on %s (Postgres 127.0.0.1:%d, data dir %s)", b.st.PID(), b.st.addr, b.st.pgPort, b.st.dir)
	b.rep.Machine = benchkit.DescribeMachine(cfg.PosdPath, b.st.dir)
	pm, err := b.st.postmasterPID()
	if err != nil {
		return fmt.Errorf("find the Postgres server: %w", err)
	}
	b.smp = benchkit.StartSampler(b.st.PID(), pm, 100*time.Millisecond)
	steps := []func(context.Context) error{b.prepare}
	for _, n := range cfg.Clients {
		steps = append(steps, func(ctx context.Context) error { return b.lowContention(ctx, n) })
	}
	if cfg.DeliveryClients > 0 {
		steps = append(steps, b.kitchen)
	}
	for i, n := range cfg.BanquetClients {
		steps = append(steps, func(ctx context.Context) error { return b.banquet(ctx, i, n) })
	}
	if cfg.Drain > 0 {
		steps = append(steps, b.drain)
	}
	if len(cfg.SSEScreens)+len(cfg.SSEHandhelds) > 0 {
		steps = append(steps, b.sse)
	}
	for _, step := range append(steps, b.verify) {
		if err := step(ctx); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err() // interrupted: the figures are partial
		}
	}
	_, b.rep.PeakRSS, _ = benchkit.ReadRSS(b.st.PID())
	b.smp.Close()
	b.smp = nil
	b.logf("stopping posd")
	if err := b.st.stop(); err != nil {
		b.rep.StopError = err.Error()
	}
	b.rep.ErrorLogLines, b.rep.ErrorLogSample = b.st.ErrorLines()
	b.rep.Finished = time.Now()
	return nil
}

// prepare creates the tables and orders every scenario needs, writes the
// pgbench script and measures the idle CPU of posd and Postgres.
func (b *bench) prepare(ctx context.Context) error {
	cfg, maxC := b.cfg, b.cfg.maxClients()
	var err error
	if b.rep.DB, err = prepareDatabase(ctx, b.st.superuserURL(), maxC, len(cfg.BanquetClients), cfg.DeliveryClients, cfg.Lines); err != nil {
		return err
	}
	conns := maxC
	for _, n := range cfg.BanquetClients {
		conns = max(conns, n)
	}
	b.api = newAPI(b.st.baseURL(), max(conns, 1))
	if b.orders, err = prepareOwnedOrders(ctx, b.api, maxC, cfg.Lines); err != nil {
		return err
	}
	if cfg.PgbenchPath != "" {
		script, err := renderPgbenchScript(cfg.Lines)
		if err != nil {
			return err
		}
		if b.pgb, err = newPgbench(cfg.PgbenchPath, b.st.appURL(), b.st.dir, "patch", script, b.rep.DB.MenuVersion); err != nil {
			return err
		}
		if script, err = renderMinimalScript(); err != nil {
			return err
		}
		if b.pgbMin, err = newPgbench(cfg.PgbenchPath, b.st.appURL(), b.st.dir, "minimal", script, b.rep.DB.MenuVersion); err != nil {
			return err
		}
	}
	from := time.Now() // posd and Postgres with no requests (the relay polls)
	if err := benchkit.Sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	b.rep.Idle, b.rep.IdleFor = b.smp.Window(from, time.Now()), time.Since(from)
	return nil
}

// lowContention runs the low-contention scenario with n clients and pgbench
// with n clients, alternating in cfg.Rounds rounds.
func (b *bench) lowContention(ctx context.Context, n int) error {
	cfg := b.cfg
	d := (cfg.Duration / time.Duration(cfg.Rounds)).Round(time.Second) // pgbench -T takes seconds
	var low loadStats
	var pgb, pgbMin pgbenchResult
	for round := 1; round <= cfg.Rounds && ctx.Err() == nil; round++ {
		b.logf("low contention, %s, round %d/%d", clients(n), round, cfg.Rounds)
		w := benchkit.NewWindow(cfg.Warmup, d)
		delivery, pg := b.watch(ctx, w)
		l := runLowContention(ctx, b.api, b.orders[:n], cfg.Lines, w, b.smp)
		l.Delivery, l.PG = delivery(), pg()
		b.logf("  %.0f PATCH/s, p50 %s ms, p99 %s ms, %d errors", l.Throughput, benchkit.MS(l.Latency.P50), benchkit.MS(l.Latency.P99), l.Errors())
		low.merge(l)
		if b.pgb == nil || ctx.Err() != nil {
			continue
		}
		b.logf("pgbench, %s, round %d/%d", clients(n), round, cfg.Rounds)
		r, err := b.pgb.run(ctx, n, cfg.Warmup, d, b.smp, b.st.superuserURL())
		if err != nil {
			return err
		}
		b.logf("  %.0f tps, p50 %s ms, p99 %s ms", r.TPS, benchkit.MS(r.Latency.P50), benchkit.MS(r.Latency.P99))
		pgb.merge(r)
		b.logf("pgbench, the minimal write, %s, round %d/%d", clients(n), round, cfg.Rounds)
		if r, err = b.pgbMin.run(ctx, n, cfg.Warmup, d, b.smp, b.st.superuserURL()); err != nil {
			return err
		}
		b.logf("  %.0f tps, p50 %s ms, p99 %s ms", r.TPS, benchkit.MS(r.Latency.P50), benchkit.MS(r.Latency.P99))
		pgbMin.merge(r)
	}
	b.rep.Low = append(b.rep.Low, low)
	if b.pgb != nil {
		b.rep.Pgbench = append(b.rep.Pgbench, pgb)
		b.rep.PgbenchMinimal = append(b.rep.PgbenchMinimal, pgbMin)
	}
	return nil
}

func (b *bench) kitchen(ctx context.Context) error {
	b.logf("kitchen: %s, every %s PATCH sends an item; listening on the %s stream and on NATS",
		clients(b.cfg.DeliveryClients), benchkit.Ordinal(b.cfg.SendEvery), sseStation)
	r, err := runKitchen(ctx, b, b.orders[:b.cfg.DeliveryClients])
	b.rep.Kitchen = &r
	return err
}

func (b *bench) banquet(ctx context.Context, i, n int) error {
	b.logf("banquet, %s on one order", clients(n))
	w := benchkit.NewWindow(b.cfg.Warmup, b.cfg.Duration)
	delivery, pg := b.watch(ctx, w)
	r, err := runBanquet(ctx, b.api, b.st.superuserURL(), fmt.Sprintf("H%d", i+1), n, b.cfg.BanquetLinesPerClient, w, b.smp)
	r.Delivery, r.PG = delivery(), pg()
	b.logf("  %.0f accepted/s, %d conflicts, %d lost, version %d (want %d)", r.Throughput, r.Conflicts, r.Lost, r.Version, r.WantVersion)
	b.rep.Banquet = append(b.rep.Banquet, r)
	return err
}

func (b *bench) drain(ctx context.Context) error {
	b.logf("drain: %d outbox rows of %d orders committed at once", b.cfg.Drain, b.cfg.DrainOrders)
	r, err := runDrain(ctx, b.st.superuserURL(), b.st.natsURL(), b.cfg.Drain, b.cfg.DrainOrders, b.smp)
	b.logf("  %.0f events/s (%s from commit to the relay's cursor at the last row), stream +%d, %d of %d on the backlog's subjects",
		r.Rate, r.Drain.Round(time.Millisecond), int64(r.StreamAfter)-int64(r.StreamBefore), r.Published, r.Events)
	b.rep.Drain = &r
	return err
}

// verify reads back every low-contention, kitchen and pgbench order.
func (b *bench) verify(ctx context.Context) error {
	b.rep.VerifyProblems = verifyOwned(ctx, b.api, b.orders)
	if b.rep.Kitchen != nil {
		b.rep.VerifyProblems = append(b.rep.VerifyProblems, b.rep.Kitchen.VerifyProblems...)
	}
	if b.pgb == nil {
		return nil
	}
	txs, problems, err := verifyPgbenchOrders(ctx, b.st.superuserURL(), b.cfg.Lines)
	b.rep.PgbenchTxs, b.rep.VerifyProblems = txs, append(b.rep.VerifyProblems, problems...)
	if err != nil {
		return err
	}
	txs, problems, err = verifyMinimalOrders(ctx, b.st.superuserURL())
	b.rep.PgbenchMinimalTxs, b.rep.VerifyProblems = txs, append(b.rep.VerifyProblems, problems...)
	return err
}

// clients is "1 client" or "n clients".
func clients(n int) string {
	if n == 1 {
		return "1 client"
	}
	return fmt.Sprintf("%d clients", n)
}
