// Package kds is the kitchen display gateway: it turns a station's kitchen
// messages in JetStream, and its venue's menu changes (menu.changed: an 86,
// a count of portions, a price), into a resumable stream for one screen,
// and serves the browser kitchen display. The stream's cursor is the JetStream stream
// sequence of a message, so a screen that reconnects with its last cursor
// receives every later message of its station exactly once, in order.
//
// Each open stream holds one ordered JetStream consumer, which ends with the
// stream: it is deleted when the stream closes, and the server removes it
// after Options.ConsumerInactive if posd could not (a crash, NATS away). The
// snapshot a screen without a cursor starts from is read once per station and
// shared by the screens that open at the same time (see Options).
package kds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/natscontract"
)

// Defaults of Options.
const (
	// DefaultHeartbeat is the longest a stream stays silent.
	DefaultHeartbeat = 15 * time.Second
	// DefaultConsumerInactive is how long JetStream keeps a stream's consumer
	// after nobody pulls from it (posd deletes it itself when the stream
	// ends; this covers a posd that could not).
	DefaultConsumerInactive = 30 * time.Second
	// DefaultSnapshotReuse is how long a station's snapshot is given to
	// further screens while the station has no newer message.
	DefaultSnapshotReuse = 2 * time.Second
)

// Event is one item for a screen: a kitchen message with its cursor, or a
// heartbeat (Type empty) that keeps idle connections open. Data may be
// shared between screens and must not be modified.
type Event struct {
	Cursor uint64
	Type   string
	Data   []byte
	// NoID marks a message sent without a cursor (a kitchen snapshot item
	// but the last): a client cut off after it must not resume from it.
	NoID bool
}

// Tickets lists a station's open tickets, oldest first (the snapshot a new
// screen starts from). It may return more than kitchen.MaxSnapshotTickets;
// the gateway sends the oldest kitchen.MaxSnapshotTickets.
type Tickets func(ctx context.Context, venue, station string) ([]kitchen.Ticket, error)

// Options tune a Gateway; zero values take the defaults above.
type Options struct {
	Heartbeat        time.Duration
	ConsumerInactive time.Duration
	SnapshotReuse    time.Duration
	// OrderAt reads an order at a version, for the venue stream's
	// summaries and tables (see changes); required by OpenVenue.
	OrderAt OrderAt
}

// Gateway reads kitchen messages from the POS stream.
type Gateway struct {
	js      jetstream.JetStream
	tickets Tickets
	opt     Options

	mu      sync.Mutex
	snaps   map[snapKey]*snapshot
	changes *changes
}

// NewGateway returns a gateway over js. heartbeat is the longest a stream
// stays silent (DefaultHeartbeat when zero).
func NewGateway(js jetstream.JetStream, tickets Tickets, heartbeat time.Duration) *Gateway {
	return NewGatewayWith(js, tickets, Options{Heartbeat: heartbeat})
}

// NewGatewayWith returns a gateway over js with the given options.
func NewGatewayWith(js jetstream.JetStream, tickets Tickets, o Options) *Gateway {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.ConsumerInactive <= 0 {
		o.ConsumerInactive = DefaultConsumerInactive
	}
	if o.SnapshotReuse <= 0 {
		o.SnapshotReuse = DefaultSnapshotReuse
	}
	return &Gateway{js: js, tickets: tickets, opt: o, snaps: map[snapKey]*snapshot{}, changes: newChanges(o.OrderAt)}
}

// ErrUnavailable means the gateway cannot reach NATS right now; the screen
// should retry with its cursor.
var ErrUnavailable = errors.New("kitchen stream unavailable: NATS is not reachable")

// CursorAheadError is a cursor after the last message of the POS stream: it
// was forged, or the JetStream store lost messages. Nothing would ever come
// after it, so it is refused; the screen should drop it and start again
// without a cursor (a fresh snapshot).
type CursorAheadError struct {
	Cursor, Last uint64
}

func (e *CursorAheadError) Error() string {
	return fmt.Sprintf("cursor %d is after the stream's last message %d; reconnect without a cursor for a fresh snapshot", e.Cursor, e.Last)
}

