// Command posbench measures posd's versioned write path on the real stack and
// compares it with pgbench running the same SQL on the same Postgres. It
// starts a built posd ("posd dev" on free ports, fresh data directory) and
// runs: low contention (N clients, default 1, 8, 32, each PATCHing its own
// order) alternating with pgbench at the same client counts (a script
// rendered from db/queries, see pgbench.go); kitchen (8 clients, every 4th
// PATCH an add_item + send, while posbench holds the grill SSE stream and a
// NATS subscription); banquet (8 and 32 clients on one hot order, re-applying
// on 409, no acknowledged line lost); drain (50,000 outbox rows committed at
// once, timed through the relay and counted in the stream); and, when
// asked (--sse-screens, --sse-handhelds), SSE streams held open on a posd
// serve replica beside it, idle and under a ticket load. It prints a
// Markdown report (report.tmpl; also to --out) and stops posd with SIGTERM.
//
//	go build -o bin/posd ./cmd/posd && go run ./cmd/posbench --posd bin/posd
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "posbench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "posbench:", err)
		stop()
		os.Exit(1)
	}
}

// Config is everything a run is parameterised by (see the flags).
type Config struct {
	PosdPath, PgbenchPath, Out           string
	Duration, Warmup, WaitQuiet          time.Duration
	Rounds, Lines, BanquetLinesPerClient int
	Clients, BanquetClients              []int
	DeliveryClients, SendEvery, Drain    int
	DrainOrders                          int
	Keep, PrintScript                    bool
	// The SSE scenario: stream counts (kitchen screens, handhelds), the
	// idle and the busy window at each, tickets a minute while busy.
	SSEScreens, SSEHandhelds []int
	SSEDuration              time.Duration
	SSETickets               int
}

func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("posbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: posbench [flags]\n\n"+
			"Start a built posd (posd dev) on free ports with a fresh data directory, measure PATCH\n"+
			"throughput and latency at low contention and on one hot order, run pgbench with the\n"+
			"same SQL on the same Postgres, and print a Markdown report.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg Config
	var clients, banquet, screens, handhelds string
	fs.StringVar(&cfg.PosdPath, "posd", "bin/posd", "path of the built posd binary")
	fs.StringVar(&cfg.PgbenchPath, "pgbench", "/usr/bin/pgbench", `path of pgbench ("" skips the pgbench runs)`)
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured duration of each scenario")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured warm-up before each scenario")
	fs.IntVar(&cfg.Rounds, "rounds", 2, "alternate posd and pgbench this many times per client count (--duration is split among them)")
	fs.StringVar(&clients, "clients", "1,8,32", "client counts for the low-contention and pgbench runs")
	fs.StringVar(&banquet, "banquet-clients", "8,32", "client counts for the banquet (one hot order) runs")
	fs.IntVar(&cfg.Lines, "lines", 10, "steady number of lines of a low-contention order")
	fs.IntVar(&cfg.BanquetLinesPerClient, "banquet-lines", 2, "lines each banquet client keeps on the hot order")
	fs.StringVar(&cfg.Out, "out", "", "also write the Markdown report to this file")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the temporary data directory")
	fs.DurationVar(&cfg.WaitQuiet, "wait-quiet", 0, "wait up to this long for the machine to stay under 15% busy for 5 s before starting")
	fs.BoolVar(&cfg.PrintScript, "print-script", false, "print the pgbench script and exit")
	fs.IntVar(&cfg.DeliveryClients, "delivery-clients", 8, "clients of the kitchen scenario measuring commit→SSE and commit→NATS (0 skips it)")
	fs.IntVar(&cfg.SendEvery, "send-every", 4, "in the kitchen scenario, every n-th PATCH adds an item and sends it to the kitchen")
	fs.IntVar(&cfg.Drain, "drain", 50000, "outbox backlog (events) whose drain by the relay is timed (0 skips it)")
	fs.IntVar(&cfg.DrainOrders, "drain-orders", 1000, "orders (one subject each) the drain's events are spread over, in turn (1: every event on one subject, the relay's worst case)")
	fs.StringVar(&screens, "sse-screens", "", `kitchen screens (SSE streams) to open on one posd serve replica, step by step, e.g. "0,250,500,1000" ("" skips it)`)
	fs.StringVar(&handhelds, "sse-handhelds", "", `handhelds (venue streams, GET /v1/stream) to open on a fresh replica, step by step ("" skips it)`)
	fs.DurationVar(&cfg.SSEDuration, "sse-duration", 20*time.Second, "at each SSE count, the idle window and then the busy window")
	fs.IntVar(&cfg.SSETickets, "sse-tickets", 300, "tickets a minute fired at the venue (its four stations in turn) in each busy SSE window")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	var err, err2, err3, err4 error
	cfg.Clients, err = parseCounts("--clients", clients, 1, 256)
	cfg.BanquetClients, err2 = parseCounts("--banquet-clients", banquet, 1, 256)
	cfg.SSEScreens, err3 = parseCounts("--sse-screens", screens, 0, maxSSEStreams)
	cfg.SSEHandhelds, err4 = parseCounts("--sse-handhelds", handhelds, 0, maxSSEStreams)
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, c := range []struct {
		bad bool
		msg string
	}{
		{cfg.Duration < time.Second, "--duration must be at least 1s"},
		{cfg.Warmup < 0, "--warmup must not be negative"},
		{cfg.Rounds < 1 || cfg.Duration/time.Duration(max(cfg.Rounds, 1)) < time.Second, "--rounds must be at least 1 and leave at least 1s per round"},
		{cfg.Lines < 2 || cfg.Lines > 90, "--lines must be between 2 and 90"},
		{cfg.BanquetLinesPerClient < 1 || cfg.BanquetLinesPerClient > 20, "--banquet-lines must be between 1 and 20"},
		{cfg.DeliveryClients < 0 || cfg.DeliveryClients > 256, "--delivery-clients must be between 0 and 256"},
		{cfg.SendEvery < 1, "--send-every must be at least 1"},
		{cfg.Drain < 0 || cfg.Drain > 10_000_000, "--drain must be between 0 and 10000000"},
		{cfg.DrainOrders < 1 || cfg.DrainOrders > 100_000, "--drain-orders must be between 1 and 100000"},
		{cfg.SSEDuration < time.Second, "--sse-duration must be at least 1s"},
		{cfg.SSETickets < 1 || cfg.SSETickets > 60_000, "--sse-tickets must be between 1 and 60000"},
		{!slices.IsSorted(cfg.SSEScreens) || !slices.IsSorted(cfg.SSEHandhelds), "--sse-screens and --sse-handhelds must be in increasing order (streams stay open from one count to the next)"},
	} {
		if c.bad {
			return cfg, errors.New(c.msg)
		}
	}
	return cfg, errors.Join(err, err2, err3, err4)
}

// maxSSEStreams bounds --sse-screens and --sse-handhelds.
const maxSSEStreams = 100_000

// parseCounts parses a comma-separated list of counts between lo and hi
// (empty: none).
func parseCounts(name, s string, lo, hi int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < lo || n > hi {
			return nil, fmt.Errorf("%s: %q is not a count between %d and %d", name, f, lo, hi)
		}
		out = append(out, n)
	}
	return out, nil
}

// maxClients is the largest low-contention client count, the kitchen's
// included: that many orders are prepared for posd and for pgbench.
func (c Config) maxClients() int {
	m := c.DeliveryClients
	for _, n := range c.Clients {
		m = max(m, n)
	}
	return m
}
