package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// quietLoad is the machine busy share under which the machine counts as idle.
const quietLoad = 0.15

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// run performs one whole benchmark and writes its report to stdout and, if
// set, cfg.Out. Progress goes to progress.
func run(ctx context.Context, cfg Config, stdout, progress io.Writer) error {
	if cfg.PrintScript {
		_, err := io.WriteString(stdout, renderPgbenchScript(cfg.Lines, currentFeatures))
		return err
	}
	b := &bench{cfg: cfg, progress: progress}
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	rep.writeMarkdown(&buf)
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

	rep    *report
	st     *stack
	smp    *sampler
	api    *api
	orders []*ownedOrder // the low-contention orders, one per client
	pgb    *pgbench      // nil when pgbench is skipped
}

func (b *bench) logf(format string, a ...any) {
	fmt.Fprintf(b.progress, "posbench: "+format+"\n", a...)
}

// run starts posd, prepares, runs every scenario, stops posd, and returns
// the report.
func (b *bench) run(ctx context.Context) (rep *report, err error) {
	cfg := b.cfg
	b.rep = &report{Config: cfg}
	if b.rep.PreLoad, err = b.waitQuiet(ctx); err != nil {
		return nil, err
	}
	b.rep.Started = time.Now()
	b.logf("starting %s dev", cfg.PosdPath)
	if b.st, err = startStack(ctx, cfg.PosdPath); err != nil {
		return nil, err
	}
	defer func() {
		// On the normal path posd is already stopped; this is for errors.
		if b.smp != nil {
			b.smp.close()
			if serr := b.st.stop(); serr != nil {
				err = errors.Join(err, serr)
			}
		}
		b.st.cleanup(cfg.Keep)
		if cfg.Keep {
			b.logf("kept %s", b.st.dir)
		}
	}()
	b.logf("posd pid %d ready on %s (Postgres 127.0.0.1:%d, data dir %s)", b.st.pid(), b.st.addr, b.st.pgPort, b.st.dir)
	b.rep.Machine = describeMachine(cfg.PosdPath, b.st.dir)
	pm, err := b.st.postmasterPID()
	if err != nil {
		return nil, fmt.Errorf("find the Postgres server: %w", err)
	}
	b.smp = startSampler(b.st.pid(), pm)

	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	for _, n := range cfg.Clients {
		if err := b.lowContention(ctx, n); err != nil {
			return nil, err
		}
	}
	if cfg.DeliveryClients > 0 {
		if err := b.kitchen(ctx, cfg.DeliveryClients); err != nil {
			return nil, err
		}
	}
	for i, n := range cfg.BanquetClients {
		if err := b.banquet(ctx, i, n); err != nil {
			return nil, err
		}
	}
	if cfg.Drain > 0 {
		if err := b.drain(ctx, cfg.Drain); err != nil {
			return nil, err
		}
	}
	if err := b.verify(ctx); err != nil {
		return nil, err
	}

	if s, err := readStatus(b.st.pid()); err == nil {
		b.rep.PeakRSS = s.hwm
	}
	b.smp.close()
	b.smp = nil
	b.logf("stopping posd")
	if err := b.st.stop(); err != nil {
		b.rep.StopError = err.Error()
	}
	b.rep.ErrorLogLines, b.rep.ErrorLogSample = b.st.errorLogLines()
	b.rep.Finished = time.Now()
	return b.rep, nil
}

// quietSamples is how many consecutive one-second samples must all be under
// quietLoad for the machine to count as quiet: other work (a test suite, a
// fuzzer) often pauses for a second or two between steps.
const quietSamples = 5

// waitQuiet measures how busy the machine is before anything starts (other
// processes skew every figure) and waits up to cfg.WaitQuiet for it to stay
// under quietLoad for quietSamples seconds in a row. It returns the mean busy
// share of the last quietSamples seconds.
func (b *bench) waitQuiet(ctx context.Context) (float64, error) {
	var recent []float64
	mean := func() float64 {
		sum := 0.0
		for _, l := range recent {
			sum += l
		}
		return sum / float64(len(recent))
	}
	quiet := func() bool {
		for _, l := range recent {
			if l > quietLoad {
				return false
			}
		}
		return len(recent) == quietSamples
	}
	deadline := time.Now().Add(b.cfg.WaitQuiet)
	for {
		recent = append(recent, machineLoad(time.Second))
		if len(recent) > quietSamples {
			recent = recent[1:]
		}
		if len(recent) < quietSamples {
			continue
		}
		if quiet() || !time.Now().Before(deadline) {
			break
		}
		if last := recent[len(recent)-1]; last > quietLoad {
			b.logf("machine %.0f%% busy; waiting for it to stay under %.0f%% for %ds", 100*last, 100*quietLoad, quietSamples)
			if err := sleepCtx(ctx, 3*time.Second); err != nil {
				return 0, err
			}
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
	if !quiet() {
		b.logf("warning: the machine was %.0f%% busy in the %ds before posbench started; figures will be skewed", 100*mean(), quietSamples)
	}
	return mean(), nil
}

// prepare creates the tables and orders every scenario needs, writes the
// pgbench script, and measures the idle CPU of posd and Postgres.
func (b *bench) prepare(ctx context.Context) error {
	cfg := b.cfg
	var err error
	maxC := cfg.maxClients()
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
		b.rep.PgbenchScript = renderPgbenchScript(cfg.Lines, b.rep.DB.Features)
		if b.pgb, err = newPgbench(cfg.PgbenchPath, b.st.pgPort, b.st.dir, b.rep.PgbenchScript); err != nil {
			return err
		}
	}
	// What posd and Postgres use with no requests (the outbox relay polls).
	from := time.Now()
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return err
	}
	b.rep.Idle, b.rep.IdleFor = b.smp.window(from, time.Now()), time.Since(from)
	return nil
}

