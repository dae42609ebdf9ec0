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

// Stream sends a station's kitchen messages to send until ctx ends or send
// fails. With after == nil it first sends the station's open tickets as
// ticket.created, each with the cursor of the station's latest message at
// that moment, then every message after that cursor. With a cursor it sends
// exactly the messages after it. A message that is both in the snapshot and
// published just after it arrives twice; screens treat ticket.created as an
// upsert by ticket id.
func (g *Gateway) Stream(ctx context.Context, venue, station string, after *uint64, send func(Event) error) error {
	subject := kitchen.Subject(venue, station)
	stream, err := g.js.Stream(ctx, outbox.StreamName)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	var start uint64
	if after != nil {
		start = *after + 1
	} else {
		last, err := lastSeq(ctx, stream, subject)
		if err != nil {
			return err
		}
		tickets, err := g.tickets(ctx, venue, station)
		if err != nil {
			return err
		}
		for _, t := range tickets {
			data, err := json.Marshal(kitchen.Message{Type: kitchen.MsgCreated, Ticket: t})
			if err != nil {
				return fmt.Errorf("encode ticket: %w", err)
			}
			if err := send(Event{Cursor: last, Type: kitchen.MsgCreated, Data: data}); err != nil {
				return err
			}
		}
		start = last + 1
	}
	if start == 0 {
		start = 1
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", subject, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("consume %s: %w", subject, err)
	}
	defer it.Stop()
	for ctx.Err() == nil {
		msg, err := it.Next(jetstream.NextMaxWait(g.heartbeat))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			// Nothing arrived within the heartbeat interval (or the
			// server is away and the consumer is being recreated).
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
