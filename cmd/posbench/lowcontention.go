package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// ownedOrder is an open order that exactly one client writes to, and what
// that client knows of it.
type ownedOrder struct {
	id      string
	table   string
	token   string
	version int64
	// lines are the order's line ids, oldest first.
	lines []uuid.UUID
	n     int // writes so far, to cycle the SKUs
}

// benchTable is the dining table of low-contention order i (created by
// prepareDatabase; only one order may be open per table).
func benchTable(i int) string { return fmt.Sprintf("B%d", i+1) }

// prepareOwnedOrders opens n orders on tables B1..Bn and fills each with
// lines lines in one PATCH, so every client starts from the steady size.
func prepareOwnedOrders(ctx context.Context, a *api, n, lines int) ([]*ownedOrder, error) {
	orders := make([]*ownedOrder, n)
	for i := range n {
		o := &ownedOrder{table: benchTable(i), token: waiterTokens[i%len(waiterTokens)]}
		v, err := a.openOrder(ctx, o.token, o.table)
		if err != nil {
			return nil, err
		}
		o.id, o.version = v.ID, v.Version
		for range lines {
			o.lines = append(o.lines, newLineID())
		}
		r, err := a.patch(ctx, o.token, o.id, o.version, fillOps(o.lines))
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("fill order %s: HTTP %d: %s", o.id, r.status, r.body)
		}
		o.version = r.version
		orders[i] = o
	}
	return orders, nil
}

// lowResult is one low-contention run.
type lowResult struct {
	Clients    int
	Duration   time.Duration
	OK         int
	Throughput float64 // accepted PATCHes per second
	Latency    latencySummary
	Errors     int
	Statuses   map[int]int
	Transport  int
	FirstBad   string
	CPU        cpuUse
	// Delivery is commit→NATS of the messages published in the window
	// (when posd has an outbox relay).
	Delivery *histogram
	// PG is what Postgres did in the window.
	PG *pgCounters

	samples []time.Duration // every latency, for merging rounds
}

// merge adds round o of the same client count to r.
func (r *lowResult) merge(o lowResult) {
	if r.Clients == 0 {
		*r = o
		return
	}
	r.Duration += o.Duration
	r.OK += o.OK
	r.Throughput = float64(r.OK) / r.Duration.Seconds()
	r.samples = append(r.samples, o.samples...)
	r.Latency = summarize(r.samples)
	r.Errors += o.Errors
	r.Transport += o.Transport
	for k, v := range o.Statuses {
		r.Statuses[k] += v
	}
	if r.FirstBad == "" {
		r.FirstBad = o.FirstBad
	}
	r.CPU.add(o.CPU)
	r.Delivery = addHistograms(r.Delivery, o.Delivery)
	r.PG = addCounters(r.PG, o.PG)
}

// runLowContention has each of len(orders) clients write to its own order
// from now to the end of w: when the order holds target lines it removes the
// oldest, otherwise it adds one, so it alternates between target-1 and target
// lines and every PATCH is one add_item or one remove_item against the
// version the previous response returned.
func runLowContention(ctx context.Context, a *api, orders []*ownedOrder, target int, w window, smp *sampler) lowResult {
	d := w.end.Sub(w.start)
	per := make([]*outcomes, len(orders))
	runClients(len(orders), func(i int) {
		o, out := orders[i], newOutcomes()
		per[i] = out
		for !w.over(ctx) {
			writeOwned(a, o, target, w, out)
		}
	})
	all := newOutcomes()
	all.merge(per...)
	return lowResult{
		Clients: len(orders), Duration: d, OK: all.ok, Throughput: float64(all.ok) / d.Seconds(),
		Latency: summarize(all.latencies), Errors: all.errors(), Statuses: all.statuses,
		Transport: all.transport, FirstBad: all.firstBad, CPU: smp.window(w.start, w.end),
		samples: all.latencies,
	}
}

// writeOwned sends the next PATCH of o and records its outcome. It reports
// whether the PATCH was answered 200 and when the answer arrived.
func writeOwned(a *api, o *ownedOrder, target int, w window, out *outcomes) (ok bool, at time.Time) {
	var ops []byte
	var added uuid.UUID
	remove := len(o.lines) >= target
	if remove {
		ops = removeItemOps(o.lines[0])
	} else {
		added = newLineID()
		ops = addItemOps(added, skus[o.n%len(skus)])
	}
	o.n++
	// The request is never cancelled: an abandoned write would leave the
	// client unsure of the order's state.
	r, err := a.patch(context.Background(), o.token, o.id, o.version, ops)
	at = time.Now()
	in := w.has(at)
	switch {
	case err == nil && r.status == http.StatusOK:
		o.version = r.version
		if remove {
			o.lines = o.lines[1:]
		} else {
			o.lines = append(o.lines, added)
		}
		if in {
			out.ok++
			out.latencies = append(out.latencies, r.elapsed)
		}
		return true, at
	case err != nil:
		if in {
			out.transport++
		}
		if out.firstBad == "" {
			out.firstBad = err.Error()
		}
	default:
		if in {
			out.bad(r.status, r.body)
		}
	}
	// Anything but a 200 leaves the client unsure: read the order back.
	if v, gerr := a.getOrder(context.Background(), o.token, o.id); gerr == nil {
		o.version = v.Version
		o.lines = o.lines[:0]
		for _, l := range v.Lines {
			o.lines = append(o.lines, l.ID)
		}
	} else {
		time.Sleep(10 * time.Millisecond)
	}
	return false, at
}

// verifyOwned reads every order back and reports any whose version or lines
// differ from what its client was told.
func verifyOwned(ctx context.Context, a *api, orders []*ownedOrder) []string {
	var problems []string
	for _, o := range orders {
		v, err := a.getOrder(ctx, o.token, o.id)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if v.Version != o.version {
			problems = append(problems, fmt.Sprintf("order %s on %s: version %d, client has %d", o.id, o.table, v.Version, o.version))
		}
		if !sameLines(o.lines, v.Lines) {
			problems = append(problems, fmt.Sprintf("order %s on %s: %d lines, client expects %d (or different ids)", o.id, o.table, len(v.Lines), len(o.lines)))
		}
	}
	return problems
}

func sameLines(want []uuid.UUID, got []struct {
	ID uuid.UUID `json:"id"`
}) bool {
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != got[i].ID {
			return false
		}
	}
	return true
}
