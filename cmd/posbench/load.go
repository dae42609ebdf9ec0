package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/benchkit"
)

// loadStats is what every PATCH scenario measures in its window (OK:
// accepted PATCHes).
type loadStats struct {
	benchkit.Outcomes
	Clients    int
	Duration   time.Duration
	Throughput float64 // OK per second
	Latency    benchkit.Summary
	CPU        benchkit.Use
	Delivery   *benchkit.Histogram // commit→NATS from posd's histogram
	PG         *benchkit.PGCounters
}

func newLoadStats(n int, d time.Duration, all *benchkit.Outcomes, cpu benchkit.Use) loadStats {
	return loadStats{Outcomes: *all, Clients: n, Duration: d, Throughput: float64(all.OK) / d.Seconds(), Latency: benchkit.Summarize(all.Latencies), CPU: cpu}
}

// merge adds round o of the same client count to r.
func (r *loadStats) merge(o loadStats) {
	if r.Clients == 0 {
		*r = o
		return
	}
	r.Outcomes.Merge(&o.Outcomes)
	r.Duration += o.Duration
	r.Throughput, r.Latency = float64(r.OK)/r.Duration.Seconds(), benchkit.Summarize(r.Latencies)
	r.CPU.Add(o.CPU)
	r.Delivery, r.PG = benchkit.AddHistograms(r.Delivery, o.Delivery), benchkit.AddPGCounters(r.PG, o.PG)
}

// ownedOrder is an open order exactly one client writes to, as that client
// knows it.
type ownedOrder struct {
	id, table, token string
	version          int64
	lines            []uuid.UUID // oldest first
	n                int         // writes so far, to cycle the SKUs
}

// prepareOwnedOrders opens n orders on tables B1..Bn and fills each with
// lines lines in one PATCH.
func prepareOwnedOrders(ctx context.Context, a *api, n, lines int) ([]*ownedOrder, error) {
	orders := make([]*ownedOrder, n)
	for i := range n {
		o := &ownedOrder{table: fmt.Sprintf("B%d", i+1), token: waiterTokens[i%len(waiterTokens)]}
		v, err := a.openOrder(ctx, o.token, o.table)
		if err != nil {
			return nil, err
		}
		for range lines {
			o.lines = append(o.lines, newLineID())
		}
		r, err := a.patch(ctx, o.token, v.ID, v.Version, fillOps(o.lines))
		if err == nil && r.status != http.StatusOK {
			err = fmt.Errorf("fill order %s: HTTP %d: %s", v.ID, r.status, r.body)
		}
		if err != nil {
			return nil, err
		}
		o.id, o.version, orders[i] = v.ID, r.version, o
	}
	return orders, nil
}

// runLowContention has each client write to its own order until the end of
// w: at target lines it removes the oldest, otherwise it adds one.
func runLowContention(ctx context.Context, a *api, orders []*ownedOrder, target int, w benchkit.Window, smp *benchkit.Sampler) loadStats {
	per := make([]*benchkit.Outcomes, len(orders))
	benchkit.RunClients(len(orders), func(i int) {
		per[i] = benchkit.NewOutcomes()
		for !w.Over(ctx) {
			writeOwned(a, orders[i], target, w, per[i])
		}
	})
	all := benchkit.NewOutcomes()
	all.Merge(per...)
	return newLoadStats(len(orders), w.End.Sub(w.Start), all, smp.Window(w.Start, w.End))
}

