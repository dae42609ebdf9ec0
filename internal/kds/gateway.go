// Package kds is the kitchen display gateway: it turns a station's kitchen
// messages in JetStream into a resumable stream for one screen, and serves
// the browser kitchen display. The stream's cursor is the JetStream stream
// sequence of a message, so a screen that reconnects with its last cursor
// receives every later message of its station exactly once, in order.
package kds

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/outbox"
)

// Event is one item for a screen: a kitchen message with its cursor, or a
// heartbeat (Type empty) that keeps idle connections open.
type Event struct {
	Cursor uint64
	Type   string
	Data   []byte
}

// Tickets lists a station's open tickets (the snapshot a new screen starts
// from).
type Tickets func(ctx context.Context, venue, station string) ([]kitchen.Ticket, error)

// Gateway reads kitchen messages from the POS stream.
type Gateway struct {
	js        jetstream.JetStream
	tickets   Tickets
	heartbeat time.Duration
}

// NewGateway returns a gateway over js. heartbeat is the longest a stream
// stays silent.
func NewGateway(js jetstream.JetStream, tickets Tickets, heartbeat time.Duration) *Gateway {
	if heartbeat <= 0 {
		heartbeat = 15 * time.Second
	}
	return &Gateway{js: js, tickets: tickets, heartbeat: heartbeat}
}

// ErrUnavailable means the gateway cannot reach NATS right now; the screen
// should retry with its cursor.
var ErrUnavailable = errors.New("kitchen stream unavailable: NATS is not reachable")

// Subscription is one screen's opened stream: the snapshot to send first (if
// it asked without a cursor) and the live messages after it.
type Subscription struct {
	g        *Gateway
	snapshot []Event
	it       jetstream.MessagesContext
}

// Open prepares a station's stream before anything is sent to the screen, so
// a NATS outage is an error the caller can answer (503) rather than a stream
// that looks live and is not. With after == nil the subscription starts with
// the station's open tickets as ticket.created, then every message after the
// station's latest message at that moment; only the last snapshot item
// carries that cursor, so a screen cut off halfway through the snapshot
// reconnects without a cursor and gets the whole snapshot again. With a
// cursor it carries exactly the messages after it. A ticket can be both in
// the snapshot and published just after it; screens treat ticket.created as
// an upsert by ticket id.
func (g *Gateway) Open(ctx context.Context, venue, station string, after *uint64) (*Subscription, error) {
	if !g.js.Conn().IsConnected() {
		return nil, ErrUnavailable
	}
	subject := kitchen.Subject(venue, station)
	stream, err := g.js.Stream(ctx, outbox.StreamName)
	if err != nil {
		return nil, fmt.Errorf("%w: open stream: %v", ErrUnavailable, err)
	}
	sub := &Subscription{g: g}
	var start uint64
	if after != nil {
		start = *after + 1
	} else {
		last, err := lastSeq(ctx, stream, subject)
		if err != nil {
			return nil, err
		}
		tickets, err := g.tickets(ctx, venue, station)
		if err != nil {
			return nil, err
		}
		for i, t := range tickets {
			data, err := json.Marshal(kitchen.Message{Type: kitchen.MsgCreated, Ticket: t})
			if err != nil {
				return nil, fmt.Errorf("encode ticket: %w", err)
			}
			ev := Event{Type: kitchen.MsgCreated, Data: data}
			if i == len(tickets)-1 {
				ev.Cursor = last
			}
			sub.snapshot = append(sub.snapshot, ev)
		}
		start = last + 1
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    max(start, 1),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: consume %s: %v", ErrUnavailable, subject, err)
	}
	if sub.it, err = cons.Messages(); err != nil {
		return nil, fmt.Errorf("%w: consume %s: %v", ErrUnavailable, subject, err)
	}
	return sub, nil
}

// Run sends the snapshot, then live messages and heartbeats, until ctx ends,
// send fails, or NATS goes away (the screen then reconnects with its cursor
// and shows that it is reconnecting meanwhile). An Event with Cursor 0 and a
// type carries no cursor.
func (s *Subscription) Run(ctx context.Context, send func(Event) error) error {
	defer s.it.Stop()
	for _, ev := range s.snapshot {
		if err := send(ev); err != nil {
			return err
		}
	}
	for ctx.Err() == nil {
		msg, err := s.it.Next(jetstream.NextMaxWait(s.g.heartbeat))
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
		typ := msg.Headers().Get(outbox.HeaderType)
		if err := send(Event{Cursor: md.Sequence.Stream, Type: typ, Data: msg.Data()}); err != nil {
			return err
		}
	}
	return nil
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
