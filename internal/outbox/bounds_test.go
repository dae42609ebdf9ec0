package outbox_test

// Kitchen delivery never stops (issue 8): a huge fire, or a message NATS
// refuses for good, cannot hold back the messages after it, of any venue;
// and the lag gauge tells the truth while delivery is stuck.

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
)

// syncBuffer is a log sink safe for the relay's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHugeFireDoesNotStopOtherVenuesTickets: a waiter sends a banquet of
// MaxLinesPerOrder lines, each with the longest modifiers and note. As one
// ticket that is about 3 MB, three times NATS's 1 MiB max_payload, and the
// relay retried it forever, holding back every later message of every
// venue. Now the fire arrives as several tickets for the grill, part 1..N,
// each under the bounds, all delivered, and another venue's ticket sent
// after it is delivered too.
func TestHugeFireDoesNotStopOtherVenuesTickets(t *testing.T) {
	r := newRig(t)
	r.StartRelay(t, outbox.Options{})

	// The banquet: 40 lines a PATCH keeps each body under 64 KiB.
	id := r.Waiter.Open("T1", 40).ID
	mods := make([]string, order.MaxModifiers)
	for i := range mods {
		mods[i] = strings.Repeat("<", order.MaxModifierLen)
	}
	note := strings.Repeat("&", order.MaxNoteLen)
	v := int64(1)
	for added := 0; added < order.MaxLinesPerOrder; v++ {
		ops := make([]order.Op, 0, 40)
		for ; len(ops) < 40 && added < order.MaxLinesPerOrder; added++ {
			ops = append(ops, apitest.AddItem("steak", 1, apitest.Mods(mods...), apitest.LineNote(note)))
		}
		r.Waiter.Patch(id, v, ops...)
	}
	r.Waiter.Patch(id, v, apitest.Fire())
	other := r.Other.Open("T1", 40).ID
	r.Other.Patch(other, 1, apitest.AddItem("burger", 1), apitest.Fire())
	r.waitDelivered("pos.demo2.kitchen.grill")
	r.waitDrained()

	// The fire is split: parts 1..N of one order on the grill, every line
	// once, each part within the ticket bounds.
	tickets := r.Kitchen.Tickets("grill")
	require.Greater(t, len(tickets), 1, "the fire is split into several tickets")
	lines := 0
	for i, tk := range tickets {
		require.Equal(t, id, tk.OrderID)
		require.Equal(t, i+1, tk.Part, "parts in order")
		require.Equal(t, len(tickets), tk.Parts)
		require.LessOrEqual(t, len(tk.Lines), kitchen.MaxTicketLines)
		lines += len(tk.Lines)
	}
	require.Equal(t, order.MaxLinesPerOrder, lines)
	var largest, total int
	for _, msg := range r.streamMsgs() {
		largest = max(largest, len(msg.Data))
		if msg.Subject == "pos.demo.kitchen.grill" {
			total += len(msg.Data)
		}
	}
	require.Less(t, int64(largest), r.NC.MaxPayload())
	t.Logf("banquet of %d lines: %d ticket parts of %d bytes in all, largest message %d bytes (max_payload %d)",
		lines, len(tickets), total, largest, r.NC.MaxPayload())
}

