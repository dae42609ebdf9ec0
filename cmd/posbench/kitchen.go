package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// The kitchen scenario runs the low-contention loop at DeliveryClients
// clients with kitchen tickets mixed in, while posbench listens where the
// kitchen and other services listen: on the grill station's SSE stream (as a
// kitchen display does) and on NATS (as a service subscribed to order events
// does). Every SendEvery-th PATCH of a client goes to a second order of its
// own, its "kitchen order", as
//
//	[{"op":"add_item","sku":…,"line_id":…},{"op":"send"}]
//
// which creates one fire ticket for the item's station (kitchenSKUs cycle:
// steak and burger go to the grill, fries to the fry station, beer to the
// bar). Sent lines cannot be removed, so a kitchen order is settled once it
// holds Lines lines: one PATCH [add_payment of what it owes, close], then a
// new order is opened on the same table. Every other PATCH is the usual
// add_item / remove_item on the client's own order.

// kitchenSKUs are the items kitchen PATCHes add and send, in turn.
var kitchenSKUs = []string{"steak", "fries", "burger", "beer"}

// sseStation is the station whose stream posbench holds.
const sseStation = "grill"

// kitchenToken is posd dev's demo kitchen device.
const kitchenToken = "demo-kitchen"

// deliveryGrace is how long receivers keep listening after the window, so
// that messages of writes acknowledged near its end are not counted missing.
const deliveryGrace = 3 * time.Second

// kitchenTable is the dining table of client i's kitchen orders.
func kitchenTable(i int) string { return fmt.Sprintf("K%d", i+1) }

// kitchenOrder is a client's current kitchen order.
type kitchenOrder struct {
	id      string // empty: none open (the last open failed)
	table   string
	token   string
	version int64
	lines   int   // lines on it, all sent
	due     int64 // what it owes, cents
	n       int   // sends so far, to cycle kitchenSKUs
}

// ack is a PATCH answered 200: the version it wrote and when the answer
// arrived (the client's best knowledge of the commit time).
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

// kitchenClient is what one client of the kitchen scenario records.
type kitchenClient struct {
	out  *outcomes
	acks []ack      // every 200 (own and kitchen orders) inside the window
	sent []sentLine // every kitchen line acknowledged inside the window
	mix  kitchenMix
}

// kitchenMix counts the requests of the kitchen scenario inside the window,
// by kind.
type kitchenMix struct {
	Add, Remove, Send, Settle, Open int
}

func (m *kitchenMix) add(o kitchenMix) {
	m.Add += o.Add
	m.Remove += o.Remove
	m.Send += o.Send
	m.Settle += o.Settle
	m.Open += o.Open
}

// kitchenResult is the kitchen scenario's measurement.
type kitchenResult struct {
	Clients, SendEvery int
	Duration           time.Duration
	OK                 int
	Throughput         float64
	Latency            latencySummary
	Errors             int
	Statuses           map[int]int
	Transport          int
	FirstBad           string
	Mix                kitchenMix
	CPU                cpuUse
	Delivery           *histogram
	PG                 *pgCounters

	// SSE: ticket.created on the grill stream for the grill lines sent
	// inside the window. SSEFromCreated runs from the ticket's created_at
	// (set by posd before the commit: an upper bound of commit→SSE);
	// SSEFromAck from the arrival of the 200 of the PATCH that sent it (after
	// the commit: a lower estimate, negative when the screen got the ticket
	// before the waiter got the answer).
	SSEExpected, SSEReceived, SSEMissing, SSEDuplicate int
	SSEFromCreated, SSEFromAck                         latencySummary
	SSEError                                           string

	// NATS: order events on pos.demo.order.> (core subscription) for the
	// PATCHes acknowledged inside the window. NATSFromAt runs from the
	// event's "at" (set before the commit: an upper bound of commit→NATS),
	// NATSFromAck from the 200's arrival (a lower estimate).
	NATSExpected, NATSReceived, NATSMissing, NATSDuplicate int
	NATSFromAt, NATSFromAck                                latencySummary
	NATSError                                              string

	// VerifyProblems are kitchen orders whose version differs from what
	// their client was told.
	VerifyProblems []string
}

// sseTicket is a ticket.created message received on the SSE stream.
type sseTicket struct {
	created time.Time
	lines   []uuid.UUID
	at      time.Time // received
}

// natsEvent is an order event received from NATS.
type natsEvent struct {
	order   string
	version int64
	created time.Time // the event's "at"
	at      time.Time // received
}