// Subscription is one screen's opened stream: the snapshot to send first (if
// it asked without a cursor) and the live messages after it. It holds a
// JetStream consumer until Close (which Run calls when it returns).
type Subscription struct {
	g        *Gateway
	snapshot *snapshot
	// lead is sent first (the venue stream's ready or reset).
	lead []Event
	// render turns a message into the event sent (nil: as it is).
	render func(ctx context.Context, msg jetstream.Msg, seq uint64) (Event, error)
	cons   jetstream.Consumer
	it     jetstream.MessagesContext
	once   sync.Once
}

// Open prepares a station's stream before anything is sent to the screen, so
// a NATS outage is an error the caller can answer (503) rather than a stream
// that looks live and is not. With after == nil the subscription starts with
// the station's open tickets as ticket.created (the oldest
// kitchen.MaxSnapshotTickets), then every message after the station's latest
// message at that moment; only the last snapshot item carries that cursor, so
// a screen cut off halfway through the snapshot reconnects without a cursor
// and gets the whole snapshot again. With a cursor it carries exactly the
// messages after it; a cursor after the stream's last message is a
// *CursorAheadError. A ticket can be both in the snapshot and published just
// after it; screens treat ticket.created as an upsert by ticket id.
//
// The caller must Run or Close the subscription.
func (g *Gateway) Open(ctx context.Context, venue, station string, after *uint64) (*Subscription, error) {
	if !g.js.Conn().IsConnected() {
		return nil, ErrUnavailable
	}
	subject := natscontract.KitchenSubject(venue, station)
	stream, err := g.js.Stream(ctx, natscontract.StreamName)
	if err != nil {
		return nil, fmt.Errorf("%w: open stream: %v", ErrUnavailable, err)
	}
	sub := &Subscription{g: g}
	var start uint64
	if after != nil {
		if last := stream.CachedInfo().State.LastSeq; *after > last {
			return nil, &CursorAheadError{Cursor: *after, Last: last}
		}
		start = *after + 1
	} else {
		last, err := lastSeq(ctx, stream, subject)
		if err != nil {
			return nil, err
		}
		if sub.snapshot, err = g.sharedSnapshot(ctx, venue, station, last); err != nil {
			return nil, err
		}
		start = last + 1
	}
	// The venue's menu changes ride along: a screen shows what is 86'd
	// and how many portions are left, and refetches the menu on each.
	if err := sub.consume(ctx, stream, start, subject, natscontract.MenuSubject(venue)); err != nil {
		return nil, err
	}
	return sub, nil
}

// consume starts the subscription's ordered consumer of subjects at the
// stream sequence start.
func (s *Subscription) consume(ctx context.Context, stream jetstream.Stream, start uint64, subjects ...string) error {
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects:    subjects,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       max(start, 1),
		InactiveThreshold: s.g.opt.ConsumerInactive,
	})
	if err != nil {
		return fmt.Errorf("%w: consume %s: %v", ErrUnavailable, subjects[0], err)
	}
	s.cons = cons
	if s.it, err = cons.Messages(); err != nil {
		s.Close()
		return fmt.Errorf("%w: consume %s: %v", ErrUnavailable, subjects[0], err)
	}
	return nil
}

// Close stops the subscription and deletes its JetStream consumer. It is
// safe to call more than once and from any goroutine.
func (s *Subscription) Close() {
	s.once.Do(func() {
		if s.it != nil {
			s.it.Stop()
		}
		if s.cons == nil {
			return
		}
		info := s.cons.CachedInfo()
		if info == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// Best effort: if NATS is away, the server removes it after
		// ConsumerInactive.
		_ = s.g.js.DeleteConsumer(ctx, natscontract.StreamName, info.Name)
	})
}

