package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

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
	SSE         benchkit.Deliveries
	SSEFromAck  benchkit.Summary
	SSEError    string
	NATS        benchkit.Deliveries // the order event of each 200 in the window
	NATSFromAck benchkit.Summary
	NATSError   string
	// VerifyProblems are kitchen orders not as their client was told.
	VerifyProblems []string
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
	sse, err := listenTickets(ctx, a.base, sseStation, kitchenToken)
	if err != nil {
		return res, err
	}
	defer sse.Close()
	nl, err := listenNATS(b.st.natsURL())
	if err != nil {
		return res, err
	}
	defer nl.Close()

	w := benchkit.NewWindow(cfg.Warmup, cfg.Duration)
	delivery, pg := b.watch(ctx, w)
	all, mix := benchkit.NewOutcomes(), kitchenMix{}
	var mu sync.Mutex
	var acks, grill []benchkit.Message
	benchkit.RunClients(n, func(i int) {
		c := newKitchenClient(kitchenSKUs)
		for j := 0; !w.Over(ctx); j++ {
			if j%cfg.SendEvery == cfg.SendEvery-1 {
				c.writeKitchen(a, kitchens[i], cfg.Lines, w)
			} else {
				c.writeOwn(a, orders[i], cfg.Lines, w)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		all.Merge(c.out)
		acks, grill = append(acks, c.acks...), append(grill, c.lines[sseStation]...)
		mix = kitchenMix{mix.Add + c.mix.Add, mix.Remove + c.mix.Remove, mix.Send + c.mix.Send, mix.Settle + c.mix.Settle, mix.Open + c.mix.Open}
	})
	res.loadStats = newLoadStats(n, cfg.Duration, all, b.smp.Window(w.Start, w.End))
	res.Mix, res.Delivery, res.PG = mix, delivery(), pg()
	if benchkit.Sleep(ctx, deliveryGrace) != nil {
		return res, ctx.Err()
	}
	tickets, sseErr := sse.Close()
	events, natsErr := nl.Close()
	if sseErr != nil {
		res.SSEError = sseErr.Error()
	}
	if natsErr != nil {
		res.NATSError = natsErr.Error()
	}
	res.SSE, res.SSEFromAck = benchkit.Match(grill, tickets)
	res.NATS, res.NATSFromAck = benchkit.Match(acks, events)
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

// kitchenClient is what one client of the kitchen scenario records.
type kitchenClient struct {
	skus  []string // sent in turn
	out   *benchkit.Outcomes
	acks  []benchkit.Message            // every 200 inside the window, by order/version
	lines map[string][]benchkit.Message // every line sent inside the window, by station, by line id
	mix   kitchenMix
}

func newKitchenClient(skus []string) *kitchenClient {
	return &kitchenClient{skus: skus, out: benchkit.NewOutcomes(), lines: map[string][]benchkit.Message{}}
}

func ackOf(id string, version int64, at time.Time) benchkit.Message {
	return benchkit.Message{Key: fmt.Sprintf("%s/%d", id, version), Got: at}
}

func (c *kitchenClient) writeOwn(a *api, o *ownedOrder, target int, w benchkit.Window) {
	remove := len(o.lines) >= target
	if ok, at := writeOwned(a, o, target, w, c.out); ok && w.Has(at) {
		c.acks = append(c.acks, ackOf(o.id, o.version, at))
		c.mix.Remove += b2i(remove)
		c.mix.Add += b2i(!remove)
	}
}

// writeKitchen sends k's next PATCH: add and send one item, or, when k is
// full, settle it and open the next.
func (c *kitchenClient) writeKitchen(a *api, k *kitchenOrder, target int, w benchkit.Window) {
	if k.id == "" {
		if err := k.open(context.Background(), a); err != nil {
			c.out.Lost(w.Has(time.Now()), err)
			time.Sleep(10 * time.Millisecond)
		}
		return
	}
	settle, line, sku := k.lines >= target, newLineID(), c.skus[k.n%len(c.skus)]
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
		c.out.Accepted(in, r.elapsed)
		if in {
			c.acks = append(c.acks, ackOf(k.id, k.version, now))
		}
		if !settle {
			k.lines++
			k.due += menuItem(sku).PriceCents
			c.mix.Send += b2i(in)
			if st := menuItem(sku).Station; in {
				c.lines[st] = append(c.lines[st], benchkit.Message{Key: line.String(), Got: now})
			}
			return
		}
		c.mix.Settle += b2i(in)
		if err := k.open(context.Background(), a); err != nil {
			c.out.Lost(in, err)
		} else {
			c.mix.Open += b2i(w.Has(time.Now()))
		}
		return
	case err != nil:
		c.out.Lost(in, err)
	default:
		c.out.Bad(in, r.status, r.body)
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

// listenTickets holds a station's kitchen stream as the kitchen device with
// token (with ?access_token=, as the browser display does): one message per
// line of every ticket.created. query is added to the URL ("&after=N").
func listenTickets(ctx context.Context, base, station, token string, query ...string) (*benchkit.Listener, error) {
	return benchkit.ListenSSE(ctx, base+"/v1/kitchen/stream?station="+station+"&access_token="+token+strings.Join(query, ""), ticketLines)
}

// ticketLines is a message per line of a ticket.created event.
func ticketLines(typ, data string, at time.Time) (ms []benchkit.Message) {
	var m struct {
		Ticket struct {
			CreatedAt time.Time `json:"created_at"`
			Lines     []struct {
				LineID uuid.UUID `json:"line_id"`
			} `json:"lines"`
		} `json:"ticket"`
	}
	if typ == "ticket.created" && json.Unmarshal([]byte(data), &m) == nil {
		for _, ln := range m.Ticket.Lines {
			ms = append(ms, benchkit.Message{Key: ln.LineID.String(), Stamped: m.Ticket.CreatedAt, Got: at})
		}
	}
	return ms
}

// listenNATS subscribes to every order event of the demo venue (a core
// subscription: each message as JetStream receives it from the relay).
func listenNATS(url string) (*benchkit.Listener, error) {
	return benchkit.ListenNATS(url, "pos.demo.order.>", orderEvent)
}

// orderEvent is an order event (on NATS, or on the venue stream) under its
// order/version, stamped with its at.
func orderEvent(data []byte, at time.Time) (benchkit.Message, bool) {
	var ev struct {
		OrderID string    `json:"order_id"`
		Version int64     `json:"version"`
		At      time.Time `json:"at"`
	}
	err := json.Unmarshal(data, &ev)
	m := ackOf(ev.OrderID, ev.Version, at)
	m.Stamped = ev.At
	return m, err == nil && ev.OrderID != ""
}
