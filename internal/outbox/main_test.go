package outbox_test

// Shared fixtures of the relay tests: a posd stack without its own relay, a
// load of real waiters and a cook driving it over HTTP, and a check that
// compares the POS stream with what Postgres committed.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/seed"
)

func TestMain(m *testing.M) { apitest.Main(m) }

const (
	venue      = "demo"
	drainLimit = 20 * time.Second
)

var waiterTokens = []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}

// rig is one posd stack whose relays the test starts itself, with a client
// per demo device.
type rig struct {
	*apitest.Fixture
	t *testing.T
}

func newRig(t *testing.T) rig {
	t.Parallel()
	return rig{Fixture: apitest.NewFixture(t, apitest.Options{NoRelay: true}), t: t}
}

// load is a set of waiters, each patching its own order, and a cook bumping
// and recalling grill tickets, all through the HTTP API.
type load struct {
	stop     chan struct{}
	wg       sync.WaitGroup
	acked    atomic.Int64 // accepted writes (201 opens and 200 patches that changed something)
	failed   atomic.Int64 // writes that were not accepted
	cookActs atomic.Int64 // accepted bumps and recalls
}

// startLoad starts workers waiters on tables T<first>… and one cook. Every
// write they make must be accepted; the test fails otherwise. The workers
// run on their own goroutines, so they report with t.Errorf and stop.
func (r rig) startLoad(workers, first int) *load {
	l := &load{stop: make(chan struct{})}
	skus := []string{"steak", "fries", "beer", "burger", "caesar"}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c := r.As(r.t, waiterTokens[w%len(waiterTokens)])
			table := "T" + strconv.Itoa(first+w)
			resp := c.TryOpen(table, 2)
			var o order.Order
			if resp.Status != 201 || json.Unmarshal(resp.Body, &o) != nil {
				l.failed.Add(1)
				r.t.Errorf("open %s: %d %s", table, resp.Status, resp.Body)
				return
			}
			l.acked.Add(1)
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				op := apitest.AddItem(skus[(w+i)%len(skus)], 1)
				if i%2 == 1 {
					op = apitest.Fire()
				}
				resp := c.TryPatch(o.ID, o.Version, op)
				if resp.Status != 200 {
					l.failed.Add(1)
					r.t.Errorf("patch %s v%d: %d %s", o.ID, o.Version, resp.Status, resp.Body)
					return
				}
				l.acked.Add(1)
				o.Version++
			}
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		cook := r.Kitchen
		var ready []uuid.UUID
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			if i%3 == 2 && len(ready) > 0 {
				id := ready[0]
				ready = ready[1:]
				if resp := cook.TryMove(id, "recall"); resp.Status != 200 {
					r.t.Errorf("recall %s: %d %s", id, resp.Status, resp.Body)
					return
				}
				l.cookActs.Add(1)
				continue
			}
			resp := cook.Get("/v1/kitchen/tickets?station=grill")
			var list struct {
				Tickets []kitchen.Ticket `json:"tickets"`
			}
			if resp.Status != 200 || json.Unmarshal(resp.Body, &list) != nil {
				r.t.Errorf("list tickets: %d %s", resp.Status, resp.Body)
				return
			}
			if len(list.Tickets) == 0 {
				continue
			}
			id := list.Tickets[0].ID
			if resp := cook.TryMove(id, "bump"); resp.Status != 200 {
				r.t.Errorf("bump %s: %d %s", id, resp.Status, resp.Body)
				return
			}
			l.cookActs.Add(1)
			ready = append(ready, id)
		}
	}()
	return l
}

// Stop ends the load and waits for every in-flight write to finish.
func (l *load) Stop() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// waitAcked waits until the load has had at least n more writes accepted than
// it had when called.
func (r rig) waitAcked(l *load, n int64) {
	r.t.Helper()
	target := l.acked.Load() + n
	apitest.Eventually(r.t, 20*time.Second, func() bool { return l.acked.Load() >= target || r.t.Failed() },
		"the load to get %d more writes accepted", n)
	require.False(r.t, r.t.Failed())
}

// streamMsg is one message of the POS stream as a consumer sees it.
type streamMsg struct {
	Seq     uint64
	Subject string
	MsgID   string
	Type    string
	Version int64
	// Txid and ID are the outbox row's commit-safe position (the
	// Posd-Position header).
	Txid, ID uint64
	Data     []byte
}