// lowContention runs the low-contention scenario with n clients, then pgbench
// with n clients.
func (b *bench) lowContention(ctx context.Context, n int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cfg := b.cfg
	// Whole seconds per round: pgbench -T takes seconds.
	d := (cfg.Duration / time.Duration(cfg.Rounds)).Round(time.Second)
	var low lowResult
	var pgb pgbenchResult
	for round := 1; round <= cfg.Rounds; round++ {
		b.logf("low contention, %s, round %d/%d", clients(n), round, cfg.Rounds)
		w := newWindow(cfg.Warmup, d)
		delivery, pg := watchDelivery(ctx, b.api, w), watchPostgres(ctx, b.st.superuserURL(), w)
		l := runLowContention(ctx, b.api, b.orders[:n], cfg.Lines, w, b.smp)
		l.Delivery, l.PG = delivery(), pg()
		if ctx.Err() != nil {
			return ctx.Err() // interrupted: the figures are partial
		}
		b.logf("  %.0f PATCH/s, p50 %s ms, p99 %s ms, %d errors", l.Throughput, ms(l.Latency.P50), ms(l.Latency.P99), l.Errors)
		low.merge(l)
		if b.pgb == nil {
			continue
		}
		b.logf("pgbench, %s, round %d/%d", clients(n), round, cfg.Rounds)
		r, err := b.pgb.run(ctx, n, cfg.Warmup, d, b.smp, b.st.superuserURL())
		if err != nil {
			return err
		}
		b.logf("  %.0f tps, p50 %s ms, p99 %s ms", r.TPS, ms(r.Latency.P50), ms(r.Latency.P99))
		pgb.merge(r)
	}
	b.rep.Low = append(b.rep.Low, low)
	if b.pgb != nil {
		b.rep.Pgbench = append(b.rep.Pgbench, pgb)
	}
	return nil
}

// kitchen runs the kitchen scenario (commit→SSE and commit→NATS delivery)
// with n clients.
func (b *bench) kitchen(ctx context.Context, n int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.logf("kitchen: %s, every %s PATCH sends an item; listening on the %s stream and on NATS", clients(n), ordinal(b.cfg.SendEvery), sseStation)
	r, err := runKitchen(ctx, b.api, b.st.superuserURL(), b.st.natsURL(), b.orders[:n], b.cfg.Lines, b.cfg.SendEvery,
		b.cfg.Warmup, b.cfg.Duration, b.smp, b.logf)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	b.rep.Kitchen = &r
	return nil
}

// drain times the outbox relay through a backlog of n events.
func (b *bench) drain(ctx context.Context, n int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.logf("drain: %d outbox rows committed at once", n)
	r, err := runDrain(ctx, b.st.superuserURL(), b.st.natsURL(), n, b.smp)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		return err
	}
	b.logf("  %.0f events/s (%s from commit to the relay's cursor at the last row), stream +%d", r.Rate, r.Drain.Round(time.Millisecond),
		int64(r.StreamAfter)-int64(r.StreamBefore))
	b.rep.Drain = &r
	return nil
}

// banquet runs banquet scenario i with n clients on a fresh hot order.
func (b *bench) banquet(ctx context.Context, i, n int) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cfg := b.cfg
	b.logf("banquet, %s on one order", clients(n))
	w := newWindow(cfg.Warmup, cfg.Duration)
	delivery, pg := watchDelivery(ctx, b.api, w), watchPostgres(ctx, b.st.superuserURL(), w)
	r, err := runBanquet(ctx, b.api, b.st.superuserURL(), banquetTable(i), n, cfg.BanquetLinesPerClient, w, b.smp)
	r.Delivery, r.PG = delivery(), pg()
	if ctx.Err() != nil {
		return ctx.Err() // interrupted: the figures are partial
	}
	if err != nil {
		return err
	}
	b.logf("  %.0f accepted/s, %d conflicts, %d lost, version %d (want %d)", r.Throughput, r.Conflicts, r.Lost, r.Version, r.WantVersion)
	b.rep.Banquet = append(b.rep.Banquet, r)
	return nil
}

// verify reads back every low-contention order and every pgbench order.
func (b *bench) verify(ctx context.Context) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	b.rep.VerifyProblems = verifyOwned(ctx, b.api, b.orders)
	if b.rep.Kitchen != nil {
		b.rep.VerifyProblems = append(b.rep.VerifyProblems, b.rep.Kitchen.VerifyProblems...)
	}
	if b.pgb == nil {
		return nil
	}
	txs, problems, err := verifyPgbenchOrders(ctx, b.st.superuserURL(), b.cfg.Lines, b.rep.DB.Features.Outbox)
	if err != nil {
		return err
	}
	b.rep.PgbenchTxs = txs
	b.rep.VerifyProblems = append(b.rep.VerifyProblems, problems...)
	return nil
}