// runKitchen runs the kitchen scenario with the first n low-contention
// orders and n kitchen orders, listening on the grill SSE stream and on NATS
// from before the warm-up to deliveryGrace after the window.
func runKitchen(ctx context.Context, a *api, superURL, natsURL string, orders []*ownedOrder, target, sendEvery int, warmup, d time.Duration, smp *sampler, progress func(string, ...any)) (kitchenResult, error) {
	n := len(orders)
	res := kitchenResult{Clients: n, SendEvery: sendEvery, Duration: d}
	kitchens := make([]*kitchenOrder, n)
	for i := range kitchens {
		k := &kitchenOrder{table: kitchenTable(i), token: waiterTokens[i%len(waiterTokens)]}
		if err := k.open(ctx, a); err != nil {
			return res, err
		}
		kitchens[i] = k
	}

	lctx, stopListening := context.WithCancel(ctx)
	defer stopListening()
	sse, err := listenSSE(lctx, a.base, sseStation)
	if err != nil {
		return res, err
	}
	nl, err := listenNATS(natsURL)
	if err != nil {
		return res, err
	}
	defer nl.close()

	w := newWindow(warmup, d)
	delivery, pg := watchDelivery(ctx, a, w), watchPostgres(ctx, superURL, w)
	per := make([]*kitchenClient, n)
	runClients(n, func(i int) {
		c := &kitchenClient{out: newOutcomes()}
		per[i] = c
		o, k := orders[i], kitchens[i]
		for j := 0; !w.over(ctx); j++ {
			if j%sendEvery == sendEvery-1 {
				c.writeKitchen(a, k, target, w)
			} else {
				c.writeOwn(a, o, target, w)
			}
		}
	})
	res.CPU = smp.window(w.start, w.end)
	res.Delivery, res.PG = delivery(), pg()
	if sleepCtx(ctx, deliveryGrace) != nil {
		return res, ctx.Err()
	}
	stopListening()
	tickets, sseErr := sse.wait()
	events := nl.close()
	if sseErr != nil {
		res.SSEError = sseErr.Error()
	}
	if nl.err != nil {
		res.NATSError = nl.err.Error()
	}

	all := newOutcomes()
	var acks []ack
	var sent []sentLine
	for _, c := range per {
		all.merge(c.out)
		acks = append(acks, c.acks...)
		sent = append(sent, c.sent...)
		res.Mix.add(c.mix)
	}
	res.OK, res.Throughput = all.ok, float64(all.ok)/d.Seconds()
	res.Latency, res.Errors, res.Statuses = summarize(all.latencies), all.errors(), all.statuses
	res.Transport, res.FirstBad = all.transport, all.firstBad
	matchTickets(&res, sent, tickets)
	matchEvents(&res, acks, events)

	for _, k := range kitchens {
		if k.id == "" {
			continue
		}
		v, err := a.getOrder(ctx, k.token, k.id)
		switch {
		case err != nil:
			res.VerifyProblems = append(res.VerifyProblems, err.Error())
		case v.Version != k.version || len(v.Lines) != k.lines:
			res.VerifyProblems = append(res.VerifyProblems, fmt.Sprintf("kitchen order %s on %s: version %d with %d lines, client has %d with %d",
				k.id, k.table, v.Version, len(v.Lines), k.version, k.lines))
		}
	}
	progress("  %.0f PATCH/s; commit→SSE p99 %s ms (from created_at), %d/%d tickets; commit→NATS p99 %s ms (from at), %d/%d events",
		res.Throughput, ms(res.SSEFromCreated.P99), res.SSEReceived, res.SSEExpected, ms(res.NATSFromAt.P99), res.NATSReceived, res.NATSExpected)
	return res, nil
}

// matchTickets pairs each grill line sent inside the window with the
// ticket.created that carried it.
func matchTickets(res *kitchenResult, sent []sentLine, tickets []sseTicket) {
	byLine := map[uuid.UUID][]sseTicket{}
	for _, t := range tickets {
		for _, l := range t.lines {
			byLine[l] = append(byLine[l], t)
		}
	}
	var fromCreated, fromAck []time.Duration
	for _, s := range sent {
		if s.station != sseStation {
			continue
		}
		res.SSEExpected++
		got := byLine[s.line]
		switch {
		case len(got) == 0:
			res.SSEMissing++
			continue
		case len(got) > 1:
			res.SSEDuplicate++
		}
		res.SSEReceived++
		fromCreated = append(fromCreated, got[0].at.Sub(got[0].created))
		fromAck = append(fromAck, got[0].at.Sub(s.at))
	}
	res.SSEFromCreated, res.SSEFromAck = summarize(fromCreated), summarize(fromAck)
}