// streamMsgs reads the whole POS stream, in stream order.
func (r rig) streamMsgs() []streamMsg {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := r.JS.Stream(ctx, outbox.StreamName)
	require.NoError(r.t, err)
	info, err := st.Info(ctx)
	require.NoError(r.t, err)
	var out []streamMsg
	if info.State.Msgs == 0 {
		return out
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	require.NoError(r.t, err)
	for len(out) == 0 || out[len(out)-1].Seq < info.State.LastSeq {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		require.NoError(r.t, err)
		n := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			require.NoError(r.t, err)
			v, err := strconv.ParseInt(m.Headers().Get(outbox.HeaderOrderVersion), 10, 64)
			require.NoError(r.t, err, "version header of %s", m.Subject())
			var txid, id uint64
			_, err = fmt.Sscanf(m.Headers().Get(outbox.HeaderPosition), "%d:%d", &txid, &id)
			require.NoError(r.t, err, "position header of %s", m.Subject())
			out = append(out, streamMsg{Seq: md.Sequence.Stream, Subject: m.Subject(),
				MsgID: m.Headers().Get(jetstream.MsgIDHeader), Type: m.Headers().Get(outbox.HeaderType),
				Version: v, Txid: txid, ID: id, Data: m.Data()})
			n++
		}
		require.NoError(r.t, batch.Error())
		require.NotZero(r.t, n, "stream ends before its last sequence %d", info.State.LastSeq)
	}
	return out
}

// streamCount is the number of messages in the POS stream (-1 while NATS is
// unreachable).
func (r rig) streamCount() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := r.JS.Stream(ctx, outbox.StreamName)
	if err != nil {
		return -1
	}
	info, err := st.Info(ctx)
	if err != nil {
		return -1
	}
	return int64(info.State.Msgs)
}

// pending is the number of committed outbox rows after the relay's cursor.
func (r rig) pending() int64 {
	return r.DB.Count(r.t, `SELECT count(*) FROM outbox o JOIN outbox_cursor c ON c.name = 'relay'
		WHERE (o.txid, o.id) > (c.txid, c.id)`)
}

// committed is the number of messages Postgres says must be published: one
// per order event and one per kitchen ticket change.
func (r rig) committed() int64 {
	return r.DB.Count(r.t, "SELECT (SELECT count(*) FROM order_events) + (SELECT count(*) FROM kitchen_ticket_events)")
}

// rawType marks outbox rows a test inserts itself, bypassing the store.
const rawType = "test.raw"

// extra is the number of committed raw outbox rows.
func (r rig) extra() int64 {
	return r.DB.Count(r.t, "SELECT count(*) FROM outbox WHERE msg_type = $1", rawType)
}

// insertRaw inserts one raw outbox row for a made-up order through db (a
// pool, connection or transaction) and returns its id and txid.
func insertRaw(t *testing.T, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, msgID string, order uuid.UUID, version int64) (id int64, txid uint64) {
	t.Helper()
	return insertRawAt(t, db, msgID, order, version, 0)
}

// insertRawAt is insertRaw with the row's txid set to txid instead of the
// inserting transaction's (0 keeps the default).
func insertRawAt(t *testing.T, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, msgID string, order uuid.UUID, version int64, txid uint64) (rowID int64, rowTxid uint64) {
	t.Helper()
	err := db.QueryRow(context.Background(), `
		INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload, txid)
		VALUES ($1, $2, $3, $4, $5, $6, $7, coalesce(nullif($8::bigint, 0)::text::xid8, pg_current_xact_id()))
		RETURNING id, txid::text::bigint`,
		venue, "pos."+venue+".order."+order.String(), msgID, rawType, order, version,
		[]byte(fmt.Sprintf(`{"version":%d}`, version)), int64(txid)).Scan(&rowID, &rowTxid)
	require.NoError(t, err)
	return rowID, rowTxid
}

// waitDrained waits until the relay's cursor is past every outbox row and the
// stream holds as many messages as Postgres committed.
func (r rig) waitDrained() {
	r.t.Helper()
	r.waitDrainedWithin(drainLimit)
}

func (r rig) waitDrainedWithin(limit time.Duration) {
	r.t.Helper()
	if !apitest.Poll(limit, func() bool { return r.pending() == 0 && r.streamCount() == r.committed()+r.extra() }) {
		r.logUndelivered()
		r.t.Fatalf("timed out after %s waiting for the relay to drain (pending %d, stream %d, committed %d + %d raw)",
			limit, r.pending(), r.streamCount(), r.committed(), r.extra())
	}
}

