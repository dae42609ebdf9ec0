package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/posd/posd/internal/benchkit"
)

// The kitchen scenario runs the low-contention loop with kitchen tickets
// mixed in while posbench listens where a kitchen display (the grill
// station's SSE stream) and a service (NATS, pos.demo.order.>) listen. Every
// SendEvery-th PATCH of a client goes to a second order of its own as
// [add_item, send] (kitchenSKUs in turn: grill, fry, grill, bar), creating
// one fire ticket; a kitchen order holding Lines lines is settled
// ([add_payment, close]) and a new one opened on the same table.

var kitchenSKUs = []string{"steak", "fries", "burger", "beer"}

const (
	sseStation = "grill"
	// deliveryGrace is how long receivers keep listening after the window.
	deliveryGrace = 3 * time.Second
)

// kitchenOrder is a client's current kitchen order (id "": none open).
type kitchenOrder struct {
	id, table, token string
	version          int64
	lines            int   // all sent
	due              int64 // cents
	n                int   // sends so far
}

// ack is a PATCH answered 200: the version it wrote and when the answer
// arrived.
type ack struct {
	order   string
	version int64
	at      time.Time
}

// sentLine is a line a kitchen PATCH added and sent, acknowledged at at.
type sentLine struct {
	line    uuid.UUID
	station string
	at      time.Time
}

// kitchenMix counts the scenario's requests inside the window by kind.
type kitchenMix struct{ Add, Remove, Send, Settle, Open int }

// kitchenResult is the kitchen scenario's measurement.
type kitchenResult struct {
	loadStats
	SendEvery int
	Mix       kitchenMix
	// SSE: the ticket.created carrying each grill line sent inside the
	// window; from the ticket's created_at (before the commit: an upper
	// bound) and from the 200's arrival (after it: a lower estimate).
	SSE         deliveryCount
	SSEFromAck  benchkit.Summary
	SSEError    string
	NATS        deliveryCount // the order event of each 200 in the window
	NATSFromAck benchkit.Summary
	NATSError   string
	// VerifyProblems are kitchen orders not as their client was told.
	VerifyProblems []string
}

// deliveryCount is how many messages were expected, received once, missing
// and received more than once, with the latency from the time stamped on the
// message.
type deliveryCount struct {
	Expected, Received, Missing, Duplicate int
	FromStamp                              benchkit.Summary
}

// received is a message seen by a listener: its key, its stamped time and
// when it arrived.
type received struct {
	key          string
	stamped, got time.Time
}

