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
	for i, n := range cfg.BanquetClients {
		if err := b.banquet(ctx, i, n); err != nil {
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

// waitQuiet measures how busy the machine is before anything starts (other
// processes skew every figure) and waits up to cfg.WaitQuiet for it to calm
// down.
func (b *bench) waitQuiet(ctx context.Context) (float64, error) {
	load := machineLoad(time.Second)
	for deadline := time.Now().Add(b.cfg.WaitQuiet); load > quietLoad && time.Now().Before(deadline); {
		b.logf("machine %.0f%% busy; waiting for it to be under %.0f%%", 100*load, 100*quietLoad)
		if err := sleepCtx(ctx, 4*time.Second); err != nil {
			return 0, err
		}
		load = machineLoad(time.Second)
	}
	if load > quietLoad {
		b.logf("warning: the machine is already %.0f%% busy before posbench starts; figures will be skewed", 100*load)
	}
	return load, nil
}

// prepare creates the tables and orders every scenario needs, writes the
// pgbench script, and measures the idle CPU of posd and Postgres.
func (b *bench) prepare(ctx context.Context) error {
	cfg := b.cfg
	var err error
	maxC := cfg.maxClients()
	if b.rep.DB, err = prepareDatabase(ctx, b.st.superuserURL(), maxC, len(cfg.BanquetClients), cfg.Lines); err != nil {
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
	if b.pgb == nil {
		return nil
	}
	txs, problems, err := verifyPgbenchOrders(ctx, b.st.superuserURL(), b.cfg.Lines)
	if err != nil {
		return err
	}
	b.rep.PgbenchTxs = txs
	b.rep.VerifyProblems = append(b.rep.VerifyProblems, problems...)
	return nil
}