// TestPoisonRowIsSetAside: a message NATS refuses for good (here a payload
// over max_payload, written behind posd's back) is set aside in
// outbox_dead_letters with its error, counted and logged, and another
// venue's ticket committed after it is delivered. Before, the relay retried
// it forever and nothing after it was delivered.
func TestPoisonRowIsSetAside(t *testing.T) {
	r := newRig(t)
	m := outbox.NewMetrics(prometheus.NewRegistry())
	var logs syncBuffer
	r.StartRelay(t, outbox.Options{Metrics: m, Log: zerolog.New(&logs)})

	poisonID := uuid.New()
	var poisonRow int64
	require.NoError(t, r.DB.Admin.QueryRow(context.Background(), `
		INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
		VALUES ('demo', $1, $2, 'test.poison', $3, 1, $4) RETURNING id`,
		"pos.demo.order."+poisonID.String(), "poison-"+poisonID.String(), poisonID,
		bytes.Repeat([]byte("x"), int(r.NC.MaxPayload())+1)).Scan(&poisonRow))
	other := r.Other.Open("T1", 40).ID
	r.Other.Patch(other, 1, apitest.AddItem("burger", 1), apitest.Fire())
	r.waitDelivered("pos.demo2.kitchen.grill")
	r.waitDrained()
	require.Equal(t, 1.0, value(m.SetAside), "the poison row is counted")
	var errText string
	require.NoError(t, r.DB.Admin.QueryRow(context.Background(),
		"SELECT error FROM outbox_dead_letters WHERE outbox_id = $1", poisonRow).Scan(&errText))
	require.Contains(t, errText, "maximum payload exceeded")
	require.EqualValues(t, 1, r.DB.Count(t, "SELECT count(*) FROM outbox_dead_letters"))
	require.Contains(t, logs.String(), "poison-"+poisonID.String(), "the set-aside message is logged")
	apitest.Eventually(t, 10*time.Second, func() bool { return value(m.DeadLetters) == 1 },
		"the dead-letter gauge to show the row; relay log:\n%s", &logs)

	// The operator lists it and replays it as posd's own role: still too
	// large, it is set aside again under its new row, and the first dead
	// letter stays on record, marked replayed.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.DB.AppURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	list, err := outbox.ListDeadLetters(ctx, conn, "demo", false, 0)
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, poisonRow, list[0].OutboxID)
	require.Equal(t, "poison-"+poisonID.String(), list[0].MsgID)
	require.Greater(t, list[0].Bytes, r.NC.MaxPayload())
	again, err := outbox.ReplayDeadLetter(ctx, conn, poisonRow)
	require.NoError(t, err)
	_, err = outbox.ReplayDeadLetter(ctx, conn, poisonRow)
	require.ErrorIs(t, err, outbox.ErrNoDeadLetter, "a dead letter is replayed once")
	apitest.Eventually(t, drainLimit, func() bool { return value(m.SetAside) == 2 }, "the replay to be set aside again")
	list, err = outbox.ListDeadLetters(ctx, conn, "", true, 0)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.NotNil(t, list[0].ReplayedAt)
	require.Equal(t, again, list[1].OutboxID)
	require.Nil(t, list[1].ReplayedAt)
	apitest.Eventually(t, 10*time.Second, func() bool { return value(m.DeadLetters) == 1 },
		"the gauge to count only the dead letter waiting; relay log:\n%s", &logs)
}

// waitDelivered waits until a message on subject is in the stream.
func (r rig) waitDelivered(subject string) {
	r.t.Helper()
	apitest.Eventually(r.t, drainLimit, func() bool {
		for _, msg := range r.streamMsgs() {
			if msg.Subject == subject {
				return true
			}
		}
		return false
	}, "a message on %s to be delivered", subject)
}

// TestRelayLagRisesWhileNATSIsDown: posd_outbox_lag_seconds is the age of the
// oldest unpublished row, measured in Postgres: it rises while NATS is down
// (writes still accepted), and falls back to 0 once the backlog is
// delivered.
func TestRelayLagRisesWhileNATSIsDown(t *testing.T) {
	r := newRig(t)
	m := outbox.NewMetrics(prometheus.NewRegistry())
	r.StartRelay(t, outbox.Options{Metrics: m})
	l := r.startLoad(2, 1)
	r.waitAcked(l, 10)
	l.Stop()
	r.waitDrained()
	apitest.Eventually(t, 10*time.Second, func() bool { return value(m.Lag) == 0 }, "lag 0 when caught up")

	r.NATS.Shutdown()
	l = r.startLoad(2, 5)
	r.waitAcked(l, 5)
	l.Stop()
	apitest.Eventually(t, 20*time.Second, func() bool { return value(m.Lag) >= 3 }, "the lag gauge to rise past 3 s while NATS is down")
	t.Logf("lag with NATS down: %.1f s", value(m.Lag))

	r.RestartNATS(t)
	r.waitDrained()
	apitest.Eventually(t, 10*time.Second, func() bool { return value(m.Lag) == 0 }, "lag back to 0")
	r.requireExactlyOnce()
}