func runKitchen(ctx context.Context, b *bench, orders []*ownedOrder) (kitchenResult, error) {
	cfg, a, n := b.cfg, b.api, len(orders)
	res := kitchenResult{SendEvery: cfg.SendEvery}
	kitchens := make([]*kitchenOrder, n)
	for i := range kitchens {
		kitchens[i] = &kitchenOrder{table: fmt.Sprintf("K%d", i+1), token: waiterTokens[i%len(waiterTokens)]}
		if err := kitchens[i].open(ctx, a); err != nil {
			return res, err
		}
	}
	lctx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	sse, err := listenSSE(lctx, a.base)
	if err != nil {
		return res, err
	}
	nl, err := listenNATS(b.st.natsURL())
	if err != nil {
		return res, err
	}
	defer nl.close()

	w := benchkit.NewWindow(cfg.Warmup, cfg.Duration)
	delivery, pg := b.watch(ctx, w)
	all, mix := newOutcomes(), kitchenMix{}
	var mu sync.Mutex
	var acks []ack
	var sent []sentLine
	benchkit.RunClients(n, func(i int) {
		c := &kitchenClient{out: newOutcomes()}
		for j := 0; !w.Over(ctx); j++ {
			if j%cfg.SendEvery == cfg.SendEvery-1 {
				c.writeKitchen(a, kitchens[i], cfg.Lines, w)
			} else {
				c.writeOwn(a, orders[i], cfg.Lines, w)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		all.merge(c.out)
		acks, sent = append(acks, c.acks...), append(sent, c.sent...)
		mix = kitchenMix{mix.Add + c.mix.Add, mix.Remove + c.mix.Remove, mix.Send + c.mix.Send, mix.Settle + c.mix.Settle, mix.Open + c.mix.Open}
	})
	res.loadStats = newLoadStats(n, cfg.Duration, all, b.smp.Window(w.Start, w.End))
	res.Mix, res.Delivery, res.PG = mix, delivery(), pg()
	if benchkit.Sleep(ctx, deliveryGrace) != nil {
		return res, ctx.Err()
	}
	stopListening()
	tickets, sseErr := sse.wait()
	events, natsErr := nl.close()
	if sseErr != nil {
		res.SSEError = sseErr.Error()
	}
	if natsErr != nil {
		res.NATSError = natsErr.Error()
	}
	var grill, writes []received
	for _, s := range sent {
		if s.station == sseStation {
			grill = append(grill, received{key: s.line.String(), got: s.at})
		}
	}
	for _, k := range acks {
		writes = append(writes, received{key: fmt.Sprintf("%s/%d", k.order, k.version), got: k.at})
	}
	res.SSE, res.SSEFromAck = matchDeliveries(grill, tickets)
	res.NATS, res.NATSFromAck = matchDeliveries(writes, events)
	for _, k := range kitchens {
		if k.id == "" {
			continue
		}
		if v, err := a.getOrder(ctx, k.token, k.id); err != nil {
			res.VerifyProblems = append(res.VerifyProblems, err.Error())
		} else if v.Version != k.version || len(v.Lines) != k.lines {
			res.VerifyProblems = append(res.VerifyProblems, fmt.Sprintf("kitchen order %s on %s: version %d with %d lines, client has %d with %d",
				k.id, k.table, v.Version, len(v.Lines), k.version, k.lines))
		}
	}
	b.logf("  %.0f PATCH/s; commit→SSE p99 %s ms, %d/%d tickets; commit→NATS p99 %s ms, %d/%d events", res.Throughput,
		benchkit.MS(res.SSE.FromStamp.P99), res.SSE.Received, res.SSE.Expected, benchkit.MS(res.NATS.FromStamp.P99), res.NATS.Received, res.NATS.Expected)
	return res, nil
}

// matchDeliveries pairs each expected message (key, acknowledged at got)
// with the messages received under its key: every one must arrive exactly
// once. It returns the counts and the latencies from the stamp and from the
// acknowledgement of the first arrival.
func matchDeliveries(expected, got []received) (deliveryCount, benchkit.Summary) {
	byKey := map[string][]received{}
	for _, r := range got {
		byKey[r.key] = append(byKey[r.key], r)
	}
	var c deliveryCount
	var fromStamp, fromAck []time.Duration
	for _, e := range expected {
		c.Expected++
		rs := byKey[e.key]
		if len(rs) == 0 {
			c.Missing++
			continue
		}
		c.Received++
		c.Duplicate += b2i(len(rs) > 1)
		fromStamp, fromAck = append(fromStamp, rs[0].got.Sub(rs[0].stamped)), append(fromAck, rs[0].got.Sub(e.got))
	}
	c.FromStamp = benchkit.Summarize(fromStamp)
	return c, benchkit.Summarize(fromAck)
}

// kitchenClient is what one client of the kitchen scenario records.
type kitchenClient struct {
	out  *outcomes
	acks []ack      // every 200 inside the window
	sent []sentLine // every kitchen line acknowledged inside the window
	mix  kitchenMix
}

func (c *kitchenClient) writeOwn(a *api, o *ownedOrder, target int, w benchkit.Window) {
	remove := len(o.lines) >= target
	if ok, at := writeOwned(a, o, target, w, c.out); ok && w.Has(at) {
		c.acks = append(c.acks, ack{o.id, o.version, at})
		c.mix.Remove += b2i(remove)
		c.mix.Add += b2i(!remove)
	}
}

// writeKitchen sends k's next PATCH: add and send one item, or, when k is
// full, settle it and open the next.
func (c *kitchenClient) writeKitchen(a *api, k *kitchenOrder, target int, w benchkit.Window) {
	if k.id == "" {
		if err := k.open(context.Background(), a); err != nil {
			c.out.transport += b2i(w.Has(time.Now()))
			c.out.note(err.Error())
			time.Sleep(10 * time.Millisecond)
		}
		return
	}
	settle, line, sku := k.lines >= target, newLineID(), kitchenSKUs[k.n%len(kitchenSKUs)]
	ops := fmt.Appendf(nil, `[{"op":"add_item","sku":%q,"line_id":"%s"},{"op":"send"}]`, sku, line)
	if settle {
		ops = fmt.Appendf(nil, `[{"op":"add_payment","tender":"card","amount_cents":%d},{"op":"close"}]`, k.due)
	} else {
		k.n++
	}
	r, err := a.patch(context.Background(), k.token, k.id, k.version, ops)
	now := time.Now()
	in := w.Has(now)
	switch {
	case err == nil && r.status == http.StatusOK:
		k.version = r.version
		if in {
			c.out.ok++
			c.out.latencies = append(c.out.latencies, r.elapsed)
			c.acks = append(c.acks, ack{k.id, k.version, now})
		}
		if !settle {
			k.lines++
			k.due += menuItem(sku).PriceCents
			if in {
				c.mix.Send++
				c.sent = append(c.sent, sentLine{line: line, station: menuItem(sku).Station, at: now})
			}
			return
		}
		c.mix.Settle += b2i(in)
		if err := k.open(context.Background(), a); err != nil {
			c.out.transport += b2i(in)
			c.out.note(err.Error())
		} else {
			c.mix.Open += b2i(w.Has(time.Now()))
		}
		return
	case err != nil:
		c.out.transport += b2i(in)
		c.out.note(err.Error())
	case in:
		c.out.bad(r.status, r.body)
	}
	// Unexpected answer: read k back.
	v, err := a.getOrder(context.Background(), k.token, k.id)
	switch {
	case err != nil:
		time.Sleep(10 * time.Millisecond)
	case v.Status == "closed":
		_ = k.open(context.Background(), a)
	default:
		k.version, k.lines, k.due = v.Version, len(v.Lines), v.Totals.DueCents
	}
}

func (k *kitchenOrder) open(ctx context.Context, a *api) error {
	k.id = ""
	v, err := a.openOrder(ctx, k.token, k.table)
	if err == nil {
		k.id, k.version, k.lines, k.due = v.ID, v.Version, 0, 0
	}
	return err
}

// listener records messages until it is closed.
type listener struct {
	mu   sync.Mutex
	got  []received
	err  error
	done chan struct{}
}

func (l *listener) add(r received) {
	l.mu.Lock()
	l.got = append(l.got, r)
	l.mu.Unlock()
}

func (l *listener) fail(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

func (l *listener) wait() ([]received, error) {
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.got, l.err
}

// listenSSE holds the grill station's kitchen stream as the demo kitchen
// device (with ?access_token=, as the browser display does), recording one
// received per line of every ticket.created until ctx ends.
func listenSSE(ctx context.Context, base string) (*listener, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/kitchen/stream?station="+sseStation+"&access_token="+kitchenToken, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{}).Do(req) // no timeout: the stream lives as long as ctx
	if err != nil {
		return nil, fmt.Errorf("open the kitchen stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("open the kitchen stream: HTTP %d: %s", resp.StatusCode, b)
	}
	l := &listener{done: make(chan struct{})}
	go func() {
		defer close(l.done)
		defer resp.Body.Close()
		err := benchkit.ReadSSE(resp.Body, func(typ, data string, at time.Time) {
			var m struct {
				Ticket struct {
					CreatedAt time.Time `json:"created_at"`
					Lines     []struct {
						LineID uuid.UUID `json:"line_id"`
					} `json:"lines"`
				} `json:"ticket"`
			}
			if typ != "ticket.created" || json.Unmarshal([]byte(data), &m) != nil {
				return
			}
			for _, ln := range m.Ticket.Lines {
				l.add(received{key: ln.LineID.String(), stamped: m.Ticket.CreatedAt, got: at})
			}
		})
		if err != nil && ctx.Err() == nil {
			l.fail(err)
		}
	}()
	return l, nil
}

// natsListener holds a core subscription on every order event of the demo
// venue: it gets each message as JetStream receives it from the relay.
type natsListener struct {
	listener
	nc   *nats.Conn
	once sync.Once
}

func listenNATS(url string) (*natsListener, error) {
	l := &natsListener{listener: listener{done: make(chan struct{})}}
	nc, err := nats.Connect(url, nats.Name("posbench"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { l.fail(err) }))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	l.nc = nc
	sub, err := nc.Subscribe("pos.demo.order.>", func(m *nats.Msg) {
		at := time.Now()
		var ev struct {
			OrderID string    `json:"order_id"`
			Version int64     `json:"version"`
			At      time.Time `json:"at"`
		}
		if json.Unmarshal(m.Data, &ev) == nil {
			l.add(received{key: fmt.Sprintf("%s/%d", ev.OrderID, ev.Version), stamped: ev.At, got: at})
		}
	})
	if err == nil {
		err = sub.SetPendingLimits(-1, -1) // a slow consumer would drop messages
	}
	if err == nil {
		err = nc.Flush()
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("subscribe to pos.demo.order.>: %w", err)
	}
	return l, nil
}

// close ends the subscription (once) and returns what it received.
func (l *natsListener) close() ([]received, error) {
	l.once.Do(func() {
		l.nc.Close()
		close(l.done)
	})
	return l.wait()
}
