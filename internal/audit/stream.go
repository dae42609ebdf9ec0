package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posd/posd/internal/kitchen"
)

// DefaultStreamGrace is how long after an order's last change verify lets
// its message be missing from JetStream (the relay publishes within
// milliseconds; a commit racing verify's read is in flight).
const DefaultStreamGrace = time.Minute

// StreamLookupTimeout bounds each JetStream request of the cross-check;
// when NATS does not answer in time verify says so (stream_error) and
// checks the database alone.
const StreamLookupTimeout = 2 * time.Second

// streamName and headerOrderVersion are the relay's stream and the header
// that carries an order's version (outbox.StreamName and
// outbox.HeaderOrderVersion; TestStreamContract holds them equal). They are
// repeated here so audit does not import the relay, and with it pgx and the
// generated SQL.
const (
	streamName         = "POS"
	headerOrderVersion = "Posd-Order-Version"
)

// Stream is what the JetStream cross-check reads of posd's POS stream
// (jetstream.Stream has both methods).
type Stream interface {
	Info(ctx context.Context, opts ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error)
	GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error)
}

// streamCheck compares each order's version with the last message on its
// JetStream subject: committed events that never reached NATS (the relay's
// cursor moved past unpublished rows, or the rows were removed) leave the
// stream behind the order.
type streamCheck struct {
	s       Stream
	grace   time.Duration
	maxAge  time.Duration
	first   time.Time
	now     time.Time
	pending map[uuid.UUID]int64
}

func newStreamCheck(ctx context.Context, j Journal, venue string, s Stream, grace time.Duration, now time.Time) (*streamCheck, error) {
	if grace <= 0 {
		grace = DefaultStreamGrace
	}
	ictx, cancel := context.WithTimeout(ctx, StreamLookupTimeout)
	defer cancel()
	info, err := s.Info(ictx)
	if err != nil {
		return nil, fmt.Errorf("JetStream: read stream %s: %w", streamName, err)
	}
	pending, err := j.PendingOutbox(ctx, venue)
	if err != nil {
		return nil, fmt.Errorf("read the outbox in flight: %w", err)
	}
	return &streamCheck{s: s, grace: grace, maxAge: info.Config.MaxAge, first: info.State.FirstTime, now: now,
		pending: pending}, nil
}

// order checks one order at version whose last event was at. It reports
// whether the order was compared with the stream, and the broken link.
func (c *streamCheck) order(ctx context.Context, venue string, id uuid.UUID, version int64, at time.Time) (bool, *Broken, error) {
	age := c.now.Sub(at)
	switch {
	case age < c.grace:
		return false, nil, nil // just written: may be in flight
	case c.pending[id] >= version:
		return false, nil, nil // the relay has not reached it yet
	}
	// The message was published at or after at; the stream may have
	// dropped it (max age, or limits: its first message is newer).
	mayBeGone := c.maxAge > 0 && age > c.maxAge || at.Before(c.first)
	subject := kitchen.OrderSubject(venue, id)
	lctx, cancel := context.WithTimeout(ctx, StreamLookupTimeout)
	defer cancel()
	msg, err := c.s.GetLastMsgForSubject(lctx, subject)
	oid := id
	if errors.Is(err, jetstream.ErrMsgNotFound) && mayBeGone {
		return false, nil, nil
	}
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return true, &Broken{OrderID: &oid, Version: version, Reason: fmt.Sprintf(
			"JetStream has no message on %s although the order's events were committed and passed by the relay: they never reached the kitchen", subject)}, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("JetStream: last message on %s: %w", subject, err)
	}
	got, perr := strconv.ParseInt(msg.Header.Get(headerOrderVersion), 10, 64)
	// A newer version than the snapshot's is a change committed since.
	if perr != nil || got < version {
		return true, &Broken{OrderID: &oid, Version: version, Reason: fmt.Sprintf(
			"the last message on JetStream (%s) carries version %q, the order is at version %d: committed events never reached the kitchen (the relay's cursor moved past unpublished rows?)",
			subject, msg.Header.Get(headerOrderVersion), version)}, nil
	}
	return true, nil, nil
}

// JetStreamOf is posd's POS stream on js as Verify reads it: looked up
// afresh by each Info (so each verify sees the stream's current first
// message), and read through that lookup.
func JetStreamOf(js jetstream.JetStream) Stream { return &lazyStream{js: js} }

type lazyStream struct {
	js jetstream.JetStream
	mu sync.Mutex
	s  jetstream.Stream
}

func (l *lazyStream) Info(ctx context.Context, _ ...jetstream.StreamInfoOpt) (*jetstream.StreamInfo, error) {
	s, err := l.js.Stream(ctx, streamName)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.s = s
	l.mu.Unlock()
	return s.CachedInfo(), nil
}

func (l *lazyStream) GetLastMsgForSubject(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	l.mu.Lock()
	s := l.s
	l.mu.Unlock()
	if s == nil {
		var err error
		if s, err = l.js.Stream(ctx, streamName); err != nil {
			return nil, err
		}
	}
	return s.GetLastMsgForSubject(ctx, subject)
}
