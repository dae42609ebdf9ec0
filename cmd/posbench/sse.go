package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/benchkit"
)

// The SSE scenario (--sse-screens, --sse-handhelds) measures what open
// streams cost one posd serve replica. posbench starts "posd serve" beside
// posd dev, on the same Postgres and NATS, and opens streams on it in steps
// (the counts of the flag, kept open from one step to the next): kitchen
// screens (GET /v1/kitchen/stream, each its own kitchen device, spread over
// the four stations) or handhelds (GET /v1/stream, each its own waiter
// device). At each count it measures the replica (CPU from /proc, RSS, open
// file descriptors, and the Go heap, stacks and goroutines from its
// /metrics) for --sse-duration with no writes (heartbeats only), then for
// --sse-duration while a waiter fires --sse-tickets tickets a minute at the
// venue through posd dev (so the replica does nothing but stream), one
// station after the other. Every stream must receive every ticket of its
// station (a handheld: every order event) exactly once, within
// deliveryGrace after the load; a stream that does not fails the step, and
// the series stops there. Each kind runs on a fresh replica, so that memory
// one kind's streams left behind does not hide the other's.

// sseSKUs are the items the ticket load sends in turn: one per station, so
// each station gets a quarter of the tickets.
var sseSKUs = []string{"steak", "fries", "caesar", "beer"}

const (
	sseSettle  = 5 * time.Second // after opening a step's streams, before its idle window
	sseFirers  = 4               // kitchen orders the ticket load rotates over, tables S1…
	sseOpeners = 8               // streams opened at once
	// sseMetricsLag is how long posbench waits after a window before
	// charging it, so that the sampler has a sample past its end.
	sseMetricsLag = 150 * time.Millisecond
)

// SSESettle is how long posbench waits after opening a count's streams,
// before its idle window (sseSettle, shorter in short runs).
func (c Config) SSESettle() time.Duration { return min(sseSettle, c.SSEDuration) }

// SSEGrace is how long the streams are listened to after a busy window
// (deliveryGrace, shorter in short runs).
func (c Config) SSEGrace() time.Duration { return min(deliveryGrace, c.SSEDuration) }

// sseKind is a kind of stream: kitchen screens or handhelds.
type sseKind struct {
	Name, Path, Role, Token string // Token: the device tokens, with the stream's index
	Expect                  string // what every stream must receive
}

var (
	sseKitchen = sseKind{"kitchen", "/v1/kitchen/stream", "kitchen", "posbench-screen-", "every ticket.created of its station"}
	sseVenue   = sseKind{"venue", "/v1/stream", "waiter", "posbench-handheld-", "every order event of the venue's PATCHes"}
)

func (k sseKind) token(i int) string { return k.Token + strconv.Itoa(i+1) }

// sseUse is what the replica (and the rest) used in one window.
type sseUse struct {
	For     time.Duration
	Replica time.Duration // the replica's CPU time
	// U: posd dev (Target, which holds the embedded NATS server and does
	// the writes), Postgres (Tree), posbench (Self) and the machine.
	U benchkit.Use
	// The replica at the window's end: VmRSS; heap and goroutine stacks
	// in use and all memory the Go runtime holds (go_memstats_*);
	// goroutines; open file descriptors.
	RSS, Heap, Stacks, GoSys int64
	Goroutines, FDs          int
	Consumers                int // consumers of the POS stream (NATS)
}

// CPU is x as a percentage of one CPU over the window.
func (u sseUse) CPU(x time.Duration) float64 {
	if u.For <= 0 {
		return 0
	}
	return 100 * x.Seconds() / u.For.Seconds()
}

// Others is the machine's CPU used by processes outside the run, as a
// share of all its CPU.
func (u sseUse) Others() float64 {
	if u.U.MachineTotal <= 0 {
		return 0
	}
	return float64(u.U.Others(u.Replica)) / float64(u.U.MachineTotal)
}

// sseStep is one count of a series.
type sseStep struct {
	Streams    int
	Opened     time.Duration // time to open the step's new streams
	Idle, Busy sseUse
	Tickets    int // tickets the load sent (acknowledged)
	Writes     int // PATCHes acknowledged
	WriteErrs  string
	// Delivered counts, over every stream, what it had to receive: its
	// station's tickets (kitchen) or the PATCHes' order events (handheld).
	Delivered benchkit.Deliveries
	Problem   string // why the step failed: it is then no figure
}

