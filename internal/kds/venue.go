package kds

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posd/posd/internal/natscontract"
	"github.com/posd/posd/internal/order"
)

// The venue stream (GET /v1/stream): every order change and menu change of
// one venue, for the waiters' handhelds. It reads the subjects the relay
// already publishes (pos.<venue>.order.> and pos.<venue>.menu): nothing is
// added to the write path.

// Event types of the venue stream besides the order events' own
// (order.opened, order.patched) and menu.changed.
const (
	// VenueReady is the first event of a stream opened without a cursor:
	// its id is the cursor from which the stream goes live.
	VenueReady = "ready"
	// VenueReset replaces a replay the stream will not give: the client
	// reloads the floor, then continues from its id.
	VenueReset = "reset"
)

// DefaultMaxReplay is how many messages of its venue a stream replays after
// a cursor at most; more is a reset.
const DefaultMaxReplay = 1000

// Bounds of the venue stream's shared caches.
const (
	// maxCachedOrders is how many orders the gateway follows (their state
	// at the last event it rendered); maxCachedLines the most lines an
	// order it follows has (a larger one is read on each of its events), so
	// the cache's memory stays bounded.
	maxCachedOrders = 2048
	maxCachedLines  = 60
	// maxCachedChanges is how many rendered order events it keeps, by
	// stream sequence, for the streams that resume behind the others.
	maxCachedChanges = 4096
)

// OrderAt reads an order as it was at a version (store.Store.At).
type OrderAt func(ctx context.Context, venue string, id uuid.UUID, version int64) (order.Order, error)

// Change is the data of an order.opened or order.patched event on the
// venue stream. Table is the table the order is at after the event.
type Change struct {
	OrderID uuid.UUID   `json:"order_id"`
	Table   string      `json:"table"`
	Version int64       `json:"version"`
	Type    string      `json:"type"`
	Actor   order.Actor `json:"actor"`
	At      time.Time   `json:"at"`
	Summary string      `json:"summary"`
}

// changes renders order events into Changes. The order event carries no
// table and its ops not every old value a summary names ("qty Fries 2→3"),
// so each is rendered from the order as it was before the event. Rather
// than a column or header on the write path, the gateway follows the
// orders itself: it keeps each order's state after the last event it
// rendered (bounded, shared by all streams), so a live event is rendered
// from memory; only an order it does not follow at that version (opened
// before posd started, evicted, or a stream resuming behind) costs one read
// of the order at the previous version, on the stream's side. The result is
// exact for every event, old or new: an event replayed after a move_table
// still shows the table it was at.
type changes struct {
	at OrderAt
	// orders maps venue/order id to its state after the last event
	// rendered; rendered maps a stream sequence to its Change JSON.
	orders   *lru.Cache[string, order.Order]
	rendered *lru.Cache[uint64, []byte]
}

func newChanges(at OrderAt) *changes {
	orders, _ := lru.New[string, order.Order](maxCachedOrders) // sizes > 0 never fail
	rendered, _ := lru.New[uint64, []byte](maxCachedChanges)
	return &changes{at: at, orders: orders, rendered: rendered}
}

// render is the Change JSON of the order event data, at stream sequence seq.
func (c *changes) render(ctx context.Context, venue string, seq uint64, data []byte) ([]byte, error) {
	if out, ok := c.rendered.Get(seq); ok {
		return out, nil
	}
	var ev order.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return nil, fmt.Errorf("decode order event at %d: %w", seq, err)
	}
	key := venue + "/" + ev.OrderID.String()
	var before *order.Order
	if ev.Version > 1 {
		o, ok := c.orders.Get(key)
		if !ok || o.Version != ev.Version-1 {
			var err error
			if o, err = c.at(ctx, venue, ev.OrderID, ev.Version-1); err != nil {
				return nil, fmt.Errorf("read order %s at version %d: %w", ev.OrderID, ev.Version-1, err)
			}
		}
		before = &o
	}
	var prev order.Order
	if before != nil {
		prev = *before
	}
	after, err := prev.Next(ev)
	if err != nil {
		return nil, err
	}
	out, err := json.Marshal(Change{OrderID: ev.OrderID, Table: after.Table, Version: ev.Version, Type: ev.Type,
		Actor: ev.Actor, At: ev.At, Summary: order.Summary(before, ev.Ops)})
	if err != nil {
		return nil, err
	}
	if cur, ok := c.orders.Peek(key); !ok || cur.Version < after.Version {
		if after.Status == order.StatusClosed || len(after.Lines) > maxCachedLines {
			// A closed order has no further event (a merge aside, which
			// reads it back): no need to follow it. A banquet's order is
			// read back rather than held.
			c.orders.Remove(key)
		} else {
			c.orders.Add(key, after)
		}
	}
	c.rendered.Add(seq, out)
	return out, nil
}

