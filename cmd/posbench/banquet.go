package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// banquetTable is the dining table of the hot order of banquet run i.
func banquetTable(i int) string { return fmt.Sprintf("H%d", i+1) }

// banquetResult is one banquet run: many clients on one hot order.
type banquetResult struct {
	Clients  int
	Duration time.Duration
	OrderID  string
	// Accepted and Conflicts are counted inside the window.
	Accepted   int
	Conflicts  int
	Throughput float64 // accepted writes per second
	// Latency is the round trip of the accepted PATCH itself; Effective runs
	// from the first attempt of a write to its acceptance, retries included.
	Latency   latencySummary
	Effective latencySummary
	// AcceptedTotal counts every accepted write, warm-up included.
	AcceptedTotal int
	Errors        int
	Statuses      map[int]int
	Transport     int
	FirstBad      string

	// Verification after the run.
	Version, WantVersion int64
	EventRows            int64
	Lines, WantLines     int
	Lost, Unexpected     int
	// Unknown counts writes whose outcome the client could not learn (no
	// HTTP answer); their lines are excluded from Lost and Unexpected.
	Unknown  int
	CPU      cpuUse
	Delivery *histogram
	PG       *pgCounters
}

// banquetClient is one waiter on the hot order: its own lines on it and the
// last version it saw.
type banquetClient struct {
	token   string
	version int64
	own     []uuid.UUID // acknowledged lines this client added and has not removed, oldest first
	unknown map[uuid.UUID]bool
	n       int

	out           *outcomes
	conflicts     int
	acceptedTotal int
	effective     []time.Duration
}

// runBanquet opens a fresh order on table and has n clients write to it from
// now to the end of w. Each client keeps perClient lines of its own on the
// order (adding until it has them, then removing its oldest), and on 409
// re-applies the same op with the current_version from the problem body until
// it is accepted. At the end it checks that every acknowledged line is there,
// nothing else is, and the version and the event log count exactly the
// accepted writes.
func runBanquet(ctx context.Context, a *api, superURL, table string, n, perClient int, w window, smp *sampler) (banquetResult, error) {
	d := w.end.Sub(w.start)
	hot, err := a.openOrder(ctx, waiterTokens[0], table)
	if err != nil {
		return banquetResult{}, err
	}
	waiters := make([]*banquetClient, n)
	for i := range waiters {
		waiters[i] = &banquetClient{token: waiterTokens[i%len(waiterTokens)], version: hot.Version,
			unknown: map[uuid.UUID]bool{}, out: newOutcomes()}
	}
	runClients(n, func(i int) {
		c := waiters[i]
		for !w.over(ctx) {
			c.write(a, hot.ID, perClient, w)
		}
	})
	smpUse := smp.window(w.start, w.end)

	res := banquetResult{Clients: n, Duration: d, OrderID: hot.ID, CPU: smpUse}
	all := newOutcomes()
	var effective []time.Duration
	want := map[uuid.UUID]bool{}
	unknown := map[uuid.UUID]bool{}
	for _, c := range waiters {
		all.merge(c.out)
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
	res.Accepted, res.Throughput = all.ok, float64(all.ok)/d.Seconds()
	res.Latency, res.Effective = summarize(all.latencies), summarize(effective)
	res.Errors, res.Statuses, res.Transport, res.FirstBad = all.errors(), all.statuses, all.transport, all.firstBad
	res.Unknown = len(unknown)

	final, err := a.getOrder(ctx, waiterTokens[0], hot.ID)
	if err != nil {
		return res, err
	}
	res.Version, res.WantVersion = final.Version, 1+int64(res.AcceptedTotal)
	res.Lines, res.WantLines = len(final.Lines), len(want)
	got := map[uuid.UUID]bool{}
	for _, l := range final.Lines {
		got[l.ID] = true
		if !want[l.ID] && !unknown[l.ID] {
			res.Unexpected++
		}
	}
	for id := range want {
		if !got[id] {
			res.Lost++
		}
	}
	res.EventRows, err = countEvents(ctx, superURL, hot.ID)
	return res, err
}

// write performs one logical write (add or remove one of the client's own
// lines), retrying on version conflicts.
func (c *banquetClient) write(a *api, orderID string, perClient int, w window) {
	var ops []byte
	var line uuid.UUID
	remove := len(c.own) >= perClient
	if remove {
		line = c.own[0]
		ops = removeItemOps(line)
	} else {
		line = newLineID()
		ops = addItemOps(line, skus[c.n%len(skus)])
	}
	c.n++
	first := time.Now()
	for {
		r, err := a.patch(context.Background(), c.token, orderID, c.version, ops)
		now := time.Now()
		in := w.has(now)
		if err != nil {
			// No answer: the write may or may not have landed.
			if in {
				c.out.transport++
			}
			if c.out.firstBad == "" {
				c.out.firstBad = err.Error()
			}
			c.forget(line, remove)
			c.resync(a, orderID)
			return
		}
		switch r.status {
		case http.StatusOK:
			c.version = r.version
			c.acceptedTotal++
			if remove {
				c.own = c.own[1:]
			} else {
				c.own = append(c.own, line)
			}
			if in {
				c.out.ok++
				c.out.latencies = append(c.out.latencies, r.elapsed)
				c.effective = append(c.effective, now.Sub(first))
			}
			return
		case http.StatusConflict:
			// Not applied: re-apply against the current version. After the
			// window the write is simply dropped (nothing was written).
			if in {
				c.conflicts++
			}
			if r.version == 0 {
				c.resync(a, orderID)
			} else {
				c.version = r.version
			}
			if w.over(context.Background()) {
				return
			}
		default:
			if in {
				c.out.bad(r.status, r.body)
			}
			if r.status >= 500 {
				// A 5xx may come after a commit: outcome unknown.
				c.forget(line, remove)
			}
			c.resync(a, orderID)
			return
		}
	}
}

// forget takes a line whose write has an unknown outcome out of the client's
// own lines and remembers it as unknown.
func (c *banquetClient) forget(line uuid.UUID, remove bool) {
	c.unknown[line] = true
	if remove && len(c.own) > 0 && c.own[0] == line {
		c.own = c.own[1:]
	}
}

// resync reads the current version.
func (c *banquetClient) resync(a *api, orderID string) {
	if v, err := a.getOrder(context.Background(), c.token, orderID); err == nil {
		c.version = v.Version
		return
	}
	time.Sleep(10 * time.Millisecond)
}

// countEvents counts the hot order's rows in the event log.
func countEvents(ctx context.Context, superURL, orderID string) (int64, error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return 0, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var n int64
	err = conn.QueryRow(ctx, "SELECT count(*) FROM order_events WHERE venue_id = 'demo' AND order_id = $1", orderID).Scan(&n)
	return n, err
}