// sseSeries is one kind of stream on one replica, step by step.
type sseSeries struct {
	Kind           sseKind
	Counts         []int
	Flags          []string
	Steps          []sseStep
	Stopped        string // what ended the series before its last count
	PeakRSS        int64  // the replica's VmHWM at the end
	ErrorLogLines  int
	ErrorLogSample string
}

// OK are the steps that passed, the figures.
func (s sseSeries) OK() (ok []sseStep) {
	for _, st := range s.Steps {
		if st.Problem == "" {
			ok = append(ok, st)
		}
	}
	return ok
}

// sseScreen is one open stream and what it must receive.
type sseScreen struct {
	l       *benchkit.Listener
	station string // kitchen: its station
}

// sseFire is the ticket load of one busy window.
type sseFire struct {
	c     *kitchenClient
	sends int
}

// sseRun is the scenario in progress.
type sseRun struct {
	b      *bench
	firers []*kitchenOrder
}

// sse runs the kitchen series and then the handheld series.
func (b *bench) sse(ctx context.Context) error {
	cfg := b.cfg
	if err := prepareSSE(ctx, b.st.superuserURL(), slicesMax(cfg.SSEScreens), slicesMax(cfg.SSEHandhelds)); err != nil {
		return err
	}
	x := &sseRun{b: b}
	for i := range sseFirers {
		k := &kitchenOrder{table: fmt.Sprintf("S%d", i+1), token: waiterTokens[i%len(waiterTokens)]}
		if err := k.open(ctx, b.api); err != nil {
			return err
		}
		x.firers = append(x.firers, k)
	}
	for _, s := range []struct {
		kind   sseKind
		counts []int
	}{{sseKitchen, cfg.SSEScreens}, {sseVenue, cfg.SSEHandhelds}} {
		if len(s.counts) == 0 {
			continue
		}
		series, err := x.series(ctx, s.kind, s.counts)
		b.rep.SSE = append(b.rep.SSE, series)
		if err != nil {
			return err
		}
	}
	return nil
}