// requireExactlyOnce checks the POS stream against Postgres: every order
// event appears exactly once on its order's subject, and the events of each
// order appear in version order 1, 2, 3…; every kitchen ticket change
// appears exactly once on its station's subject, and the changes of each
// ticket in the order they happened (created, then bumped and recalled in
// turn); nothing else is in the stream. It returns the stream.
func (r rig) requireExactlyOnce() []streamMsg {
	r.t.Helper()
	ctx := context.Background()
	type evRow struct {
		subject, order string
		version        int64
	}
	events := map[string]evRow{}
	// Order events, and the raw rows tests insert into the outbox themselves.
	rows, err := r.DB.Admin.Query(ctx, `
		SELECT id::text, 'pos.' || venue_id || '.order.' || order_id, order_id::text, version FROM order_events
		UNION ALL
		SELECT msg_id, subject, order_id::text, order_version FROM outbox WHERE msg_type = $1`, rawType)
	require.NoError(r.t, err)
	for rows.Next() {
		var id string
		var e evRow
		require.NoError(r.t, rows.Scan(&id, &e.subject, &e.order, &e.version))
		events[id] = e
	}
	require.NoError(r.t, rows.Err())
	type tkRow struct {
		ticket, station, action string
	}
	ticketEvents := map[string]tkRow{}
	rows, err = r.DB.Admin.Query(ctx, `SELECT e.id::text, e.ticket_id::text, t.station, e.action
		FROM kitchen_ticket_events e JOIN kitchen_tickets t ON t.venue_id = e.venue_id AND t.id = e.ticket_id
		WHERE e.venue_id = $1`, venue)
	require.NoError(r.t, err)
	for rows.Next() {
		var id string
		var k tkRow
		require.NoError(r.t, rows.Scan(&id, &k.ticket, &k.station, &k.action))
		ticketEvents[id] = k
	}
	require.NoError(r.t, rows.Err())

	msgs := r.streamMsgs()
	seen := map[string]int{}
	lastVersion := map[string]int64{}
	lastAction := map[string]string{}
	msgType := map[string]string{"created": "ticket.created", "bumped": "ticket.bumped", "recalled": "ticket.recalled"}
	for _, m := range msgs {
		seen[m.MsgID]++
		require.Equal(r.t, 1, seen[m.MsgID], "message %s (%s, seq %d) is in the stream more than once", m.MsgID, m.Subject, m.Seq)
		if e, ok := events[m.MsgID]; ok {
			require.Equal(r.t, e.subject, m.Subject, "subject of event %s", m.MsgID)
			require.Equal(r.t, e.version, m.Version, "version header of event %s", m.MsgID)
			var body struct {
				Version int64 `json:"version"`
			}
			require.NoError(r.t, json.Unmarshal(m.Data, &body))
			require.Equal(r.t, e.version, body.Version, "body of event %s", m.MsgID)
			require.Equal(r.t, lastVersion[e.order]+1, e.version,
				"order %s: version %d follows version %d in the stream (seq %d)", e.order, e.version, lastVersion[e.order], m.Seq)
			lastVersion[e.order] = e.version
			continue
		}
		k, ok := ticketEvents[m.MsgID]
		require.True(r.t, ok, "message %s on %s (seq %d) was never committed", m.MsgID, m.Subject, m.Seq)
		require.Equal(r.t, fmt.Sprintf("pos.%s.kitchen.%s", venue, k.station), m.Subject, "subject of ticket change %s", m.MsgID)
		require.Equal(r.t, msgType[k.action], m.Type, "type header of ticket change %s", m.MsgID)
		var body struct {
			Type   string `json:"type"`
			Ticket struct {
				ID string `json:"id"`
			} `json:"ticket"`
		}
		require.NoError(r.t, json.Unmarshal(m.Data, &body))
		require.Equal(r.t, msgType[k.action], body.Type)
		require.Equal(r.t, k.ticket, body.Ticket.ID)
		want := map[string]string{"": "created", "created": "bumped", "bumped": "recalled", "recalled": "bumped"}[lastAction[k.ticket]]
		require.Equal(r.t, want, k.action, "ticket %s: %s after %q in the stream (seq %d)", k.ticket, k.action, lastAction[k.ticket], m.Seq)
		lastAction[k.ticket] = k.action
	}
	for id, e := range events {
		require.Equal(r.t, 1, seen[id], "event %s (order %s version %d) is missing from the stream", id, e.order, e.version)
	}
	for id, k := range ticketEvents {
		require.Equal(r.t, 1, seen[id], "ticket change %s (%s %s) is missing from the stream", id, k.ticket, k.action)
	}
	require.Len(r.t, msgs, len(events)+len(ticketEvents))
	return msgs
}

// logUndelivered logs the relay's cursor and every outbox row that is not in
// the stream, to explain a drain that never completes.
func (r rig) logUndelivered() {
	ctx := context.Background()
	inStream := map[string]bool{}
	for _, m := range r.streamMsgs() {
		inStream[m.MsgID] = true
	}
	var cur string
	_ = r.DB.Admin.QueryRow(ctx, "SELECT txid::text || ':' || id FROM outbox_cursor WHERE name = 'relay'").Scan(&cur)
	r.t.Logf("relay cursor (txid:id) %s", cur)
	rows, err := r.DB.Admin.Query(ctx, "SELECT o.txid::text || ':' || o.id, o.msg_id, o.subject, o.order_version FROM outbox o ORDER BY o.txid, o.id")
	if err != nil {
		r.t.Logf("read outbox: %v", err)
		return
	}
	defer rows.Close()
	for n := 0; rows.Next() && n < 50; {
		var pos, msgID, subject string
		var v int64
		if rows.Scan(&pos, &msgID, &subject, &v) == nil && !inStream[msgID] {
			r.t.Logf("not in the stream: outbox row %s msg %s %s version %d", pos, msgID, subject, v)
			n++
		}
	}
}