// writeOwned sends the next PATCH of o and records its outcome; it reports
// whether it was answered 200 and when the answer arrived.
func writeOwned(a *api, o *ownedOrder, target int, w benchkit.Window, out *benchkit.Outcomes) (ok bool, at time.Time) {
	remove, added := len(o.lines) >= target, newLineID()
	ops := addItemOps(added, skus[o.n%len(skus)])
	if remove {
		ops = removeItemOps(o.lines[0])
	}
	o.n++
	// Never cancelled: an abandoned write leaves the client unsure.
	r, err := a.patch(context.Background(), o.token, o.id, o.version, ops)
	at = time.Now()
	in := w.Has(at)
	switch {
	case err == nil && r.status == http.StatusOK:
		o.version = r.version
		if remove {
			o.lines = o.lines[1:]
		} else {
			o.lines = append(o.lines, added)
		}
		out.Accepted(in, r.elapsed)
		return true, at
	case err != nil:
		out.Lost(in, err)
	default:
		out.Bad(in, r.status, r.body)
	}
	// Anything but a 200 leaves the client unsure: read the order back.
	if v, err := a.getOrder(context.Background(), o.token, o.id); err == nil {
		o.version, o.lines = v.Version, v.lineIDs()
	} else {
		time.Sleep(10 * time.Millisecond)
	}
	return false, at
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// verifyOwned reads every order back and reports those whose version or
// lines differ from what its client was told.
func verifyOwned(ctx context.Context, a *api, orders []*ownedOrder) []string {
	var problems []string
	for _, o := range orders {
		v, err := a.getOrder(ctx, o.token, o.id)
		switch {
		case err != nil:
			problems = append(problems, err.Error())
		case v.Version != o.version:
			problems = append(problems, fmt.Sprintf("order %s on %s: version %d, client has %d", o.id, o.table, v.Version, o.version))
		case !slices.Equal(v.lineIDs(), o.lines):
			problems = append(problems, fmt.Sprintf("order %s on %s: %d lines, client expects %d (or different ids)", o.id, o.table, len(v.Lines), len(o.lines)))
		}
	}
	return problems
}

// banquetResult is one banquet run: many clients on one hot order.
type banquetResult struct {
	loadStats // OK counts accepted writes inside the window
	Conflicts int
	// Effective runs from a write's first attempt to its acceptance.
	Effective     benchkit.Summary
	AcceptedTotal int // warm-up included
	// Checked after the run.
	Version, WantVersion, EventRows int64
	Lost, Unexpected                int
	// Unknown counts writes of unknown outcome (no answer, or a 5xx); their
	// lines count neither as lost nor as unexpected.
	Unknown int
}

// banquetClient is one waiter on the hot order.
type banquetClient struct {
	token         string
	version       int64
	own           []uuid.UUID // its acknowledged lines, oldest first
	unknown       map[uuid.UUID]bool
	n, conflicts  int
	acceptedTotal int
	out           *benchkit.Outcomes
	effective     []time.Duration
}

// runBanquet opens a fresh order on table and has n clients write to it
// until the end of w, each keeping perClient lines of its own and
// re-applying its op on 409 with the current version. Then it checks that
// every acknowledged line is there and nothing else, and that the version
// and the event log count exactly the accepted writes.
func runBanquet(ctx context.Context, a *api, superURL, table string, n, perClient int, w benchkit.Window, smp *benchkit.Sampler) (banquetResult, error) {
	hot, err := a.openOrder(ctx, waiterTokens[0], table)
	if err != nil {
		return banquetResult{}, err
	}
	cs := make([]*banquetClient, n)
	benchkit.RunClients(n, func(i int) {
		c := &banquetClient{token: waiterTokens[i%len(waiterTokens)], version: hot.Version, unknown: map[uuid.UUID]bool{}, out: benchkit.NewOutcomes()}
		cs[i] = c
		for !w.Over(ctx) {
			c.write(a, hot.ID, perClient, w)
		}
	})
	all, want, unknown := benchkit.NewOutcomes(), map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	var res banquetResult
	var effective []time.Duration
	for _, c := range cs {
		all.Merge(c.out)
		res.Conflicts += c.conflicts
		res.AcceptedTotal += c.acceptedTotal
		effective = append(effective, c.effective...)
		for _, id := range c.own {
			want[id] = true
		}
		for id := range c.unknown {
			unknown[id] = true
		}
	}
	res.loadStats = newLoadStats(n, w.End.Sub(w.Start), all, smp.Window(w.Start, w.End))
	res.Effective, res.Unknown = benchkit.Summarize(effective), len(unknown)
	final, err := a.getOrder(ctx, waiterTokens[0], hot.ID)
	if err != nil {
		return res, err
	}
	res.Version, res.WantVersion = final.Version, 1+int64(res.AcceptedTotal)
	got := map[uuid.UUID]bool{}
	for _, id := range final.lineIDs() {
		got[id] = true
		res.Unexpected += b2i(!want[id] && !unknown[id])
	}
	for id := range want {
		res.Lost += b2i(!got[id])
	}
	err = queryRow(ctx, superURL, "SELECT count(*) FROM order_events WHERE venue_id = 'demo' AND order_id = $1", []any{hot.ID}, &res.EventRows)
	return res, err
}

// write performs one logical write (add or remove one of the client's own
// lines), re-applying it on version conflicts.
func (c *banquetClient) write(a *api, orderID string, perClient int, w benchkit.Window) {
	remove, line := len(c.own) >= perClient, newLineID()
	ops := addItemOps(line, skus[c.n%len(skus)])
	if remove {
		line = c.own[0]
		ops = removeItemOps(line)
	}
	c.n++
	first := time.Now()
	for {
		r, err := a.patch(context.Background(), c.token, orderID, c.version, ops)
		now := time.Now()
		in := w.Has(now)
		switch {
		case err != nil || r.status >= 500: // it may have landed
			if err != nil {
				c.out.Lost(in, err)
			} else {
				c.out.Bad(in, r.status, r.body)
			}
			c.unknown[line] = true
			if remove {
				c.own = c.own[1:]
			}
		case r.status == http.StatusOK:
			c.version = r.version
			c.acceptedTotal++
			if remove {
				c.own = c.own[1:]
			} else {
				c.own = append(c.own, line)
			}
			c.out.Accepted(in, r.elapsed)
			if in {
				c.effective = append(c.effective, now.Sub(first))
			}
			return
		case r.status == http.StatusConflict:
			// Not applied: re-apply on the current version; after the
			// window the write is dropped (nothing was written).
			c.conflicts += b2i(in)
			if r.version != 0 {
				c.version = r.version
				if w.Over(context.Background()) {
					return
				}
				continue
			}
		default:
			c.out.Bad(in, r.status, r.body)
		}
		if v, err := a.getOrder(context.Background(), c.token, orderID); err == nil {
			c.version = v.Version
		} else {
			time.Sleep(10 * time.Millisecond)
		}
		if r.status != http.StatusConflict || w.Over(context.Background()) {
			return
		}
	}
}