// resetReason is the data of a reset event.
type resetReason struct {
	Reason string `json:"reason"`
}

// OpenVenue prepares a venue's stream. With after == nil it starts with a
// ready event whose cursor is the POS stream's last sequence, then every
// message of the venue after it. With a cursor it carries exactly the
// venue's messages after it, unless that is not possible or too much: a
// cursor ahead of the stream, older than what the stream keeps, or followed
// by more than maxReplay messages of the venue gets a reset event instead,
// with the stream's last sequence as its cursor, then the messages after
// that. Order events are rendered as Change; menu.changed is the message
// the kitchen stream sends.
//
// The caller must Run or Close the subscription.
func (g *Gateway) OpenVenue(ctx context.Context, venue string, after *uint64, maxReplay int) (*Subscription, error) {
	if !g.js.Conn().IsConnected() {
		return nil, ErrUnavailable
	}
	if maxReplay <= 0 {
		maxReplay = DefaultMaxReplay
	}
	stream, err := g.js.Stream(ctx, natscontract.StreamName)
	if err != nil {
		return nil, fmt.Errorf("%w: open stream: %v", ErrUnavailable, err)
	}
	state := stream.CachedInfo().State
	last := state.LastSeq
	subjects := []string{natscontract.OrdersSubject(venue), natscontract.MenuSubject(venue)}
	orderPrefix := strings.TrimSuffix(subjects[0], ">")
	sub := &Subscription{g: g}
	sub.render = func(ctx context.Context, msg jetstream.Msg, seq uint64) (Event, error) {
		ev := Event{Cursor: seq, Type: msg.Headers().Get(natscontract.HeaderType), Data: msg.Data()}
		if !strings.HasPrefix(msg.Subject(), orderPrefix) {
			return ev, nil
		}
		data, err := g.changes.render(ctx, venue, seq, msg.Data())
		if err != nil {
			return Event{}, err
		}
		ev.Data = data
		return ev, nil
	}
	reset := func(reason string) []Event {
		data, _ := json.Marshal(resetReason{Reason: reason})
		return []Event{{Cursor: last, Type: VenueReset, Data: data}}
	}
	start := last + 1
	switch {
	case after == nil:
		sub.lead = []Event{{Cursor: last, Type: VenueReady, Data: fmt.Appendf(nil, `{"cursor":%d}`, last)}}
	case *after > last:
		sub.lead = reset(fmt.Sprintf("cursor %d is after the stream's last message %d", *after, last))
	case *after+1 < state.FirstSeq:
		sub.lead = reset(fmt.Sprintf("cursor %d is older than the stream keeps (its first message is %d)", *after, state.FirstSeq))
	default:
		start = *after + 1
	}
	if err := sub.consume(ctx, stream, start, subjects...); err != nil {
		return nil, err
	}
	if sub.lead != nil {
		return sub, nil
	}
	// The consumer counts the venue's messages from start as it is
	// created: more than maxReplay and the client reloads instead.
	if info := sub.cons.CachedInfo(); info != nil && info.NumPending > uint64(maxReplay) {
		sub.Close()
		sub = &Subscription{g: g, render: sub.render}
		sub.lead = reset(fmt.Sprintf("%d messages of the venue after cursor %d, more than the %d a stream replays", info.NumPending, *after, maxReplay))
		if err := sub.consume(ctx, stream, last+1, subjects...); err != nil {
			return nil, err
		}
	}
	return sub, nil
}
