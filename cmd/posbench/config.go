package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Config is everything a run is parameterised by.
type Config struct {
	// PosdPath is the built posd binary to start ("posd dev").
	PosdPath string
	// PgbenchPath is the pgbench binary; empty skips the pgbench runs.
	PgbenchPath string
	// Duration is the measured time of each scenario; Warmup runs before it
	// with the same load and is not measured.
	Duration time.Duration
	Warmup   time.Duration
	// Rounds splits each low-contention measurement and its pgbench
	// counterpart into this many alternating rounds (posd, pgbench, posd,
	// …), so that a change in background load hits both alike.
	Rounds int
	// Clients are the client counts of the low-contention and pgbench runs.
	Clients []int
	// BanquetClients are the client counts of the one-hot-order scenario.
	BanquetClients []int
	// Lines is the steady size of a low-contention order: it is filled to
	// Lines lines, then every PATCH alternately removes its oldest line and
	// adds one, so it holds Lines-1 or Lines lines.
	Lines int
	// BanquetLinesPerClient is how many lines each banquet client keeps on the
	// hot order before it starts removing its own oldest line.
	BanquetLinesPerClient int
	// Out, if set, receives a copy of the Markdown report.
	Out string
	// Keep leaves the temporary data directory (Postgres, posd log, pgbench
	// script and logs) in place for inspection.
	Keep bool
	// WaitQuiet, if positive, is how long to wait before starting for the
	// machine to be idle (others' processes skew every figure).
	WaitQuiet time.Duration
	// PrintScript prints the pgbench script and exits without running.
	PrintScript bool
	// DeliveryClients is the client count of the kitchen scenario, which
	// measures commit→SSE and commit→NATS delivery (0 skips it); SendEvery
	// makes every SendEvery-th PATCH of its clients an add_item + send on a
	// kitchen order.
	DeliveryClients int
	SendEvery       int
	// Drain is the size of the outbox backlog whose drain is timed (0 skips
	// it).
	Drain int
}

// parseFlags reads the command line.
func parseFlags(args []string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("posbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: posbench [flags]\n\n"+
			"Start a built posd (posd dev) on free ports with a fresh data directory, measure PATCH\n"+
			"throughput and latency at low contention and on one hot order, run pgbench with the\n"+
			"equivalent SQL on the same Postgres, and print a Markdown report.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var cfg Config
	var clients, banquet string
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
	fs.BoolVar(&cfg.PrintScript, "print-script", false, "print the pgbench script (for the current posd schema) and exit")
	fs.IntVar(&cfg.DeliveryClients, "delivery-clients", 8, "clients of the kitchen scenario measuring commit→SSE and commit→NATS (0 skips it)")
	fs.IntVar(&cfg.SendEvery, "send-every", 4, "in the kitchen scenario, every n-th PATCH adds an item and sends it to the kitchen")
	fs.IntVar(&cfg.Drain, "drain", 50000, "outbox backlog (events) whose drain by the relay is timed (0 skips it)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	var err error
	if cfg.Clients, err = parseCounts("--clients", clients); err != nil {
		return cfg, err
	}
	if cfg.BanquetClients, err = parseCounts("--banquet-clients", banquet); err != nil {
		return cfg, err
	}
	switch {
	case cfg.Duration < time.Second:
		return cfg, fmt.Errorf("--duration must be at least 1s")
	case cfg.Warmup < 0:
		return cfg, fmt.Errorf("--warmup must not be negative")
	case cfg.Rounds < 1 || cfg.Duration/time.Duration(max(cfg.Rounds, 1)) < time.Second:
		return cfg, fmt.Errorf("--rounds must be at least 1 and leave at least 1s per round")
	case cfg.Lines < 2 || cfg.Lines > 90:
		return cfg, fmt.Errorf("--lines must be between 2 and 90")
	case cfg.BanquetLinesPerClient < 1 || cfg.BanquetLinesPerClient > 20:
		return cfg, fmt.Errorf("--banquet-lines must be between 1 and 20")
	case cfg.DeliveryClients < 0 || cfg.DeliveryClients > 256:
		return cfg, fmt.Errorf("--delivery-clients must be between 0 and 256")
	case cfg.SendEvery < 1:
		return cfg, fmt.Errorf("--send-every must be at least 1")
	case cfg.Drain < 0 || cfg.Drain > 10_000_000:
		return cfg, fmt.Errorf("--drain must be between 0 and 10000000")
	}
	return cfg, nil
}

// parseCounts parses a comma-separated list of client counts (empty: none).
func parseCounts(name, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("%s: %q is not a client count between 1 and 256", name, f)
		}
		out = append(out, n)
	}
	return out, nil
}

// maxClients is the largest low-contention client count (the kitchen
// scenario's included): that many orders are prepared for posd and for
// pgbench.
func (c Config) maxClients() int {
	m := c.DeliveryClients
	for _, n := range c.Clients {
		m = max(m, n)
	}
	return m
}