// prepareSSE adds the devices the streams authenticate as (kitchen
// posbench-screen-1…, waiter posbench-handheld-1…, each token its own
// name) and the ticket load's tables, as the superuser.
func prepareSSE(ctx context.Context, superURL string, screens, handhelds int) error {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return fmt.Errorf("connect as superuser: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		for _, k := range []struct {
			kind sseKind
			n    int
		}{{sseKitchen, screens}, {sseVenue, handhelds}} {
			if _, err := tx.Exec(ctx, `INSERT INTO devices (venue_id, id, name, role, staff, token_hash)
				SELECT 'demo', gen_random_uuid(), $1 || g, $2, 'posbench', sha256(convert_to($1 || g, 'UTF8'))
				FROM generate_series(1, $3::int) g`, k.kind.Token, k.kind.Role, k.n); err != nil {
				return fmt.Errorf("add %s devices: %w", k.kind.Role, err)
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO dining_tables (venue_id, id, label, seats)
			SELECT 'demo', 'S' || g, 'SSE load ' || g, 4 FROM generate_series(1, $1::int) g`, sseFirers)
		return err
	})
}

// replicaFlags are the limits the replica runs with: the defaults, raised
// where maxN streams of one venue from one address need it.
func replicaFlags(maxN int) []string {
	f := func(name string, def, need int) []string { return []string{"--" + name, strconv.Itoa(max(def, need))} }
	var out []string
	for _, x := range [][]string{
		f("stream-per-venue", 100, maxN), f("stream-opens-per-venue", 300, maxN),
		f("max-conns", 2048, maxN+256), f("max-conns-per-ip", 256, maxN+256),
	} {
		out = append(out, x...)
	}
	return out
}

func slicesMax(s []int) int {
	m := 0
	for _, v := range s {
		m = max(m, v)
	}
	return m
}

// series opens kind's streams on a fresh replica, count after count.
func (x *sseRun) series(ctx context.Context, kind sseKind, counts []int) (s sseSeries, err error) {
	b := x.b
	s = sseSeries{Kind: kind, Counts: counts, Flags: replicaFlags(slicesMax(counts))}
	b.logf("SSE, %s streams: starting posd serve beside posd dev (%v)", kind.Name, s.Flags)
	r, err := b.st.startReplica(ctx, b.cfg.PosdPath, "replica-"+kind.Name, s.Flags...)
	if err != nil {
		return s, err
	}
	var screens []sseScreen
	defer func() {
		for _, sc := range screens {
			sc.l.Close()
		}
		_, s.PeakRSS, _ = benchkit.ReadRSS(r.PID())
		if stopErr := r.Stop(stopTimeout); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("replica: %w", stopErr))
		}
		s.ErrorLogLines, s.ErrorLogSample = r.ErrorLines()
	}()
	for _, n := range counts {
		st := sseStep{Streams: n}
		start := time.Now()
		if screens, err = x.open(ctx, r, kind, screens, n); err != nil {
			s.Stopped = fmt.Sprintf("opening stream %d of %d: %v", len(screens)+1, n, err)
			b.logf("  %s", s.Stopped)
			return s, ctx.Err()
		}
		st.Opened = time.Since(start)
		if err := benchkit.Sleep(ctx, b.cfg.SSESettle()); err != nil {
			return s, err
		}
		for _, sc := range screens {
			sc.l.Take() // the venue stream's ready events
		}
		if st.Idle, err = x.measure(ctx, r, func(d time.Duration) error { return benchkit.Sleep(ctx, d) }); err != nil {
			return s, err
		}
		var fire sseFire
		if st.Busy, err = x.measure(ctx, r, func(d time.Duration) error { fire = x.fire(ctx, d); return ctx.Err() }); err != nil {
			return s, err
		}
		if err := benchkit.Sleep(ctx, b.cfg.SSEGrace()); err != nil {
			return s, err
		}
		st.Tickets, st.Writes = fire.sends, len(fire.c.acks)
		if fire.c.out.Errors() > 0 {
			st.WriteErrs = fmt.Sprintf("%s: %s", fire.c.out.ErrorCell(), fire.c.out.FirstBad)
		}
		st.Delivered, st.Problem = check(kind, screens, fire.c)
		s.Steps = append(s.Steps, st)
		b.logf("  %d %s streams: idle %.1f%% CPU, RSS %s, %d goroutines; busy %.1f%% CPU, %d of %d deliveries (%d tickets fired)%s",
			n, kind.Name, st.Idle.CPU(st.Idle.Replica), benchkit.MB(st.Idle.RSS), st.Idle.Goroutines,
			st.Busy.CPU(st.Busy.Replica), st.Delivered.Received, st.Delivered.Expected, st.Tickets, problemNote(st.Problem))
		if st.Problem != "" {
			s.Stopped = fmt.Sprintf("at %d streams: %s", n, st.Problem)
			return s, nil
		}
	}
	return s, nil
}

func problemNote(p string) string {
	if p == "" {
		return ""
	}
	return "; FAILED: " + p
}

// open opens streams until there are n, sseOpeners at a time.
func (x *sseRun) open(ctx context.Context, r *replica, kind sseKind, screens []sseScreen, n int) ([]sseScreen, error) {
	if len(screens) >= n {
		return screens, nil
	}
	query := ""
	if kind == sseKitchen {
		// From the stream's last message: no snapshot of the open tickets
		// the earlier steps left.
		state, err := benchkit.StreamState(ctx, x.b.st.natsURL(), "POS")
		if err != nil {
			return screens, err
		}
		query = "&after=" + strconv.FormatUint(state.LastSeq, 10)
	}
	have := len(screens)
	more := make([]sseScreen, n-have)
	errs := make([]error, n-have)
	var next sync.Mutex
	i := 0
	benchkit.RunClients(min(sseOpeners, n-have), func(int) {
		for {
			next.Lock()
			j := i
			i++
			next.Unlock()
			if j >= len(more) || ctx.Err() != nil {
				return
			}
			more[j], errs[j] = openScreen(ctx, r.baseURL(), kind, have+j, query)
		}
	})
	for j, err := range errs {
		if err != nil {
			for _, sc := range more {
				if sc.l != nil {
					sc.l.Close()
				}
			}
			return screens, fmt.Errorf("stream %d: %w", have+j+1, err)
		}
	}
	return append(screens, more...), ctx.Err()
}

// openScreen opens stream i of kind: a kitchen screen on station i mod 4,
// or a handheld.
func openScreen(ctx context.Context, base string, kind sseKind, i int, query string) (sseScreen, error) {
	if kind == sseKitchen {
		station := menuItem(sseSKUs[i%len(sseSKUs)]).Station
		l, err := listenTickets(ctx, base, station, kind.token(i), query)
		return sseScreen{l: l, station: station}, err
	}
	l, err := benchkit.ListenSSE(ctx, base+kind.Path+"?access_token="+kind.token(i)+query, func(typ, data string, at time.Time) []benchkit.Message {
		if m, ok := orderEvent([]byte(data), at); ok && (typ == "order.opened" || typ == "order.patched") {
			return []benchkit.Message{m}
		}
		return nil
	})
	return sseScreen{l: l}, err
}

// measure runs during for --sse-duration and charges the window.
func (x *sseRun) measure(ctx context.Context, r *replica, during func(time.Duration) error) (sseUse, error) {
	pid := r.PID()
	cpu0, err := benchkit.CPUTime(pid)
	if err != nil {
		return sseUse{}, fmt.Errorf("replica: %w", err)
	}
	from := time.Now()
	if err := during(x.b.cfg.SSEDuration); err != nil {
		return sseUse{}, err
	}
	cpu1, err := benchkit.CPUTime(pid)
	if err != nil {
		return sseUse{}, fmt.Errorf("replica: %w", err)
	}
	to := time.Now()
	u := sseUse{For: to.Sub(from), Replica: cpu1 - cpu0}
	u.RSS, _, err = benchkit.ReadRSS(pid)
	if err == nil {
		u.FDs, err = benchkit.OpenFDs(pid)
	}
	var g map[string]float64
	if err == nil {
		g, err = benchkit.ScrapeGauges(ctx, r.baseURL()+"/metrics", "go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_memstats_sys_bytes", "go_goroutines")
	}
	var state struct{ Consumers int }
	if err == nil {
		st, serr := benchkit.StreamState(ctx, x.b.st.natsURL(), "POS")
		state.Consumers, err = st.Consumers, serr
	}
	if err != nil {
		return u, err
	}
	u.Heap, u.Stacks, u.GoSys = int64(g["go_memstats_heap_inuse_bytes"]), int64(g["go_memstats_stack_inuse_bytes"]), int64(g["go_memstats_sys_bytes"])
	u.Goroutines, u.Consumers = int(g["go_goroutines"]), state.Consumers
	if err := benchkit.Sleep(ctx, sseMetricsLag); err != nil {
		return u, err
	}
	u.U = x.b.smp.Window(from, to)
	return u, nil
}

// fire sends --sse-tickets tickets a minute for d through posd dev, each
// an add_item + send on the next of the load's orders (a full one is
// settled and another opened in the same tick).
func (x *sseRun) fire(ctx context.Context, d time.Duration) sseFire {
	cfg := x.b.cfg
	f := sseFire{c: newKitchenClient(sseSKUs)}
	w := benchkit.NewWindow(0, d)
	t := time.NewTicker(time.Minute / time.Duration(cfg.SSETickets))
	defer t.Stop()
	for i := 0; !w.Over(ctx); i++ {
		k := x.firers[i%len(x.firers)]
		for try := 0; try < 3; try++ {
			before := k.n
			f.c.writeKitchen(x.b.api, k, cfg.Lines, w)
			if k.n > before {
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	for _, ls := range f.c.lines {
		f.sends += len(ls)
	}
	return f
}

// check matches what every stream received after the settle with what it
// had to: its station's lines (kitchen) or the load's PATCHes (handheld).
// A stream that stopped, or missed or repeated anything, fails the step.
func check(kind sseKind, screens []sseScreen, c *kitchenClient) (benchkit.Deliveries, string) {
	var expected, got []benchkit.Message
	stopped := 0
	var firstErr error
	for i, sc := range screens {
		want := c.acks
		if kind == sseKitchen {
			want = c.lines[sc.station]
		}
		prefix := strconv.Itoa(i) + "/"
		for _, m := range want {
			m.Key = prefix + m.Key
			expected = append(expected, m)
		}
		for _, m := range sc.l.Take() {
			m.Key = prefix + m.Key
			got = append(got, m)
		}
		if done, err := sc.l.Stopped(); done || err != nil {
			stopped++
			firstErr = cmp.Or(firstErr, err)
		}
	}
	d, _ := benchkit.Match(expected, got)
	switch {
	case stopped > 0:
		return d, fmt.Sprintf("%d of %d streams ended (%v)", stopped, len(screens), firstErr)
	case len(screens) == 0:
		return d, "" // nothing to receive
	}
	if v := onceVerdict(d, "deliveries"); v != "met" {
		return d, strings.TrimPrefix(v, "**FAILED**: ")
	}
	return d, ""
}

// sseSlopes are a series' costs per 100 streams: the least-squares slope
// over its passing steps (N > 1 of them with distinct counts).
type sseSlopes struct {
	N                                        int
	RSS, Heap, Stacks, GoSys                 float64 // MB
	Goroutines, FDs                          float64
	IdleReplica, BusyReplica, IdlePG, BusyPG float64 // % of one CPU
	IdleDev, BusyDev, IdleBench, BusyBench   float64
	Deliveries                               float64 // a second, busy
}

// Per100 is the series' sseSlopes (N 0 when fewer than two counts passed).
func (s sseSeries) Per100() sseSlopes {
	ok := s.OK()
	xs := make([]float64, len(ok))
	for i, st := range ok {
		xs[i] = float64(st.Streams)
	}
	f := func(y func(sseStep) float64) float64 {
		ys := make([]float64, len(ok))
		for i, st := range ok {
			ys[i] = y(st)
		}
		return 100 * slope(xs, ys)
	}
	if len(ok) < 2 || xs[0] == xs[len(xs)-1] {
		return sseSlopes{}
	}
	mb := func(b int64) float64 { return float64(b) / 1e6 }
	return sseSlopes{N: len(ok),
		RSS: f(func(st sseStep) float64 { return mb(st.Idle.RSS) }), Heap: f(func(st sseStep) float64 { return mb(st.Idle.Heap) }),
		Stacks: f(func(st sseStep) float64 { return mb(st.Idle.Stacks) }), GoSys: f(func(st sseStep) float64 { return mb(st.Idle.GoSys) }),
		Goroutines: f(func(st sseStep) float64 { return float64(st.Idle.Goroutines) }), FDs: f(func(st sseStep) float64 { return float64(st.Idle.FDs) }),
		IdleReplica: f(func(st sseStep) float64 { return st.Idle.CPU(st.Idle.Replica) }), BusyReplica: f(func(st sseStep) float64 { return st.Busy.CPU(st.Busy.Replica) }),
		IdlePG: f(func(st sseStep) float64 { return st.Idle.CPU(st.Idle.U.Tree) }), BusyPG: f(func(st sseStep) float64 { return st.Busy.CPU(st.Busy.U.Tree) }),
		IdleDev: f(func(st sseStep) float64 { return st.Idle.CPU(st.Idle.U.Target) }), BusyDev: f(func(st sseStep) float64 { return st.Busy.CPU(st.Busy.U.Target) }),
		IdleBench: f(func(st sseStep) float64 { return st.Idle.CPU(st.Idle.U.Self) }), BusyBench: f(func(st sseStep) float64 { return st.Busy.CPU(st.Busy.U.Self) }),
		Deliveries: f(func(st sseStep) float64 { return st.DeliveryRate() }),
	}
}

// DeliveryRate is the deliveries a second over the busy window.
func (st sseStep) DeliveryRate() float64 {
	if st.Busy.For <= 0 {
		return 0
	}
	return float64(st.Delivered.Received) / st.Busy.For.Seconds()
}

// TicketsPerMin is the load's rate over the busy window.
func (st sseStep) TicketsPerMin() float64 {
	if st.Busy.For <= 0 {
		return 0
	}
	return float64(st.Tickets) / st.Busy.For.Minutes()
}

// slope is the least-squares slope of ys over xs.
func slope(xs, ys []float64) float64 {
	n := float64(len(xs))
	var sx, sy, sxx, sxy float64
	for i := range xs {
		sx, sy, sxx, sxy = sx+xs[i], sy+ys[i], sxx+xs[i]*xs[i], sxy+xs[i]*ys[i]
	}
	if d := n*sxx - sx*sx; d != 0 {
		return (n*sxy - sx*sy) / d
	}
	return 0
}
