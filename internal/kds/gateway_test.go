package kds_test

// Focused tests of the gateway over an embedded NATS server and a fake
// ticket source (no Postgres): the snapshot and its cursor, its bound, resume
// after a cursor, a cursor ahead of the stream, heartbeats, and one snapshot
// read shared by screens that open together.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/natsembed"
	"github.com/posd/posd/internal/outbox"
)

type bench struct {
	t  *testing.T
	js jetstream.JetStream
}

func newBench(t *testing.T) bench {
	t.Helper()
	ns, err := natsembed.Start(natsembed.Options{StoreDir: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	_, err = outbox.EnsureStream(context.Background(), js, 1)
	require.NoError(t, err)
	return bench{t: t, js: js}
}

// publish puts one kitchen message of type typ on the station's subject and
// returns its stream sequence.
func (b bench) publish(venue, station, typ, body string) uint64 {
	b.t.Helper()
	msg := nats.NewMsg(kitchen.Subject(venue, station))
	msg.Header.Set(outbox.HeaderType, typ)
	msg.Data = []byte(body)
	ack, err := b.js.PublishMsg(context.Background(), msg)
	require.NoError(b.t, err)
	return ack.Sequence
}

// fixedTickets is a ticket source that returns n grill tickets and counts
// its calls.
func fixedTickets(n int, calls *atomic.Int32) kds.Tickets {
	return func(ctx context.Context, venue, station string) ([]kitchen.Ticket, error) {
		calls.Add(1)
		ts := make([]kitchen.Ticket, n)
		for i := range ts {
			ts[i] = kitchen.Ticket{ID: uuid.New(), Station: station, Table: fmt.Sprintf("T%d", i+1), Status: "new", Kind: "fire"}
		}
		return ts, nil
	}
}

// collect runs sub until it has sent n events and returns them.
func collect(t *testing.T, sub *kds.Subscription, n int) []kds.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []kds.Event
	errDone := errors.New("done")
	err := sub.Run(ctx, func(e kds.Event) error {
		got = append(got, e)
		if len(got) == n {
			return errDone
		}
		return nil
	})
	require.ErrorIs(t, err, errDone, "got %d of %d events", len(got), n)
	return got
}

// TestSnapshotThenLive: without a cursor a screen gets the open tickets as
// ticket.created, only the last carrying the cursor (the station's latest
// message, not another station's), then the messages after it, each with
// its stream sequence as cursor.
func TestSnapshotThenLive(t *testing.T) {
	b := newBench(t)
	b.publish("demo", "grill", kitchen.MsgCreated, `{"n":1}`)
	last := b.publish("demo", "grill", kitchen.MsgBumped, `{"n":2}`)
	b.publish("demo", "bar", kitchen.MsgCreated, `{"other":"station"}`)
	b.publish("demo2", "grill", kitchen.MsgCreated, `{"other":"venue"}`)
	var calls atomic.Int32
	g := kds.NewGateway(b.js, fixedTickets(3, &calls), time.Hour)
	sub, err := g.Open(context.Background(), "demo", "grill", nil)
	require.NoError(t, err)
	require.Zero(t, sub.Truncated())
	live := b.publish("demo", "grill", kitchen.MsgRecalled, `{"n":3}`)
	evs := collect(t, sub, 4)
	for i, e := range evs[:3] {
		require.Equal(t, kitchen.MsgCreated, e.Type)
		var m kitchen.Message
		require.NoError(t, json.Unmarshal(e.Data, &m))
		require.Equal(t, kitchen.MsgCreated, m.Type)
		require.Equal(t, fmt.Sprintf("T%d", i+1), m.Ticket.Table)
		if i < 2 {
			require.Zero(t, e.Cursor, "only the snapshot's last item carries the cursor")
		}
	}
	require.Equal(t, last, evs[2].Cursor)
	require.Equal(t, kds.Event{Cursor: live, Type: kitchen.MsgRecalled, Data: []byte(`{"n":3}`)}, evs[3])
	require.EqualValues(t, 1, calls.Load())
}

// TestSnapshotBound: a station with more open tickets than
// kitchen.MaxSnapshotTickets gets the oldest MaxSnapshotTickets, and
// Truncated says how many were left out.
func TestSnapshotBound(t *testing.T) {
	b := newBench(t)
	var calls atomic.Int32
	g := kds.NewGateway(b.js, fixedTickets(kitchen.MaxSnapshotTickets+7, &calls), time.Hour)
	sub, err := g.Open(context.Background(), "demo", "grill", nil)
	require.NoError(t, err)
	require.Equal(t, 7, sub.Truncated())
	evs := collect(t, sub, kitchen.MaxSnapshotTickets)
	var m kitchen.Message
	require.NoError(t, json.Unmarshal(evs[len(evs)-1].Data, &m))
	require.Equal(t, fmt.Sprintf("T%d", kitchen.MaxSnapshotTickets), m.Ticket.Table, "the oldest tickets")
	require.Zero(t, evs[len(evs)-1].Cursor, "no message on the station yet: cursor 0")
}

// TestResumeAfterCursor: with a cursor a screen gets exactly the station's
// messages after it, and no snapshot (the ticket source is not read).
func TestResumeAfterCursor(t *testing.T) {
	b := newBench(t)
	first := b.publish("demo", "grill", kitchen.MsgCreated, `1`)
	b.publish("demo", "fry", kitchen.MsgCreated, `fry`)
	second := b.publish("demo", "grill", kitchen.MsgBumped, `2`)
	third := b.publish("demo", "grill", kitchen.MsgRecalled, `3`)
	var calls atomic.Int32
	g := kds.NewGateway(b.js, fixedTickets(5, &calls), time.Hour)
	sub, err := g.Open(context.Background(), "demo", "grill", &first)
	require.NoError(t, err)
	evs := collect(t, sub, 2)
	require.Equal(t, []kds.Event{
		{Cursor: second, Type: kitchen.MsgBumped, Data: []byte(`2`)},
		{Cursor: third, Type: kitchen.MsgRecalled, Data: []byte(`3`)},
	}, evs)
	require.Zero(t, calls.Load())
}

// TestCursorAhead: a cursor after the stream's last message is refused with
// both numbers; the last message itself is a valid cursor.
func TestCursorAhead(t *testing.T) {
	b := newBench(t)
	last := b.publish("demo", "grill", kitchen.MsgCreated, `1`)
	var calls atomic.Int32
	g := kds.NewGateway(b.js, fixedTickets(0, &calls), time.Hour)
	ahead := last + 1
	_, err := g.Open(context.Background(), "demo", "grill", &ahead)
	var ca *kds.CursorAheadError
	require.ErrorAs(t, err, &ca)
	require.Equal(t, kds.CursorAheadError{Cursor: ahead, Last: last}, *ca)
	sub, err := g.Open(context.Background(), "demo", "grill", &last)
	require.NoError(t, err)
	sub.Close()
	sub.Close() // safe twice
}

// TestHeartbeat: an idle stream sends an empty event each heartbeat.
func TestHeartbeat(t *testing.T) {
	b := newBench(t)
	var calls atomic.Int32
	g := kds.NewGateway(b.js, fixedTickets(0, &calls), 50*time.Millisecond)
	after := uint64(0)
	sub, err := g.Open(context.Background(), "demo", "grill", &after)
	require.NoError(t, err)
	start := time.Now()
	evs := collect(t, sub, 2)
	require.Equal(t, []kds.Event{{}, {}}, evs)
	require.Less(t, time.Since(start), 10*time.Second)
}

// TestSnapshotShared: screens opening together share one read of the
// ticket source; once the station has a newer message a new one is read;
// a failed read is not shared with the screens that come after it.
func TestSnapshotShared(t *testing.T) {
	b := newBench(t)
	var calls atomic.Int32
	release := make(chan struct{})
	slow := func(ctx context.Context, venue, station string) ([]kitchen.Ticket, error) {
		<-release
		return fixedTickets(2, &calls)(ctx, venue, station)
	}
	g := kds.NewGatewayWith(b.js, slow, kds.Options{Heartbeat: time.Hour, SnapshotReuse: time.Minute})
	const screens = 8
	subs := make([]*kds.Subscription, screens)
	var wg sync.WaitGroup
	for i := range screens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := g.Open(context.Background(), "demo", "grill", nil)
			if err != nil {
				t.Errorf("open %d: %v", i, err)
				return
			}
			subs[i] = s
		}()
	}
	time.Sleep(200 * time.Millisecond) // let every screen reach the shared build
	close(release)
	wg.Wait()
	require.False(t, t.Failed())
	require.EqualValues(t, 1, calls.Load(), "one read for screens opening together")
	for _, s := range subs {
		s.Close()
	}

	// A newer message on the station: the next screen reads again.
	b.publish("demo", "grill", kitchen.MsgCreated, `{}`)
	s, err := g.Open(context.Background(), "demo", "grill", nil)
	require.NoError(t, err)
	s.Close()
	require.EqualValues(t, 2, calls.Load())

	// A failing source fails the screen; the next one tries again.
	var fails atomic.Int32
	broken := kds.NewGatewayWith(b.js, func(ctx context.Context, venue, station string) ([]kitchen.Ticket, error) {
		if fails.Add(1) == 1 {
			return nil, errors.New("postgres away")
		}
		return nil, nil
	}, kds.Options{Heartbeat: time.Hour, SnapshotReuse: time.Minute})
	_, err = broken.Open(context.Background(), "demo", "grill", nil)
	require.ErrorContains(t, err, "postgres away")
	s, err = broken.Open(context.Background(), "demo", "grill", nil)
	require.NoError(t, err)
	s.Close()
	require.EqualValues(t, 2, fails.Load())
}