// Run sends the snapshot, then live messages and heartbeats, until ctx ends,
// send fails, or NATS goes away (the screen then reconnects with its cursor
// and shows that it is reconnecting meanwhile). An Event with NoID and a
// type carries no cursor. It closes the subscription before it returns, and
// returns at once when ctx ends.
func (s *Subscription) Run(ctx context.Context, send func(Event) error) error {
	defer s.Close()
	stop := context.AfterFunc(ctx, s.it.Stop)
	defer stop()
	for _, ev := range s.lead {
		if err := send(ev); err != nil {
			return err
		}
	}
	if s.snapshot != nil {
		for i, data := range s.snapshot.items {
			ev := Event{Type: kitchen.MsgCreated, Data: data, NoID: true}
			if i == len(s.snapshot.items)-1 {
				ev.Cursor, ev.NoID = s.snapshot.last, s.snapshot.last == 0
			}
			if err := send(ev); err != nil {
				return err
			}
		}
	}
	for ctx.Err() == nil {
		msg, err := s.it.Next(jetstream.NextMaxWait(s.g.opt.Heartbeat))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			if !s.g.js.Conn().IsConnected() {
				return ErrUnavailable
			}
			// Nothing arrived within the heartbeat interval.
			if err := send(Event{}); err != nil {
				return err
			}
			continue
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		ev := Event{Cursor: md.Sequence.Stream, Type: msg.Headers().Get(natscontract.HeaderType), Data: msg.Data()}
		if s.render != nil {
			if ev, err = s.render(ctx, msg, md.Sequence.Stream); err != nil {
				return err
			}
		}
		if err := send(ev); err != nil {
			return err
		}
	}
	return nil
}

// Truncated reports how many open tickets the snapshot left out (those past
// kitchen.MaxSnapshotTickets), 0 when it holds them all or there is none.
func (s *Subscription) Truncated() int {
	if s.snapshot == nil {
		return 0
	}
	return s.snapshot.left
}

type snapKey struct{ venue, station string }

// snapshot is a station's open tickets, encoded once as ticket.created
// message bodies, as of the station's message last. Once ready is closed it
// is immutable and shared by every screen that opens while it is current.
type snapshot struct {
	last  uint64
	items [][]byte
	left  int
	ready chan struct{}
	err   error
}

// sharedSnapshot returns the station's snapshot as of last: the one being
// built or built within SnapshotReuse for the same last message, or a new
// one. Reusing it is exact: every change to a station's tickets is a message
// on its subject, and the messages after last follow the snapshot anyway.
func (g *Gateway) sharedSnapshot(ctx context.Context, venue, station string, last uint64) (*snapshot, error) {
	k := snapKey{venue, station}
	g.mu.Lock()
	s := g.snaps[k]
	if s == nil || s.last != last {
		s = &snapshot{last: last, ready: make(chan struct{})}
		g.snaps[k] = s
		g.mu.Unlock()
		g.build(ctx, venue, station, s)
		g.mu.Lock()
		if s.err != nil && g.snaps[k] == s {
			delete(g.snaps, k)
		}
		if s.err == nil {
			time.AfterFunc(g.opt.SnapshotReuse, func() {
				g.mu.Lock()
				defer g.mu.Unlock()
				if g.snaps[k] == s {
					delete(g.snaps, k)
				}
			})
		}
		g.mu.Unlock()
		return s, s.err
	}
	g.mu.Unlock()
	select {
	case <-s.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.err != nil {
		// The builder's failure (often its own request going away) is not
		// ours: build one for this screen.
		return g.sharedSnapshotAfterFailure(ctx, venue, station, last)
	}
	return s, nil
}

func (g *Gateway) sharedSnapshotAfterFailure(ctx context.Context, venue, station string, last uint64) (*snapshot, error) {
	s := &snapshot{last: last, ready: make(chan struct{})}
	g.build(ctx, venue, station, s)
	return s, s.err
}

// build reads and encodes the snapshot, then marks it ready. It reads
// Postgres without the caller's cancellation so that one screen going away
// does not fail the others waiting for the same snapshot; it is bounded by
// a timeout instead.
func (g *Gateway) build(ctx context.Context, venue, station string, s *snapshot) {
	defer close(s.ready)
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	tickets, err := g.tickets(bctx, venue, station)
	if err != nil {
		s.err = err
		return
	}
	if len(tickets) > kitchen.MaxSnapshotTickets {
		s.left = len(tickets) - kitchen.MaxSnapshotTickets
		tickets = tickets[:kitchen.MaxSnapshotTickets]
	}
	s.items = make([][]byte, 0, len(tickets))
	for _, t := range tickets {
		data, err := json.Marshal(kitchen.Message{Type: kitchen.MsgCreated, Ticket: t})
		if err != nil {
			s.err = fmt.Errorf("encode ticket: %w", err)
			return
		}
		s.items = append(s.items, data)
	}
}

// lastSeq is the stream sequence of the subject's latest message, 0 if none.
func lastSeq(ctx context.Context, s jetstream.Stream, subject string) (uint64, error) {
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last message of %s: %w", subject, err)
	}
	return m.Sequence, nil
}