// matchEvents pairs each PATCH acknowledged inside the window with the order
// event NATS delivered for its version.
func matchEvents(res *kitchenResult, acks []ack, events []natsEvent) {
	type key struct {
		order   string
		version int64
	}
	byKey := map[key][]natsEvent{}
	for _, e := range events {
		k := key{e.order, e.version}
		byKey[k] = append(byKey[k], e)
	}
	var fromAt, fromAck []time.Duration
	for _, a := range acks {
		res.NATSExpected++
		got := byKey[key{a.order, a.version}]
		switch {
		case len(got) == 0:
			res.NATSMissing++
			continue
		case len(got) > 1:
			res.NATSDuplicate++
		}
		res.NATSReceived++
		fromAt = append(fromAt, got[0].at.Sub(got[0].created))
		fromAck = append(fromAck, got[0].at.Sub(a.at))
	}
	res.NATSFromAt, res.NATSFromAck = summarize(fromAt), summarize(fromAck)
}

// writeOwn is writeOwned that also records the acknowledgement.
func (c *kitchenClient) writeOwn(a *api, o *ownedOrder, target int, w window) {
	remove := len(o.lines) >= target
	if ok, at := writeOwned(a, o, target, w, c.out); ok && w.has(at) {
		c.acks = append(c.acks, ack{o.id, o.version, at})
		if remove {
			c.mix.Remove++
		} else {
			c.mix.Add++
		}
	}
}

// writeKitchen sends the next kitchen PATCH of k: add and send one item, or,
// when k is full, settle it and open the next.
func (c *kitchenClient) writeKitchen(a *api, k *kitchenOrder, target int, w window) {
	if k.id == "" {
		if err := k.open(context.Background(), a); err != nil {
			if w.has(time.Now()) {
				c.out.transport++
			}
			if c.out.firstBad == "" {
				c.out.firstBad = err.Error()
			}
			time.Sleep(10 * time.Millisecond)
		}
		return
	}
	settle := k.lines >= target
	var ops []byte
	var line uuid.UUID
	var sku string
	if settle {
		ops = fmt.Appendf(nil, `[{"op":"add_payment","tender":"card","amount_cents":%d},{"op":"close"}]`, k.due)
	} else {
		line, sku = newLineID(), kitchenSKUs[k.n%len(kitchenSKUs)]
		k.n++
		ops = fmt.Appendf(nil, `[{"op":"add_item","sku":%q,"line_id":"%s"},{"op":"send"}]`, sku, line)
	}
	r, err := a.patch(context.Background(), k.token, k.id, k.version, ops)
	now := time.Now()
	in := w.has(now)
	if err == nil && r.status == http.StatusOK {
		k.version = r.version
		if in {
			c.out.ok++
			c.out.latencies = append(c.out.latencies, r.elapsed)
			c.acks = append(c.acks, ack{k.id, k.version, now})
		}
		if !settle {
			k.lines++
			k.due += menuPrice(sku)
			if in {
				c.mix.Send++
				c.sent = append(c.sent, sentLine{line: line, station: stationOf(sku), at: now})
			}
			return
		}
		if in {
			c.mix.Settle++
		}
		if err := k.open(context.Background(), a); err != nil {
			if in {
				c.out.transport++
			}
			if c.out.firstBad == "" {
				c.out.firstBad = err.Error()
			}
		} else if w.has(time.Now()) {
			c.mix.Open++
		}
		return
	}
	switch {
	case err != nil:
		if in {
			c.out.transport++
		}
		if c.out.firstBad == "" {
			c.out.firstBad = err.Error()
		}
	case in:
		c.out.bad(r.status, r.body)
	}
	k.resync(a)
}

// stationOf is the station of a demo SKU.
func stationOf(sku string) string {
	for _, m := range demoMenu {
		if m.SKU == sku {
			return m.Station
		}
	}
	return ""
}

// open opens a new kitchen order on k's table.
func (k *kitchenOrder) open(ctx context.Context, a *api) error {
	k.id = ""
	v, err := a.openOrder(ctx, k.token, k.table)
	if err != nil {
		return err
	}
	k.id, k.version, k.lines, k.due = v.ID, v.Version, 0, 0
	return nil
}

