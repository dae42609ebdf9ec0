// Command posbench measures posd's versioned write path on the real stack and
// compares it with pgbench running the equivalent SQL on the same Postgres.
//
// It builds nothing: it starts an already built posd binary ("posd dev" on free
// ports with a fresh temporary data directory), waits for /readyz, and runs
//
//   - low contention: N clients (default 1, 8, 32), each PATCHing its own open
//     order (add_item / remove_item, so the order stays at a steady size);
//   - pgbench at the same client counts with a script that issues the same SQL
//     statements one PATCH issues (see pgbench.go), each client on its own
//     order: the physical limit of this database on this machine;
//   - kitchen: the low-contention loop at 8 clients with every 4th PATCH an
//     add_item + send on a kitchen order, while posbench holds the grill
//     station's SSE stream and a NATS subscription on the order events:
//     commit→SSE and commit→NATS delivery latency (see kitchen.go);
//   - banquet: N clients (default 8, 32) on one hot order, re-applying each
//     write on 409 with the current_version from the problem body, and at the
//     end checking that no acknowledged line was lost;
//   - drain: 50,000 outbox rows committed at once, and the time the outbox
//     relay takes to publish them (see drain.go).
//
// It reports throughput, client-side p50/p95/p99 latency of successful
// PATCHes, the posd/pgbench ratio, CPU time per write of each process group,
// and posd's peak RSS as a Markdown report on stdout (and --out FILE), then
// stops posd with SIGTERM and removes the data directory.
//
//	go build -o bin/posd ./cmd/posd && go run ./cmd/posbench --posd bin/posd
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
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