// resync reads k back after an unexpected answer.
func (k *kitchenOrder) resync(a *api) {
	v, err := a.getOrder(context.Background(), k.token, k.id)
	if err != nil {
		time.Sleep(10 * time.Millisecond)
		return
	}
	if v.Status == "closed" {
		_ = k.open(context.Background(), a)
		return
	}
	k.version, k.lines, k.due = v.Version, len(v.Lines), v.Totals.DueCents
}

// sseListener holds one station's kitchen stream.
type sseListener struct {
	mu      sync.Mutex
	tickets []sseTicket
	done    chan error
}

// listenSSE opens base's kitchen stream of station as the demo kitchen
// device (with ?access_token=, as the browser display does) and records every
// ticket.created until ctx ends. It returns once the stream is open.
func listenSSE(ctx context.Context, base, station string) (*sseListener, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/v1/kitchen/stream?station="+station+"&access_token="+kitchenToken, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	// Its own client: no timeout, the stream lives as long as ctx.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("open the kitchen stream: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("open the kitchen stream: HTTP %d: %s", resp.StatusCode, b)
	}
	l := &sseListener{done: make(chan error, 1)}
	go func() {
		defer resp.Body.Close()
		err := readSSE(resp.Body, func(typ, data string, at time.Time) {
			if typ != "ticket.created" {
				return
			}
			var m struct {
				Ticket struct {
					CreatedAt time.Time `json:"created_at"`
					Lines     []struct {
						LineID uuid.UUID `json:"line_id"`
					} `json:"lines"`
				} `json:"ticket"`
			}
			if json.Unmarshal([]byte(data), &m) != nil {
				return
			}
			t := sseTicket{created: m.Ticket.CreatedAt, at: at}
			for _, ln := range m.Ticket.Lines {
				t.lines = append(t.lines, ln.LineID)
			}
			l.mu.Lock()
			l.tickets = append(l.tickets, t)
			l.mu.Unlock()
		})
		if ctx.Err() != nil {
			err = nil // we ended it
		}
		l.done <- err
	}()
	return l, nil
}

// wait returns the tickets received once the stream has ended (cancel its
// context first), and why it ended if not by cancellation.
func (l *sseListener) wait() ([]sseTicket, error) {
	err := <-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tickets, err
}

// readSSE reads a text/event-stream and calls fn for every event with its
// type ("message" when none is given), its data (data lines joined by "\n")
// and the time its terminating blank line was read. Comments (heartbeats)
// and retry/id fields are skipped.
func readSSE(r io.Reader, fn func(typ, data string, at time.Time)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	var typ string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 {
				if typ == "" {
					typ = "message"
				}
				fn(typ, strings.Join(data, "\n"), time.Now())
			}
			typ, data = "", nil
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			typ = value
		case "data":
			data = append(data, value)
		}
	}
	return sc.Err()
}

// natsListener records the order events published on pos.demo.order.>.
type natsListener struct {
	nc     *nats.Conn
	sub    *nats.Subscription
	mu     sync.Mutex
	events []natsEvent
	err    error
	closed bool
}

// listenNATS subscribes to every order event of the demo venue (a core
// subscription: it gets each message as JetStream receives it from the relay).
func listenNATS(url string) (*natsListener, error) {
	l := &natsListener{}
	nc, err := nats.Connect(url, nats.Name("posbench"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		l.mu.Lock()
		if l.err == nil {
			l.err = err
		}
		l.mu.Unlock()
	}))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	l.nc = nc
	l.sub, err = nc.Subscribe("pos.demo.order.>", func(m *nats.Msg) {
		at := time.Now()
		var ev struct {
			OrderID string    `json:"order_id"`
			Version int64     `json:"version"`
			At      time.Time `json:"at"`
		}
		if json.Unmarshal(m.Data, &ev) != nil {
			return
		}
		l.mu.Lock()
		l.events = append(l.events, natsEvent{order: ev.OrderID, version: ev.Version, created: ev.At, at: at})
		l.mu.Unlock()
	})
	if err == nil {
		// Generous limits: a slow consumer would drop messages.
		err = l.sub.SetPendingLimits(-1, -1)
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

// close ends the subscription (once) and returns the events received.
func (l *natsListener) close() []natsEvent {
	l.mu.Lock()
	closed := l.closed
	l.closed = true
	l.mu.Unlock()
	if !closed {
		_ = l.sub.Unsubscribe()
		l.nc.Close()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events
}
