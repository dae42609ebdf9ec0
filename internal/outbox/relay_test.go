package outbox_test

// Relay tests (DESIGN.md section 5 and invariant 4: every committed event
// reaches NATS at least once, and each consumer can apply it exactly once, in
// version order, across NATS restarts and posd crashes). All of them run the
// real relay against a real Postgres database and a real embedded NATS
// server, and compare the whole POS stream with what Postgres committed.

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/outbox"
)

// TestRelayCommitSafeOrder proves the relay's commit-safe read: a transaction
// that commits after rows with higher ids (or higher txids) are already
// visible is neither skipped nor overtaken. Transaction A takes its txid
// first and inserts a row, B inserts a row and commits while A is still open,
// and only then does A insert a second row (with an id above B's) and commit.
// While A is open the relay must hold B back (B's txid is not below the
// oldest running transaction); afterwards all rows are published exactly
// once, in (txid, id) order: A's rows before B's.
func TestRelayCommitSafeOrder(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()

	// C commits before anything else: the relay can publish it right away.
	cID, _ := insertRaw(t, r.DB.Admin, "c", uuid.New(), 1)

	txA, err := r.DB.Admin.Begin(ctx)
	require.NoError(t, err)
	defer txA.Rollback(ctx) //nolint:errcheck // a no-op once committed
	var xidA uint64
	require.NoError(t, txA.QueryRow(ctx, "SELECT pg_current_xact_id()::text::bigint").Scan(&xidA))
	a1ID, a1Txid := insertRaw(t, txA, "a1", uuid.New(), 1)
	require.Equal(t, xidA, a1Txid)

	bID, bTxid := insertRaw(t, r.DB.Admin, "b", uuid.New(), 1) // autocommit: B is committed now
	require.Less(t, a1ID, bID, "A's first row has the lower id")
	require.Less(t, a1Txid, bTxid, "A took its txid before B")

	_, done := r.StartRelay(t, outbox.Options{})
	apitest.Eventually(t, drainLimit, func() bool { return r.streamCount() >= 1 }, "C to be published")
	// Give the relay many polls (5 ms each) to publish B wrongly.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		require.EqualValues(t, 1, r.streamCount(), "B was published while A, with a lower txid, was still running")
		time.Sleep(10 * time.Millisecond)
	}
	var curTxid, curID int64
	require.NoError(t, r.DB.Admin.QueryRow(ctx, "SELECT txid::text::bigint, id FROM outbox_cursor WHERE name = 'relay'").Scan(&curTxid, &curID))
	require.Equal(t, cID, curID, "the cursor stays at C while A is open")

	a2ID, _ := insertRaw(t, txA, "a2", uuid.New(), 1)
	require.Greater(t, a2ID, bID, "A's second row has an id above B's, committed, row")
	require.NoError(t, txA.Commit(ctx))

	r.waitDrained()
	msgs := r.requireExactlyOnce()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MsgID
	}
	require.Equal(t, []string{"c", "a1", "a2", "b"}, ids, "stream order is commit-safe (txid, id) order")
	select {
	case err := <-done:
		t.Fatalf("relay stopped early: %v", err)
	default:
	}
}

// TestRelayTxidOrderIsNumeric proves that the relay's commit-safe order is
// the numeric order of transaction ids, also where their decimal digit count
// changes (99 → 100, 999 → 1000, …): rows of long-committed transactions 98,
// 99, 100 and 101, read two at a time, are all published, in that order.
// Ordering them as text instead ("100" < "101" < "98" < "99") publishes
// 100 and 101 first, moves the cursor past 98 and 99, and loses them.
func TestRelayTxidOrderIsNumeric(t *testing.T) {
	r := newRig(t)
	order := uuid.New()
	for v, txid := range []uint64{98, 99, 100, 101} {
		_, got := insertRawAt(t, r.DB.Admin, "tx"+strconv.FormatUint(txid, 10), order, int64(v+1), txid)
		require.Equal(t, txid, got)
	}
	r.StartRelay(t, outbox.Options{BatchSize: 2})
	r.waitDrainedWithin(5 * time.Second)
	msgs := r.requireExactlyOnce()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.MsgID
	}
	require.Equal(t, []string{"tx98", "tx99", "tx100", "tx101"}, ids)
}

// TestRelayConcurrentWriters proves invariant 4 under concurrency: while
// waiters patch several orders through the API, a cook bumps and recalls
// tickets, and slow transactions insert outbox rows that commit out of id
// order, a relay reading in small batches publishes every committed event
// exactly once on its order's subject in version order, and every ticket
// change exactly once on its station's subject, with nothing extra; on every
// subject the messages are in commit-safe (txid, id) order. (Across
// subjects the stream's order may differ: a row waits for the ack of the
// row before it on its subject, and rows on other subjects go on.)
func TestRelayConcurrentWriters(t *testing.T) {
	r := newRig(t)
	r.StartRelay(t, outbox.Options{BatchSize: 7})

	// Slow committers: each owns a made-up order and commits its versions one
	// by one, sleeping inside the transaction so that later, faster
	// transactions commit first.
	stopSlow := make(chan struct{})
	var slow sync.WaitGroup
	// overtaken records each slow row that a row with a greater id (a later
	// insert) overtook: it was visible, so committed, while the slow row's
	// transaction was still open.
	type row struct {
		msgID string
		txid  uint64
		id    int64
	}
	type overtake struct{ slow, by row }
	var mu sync.Mutex
	var overtaken []overtake
	for w := 0; w < 3; w++ {
		slow.Add(1)
		go func() {
			defer slow.Done()
			order := uuid.New()
			for v := int64(1); ; v++ {
				select {
				case <-stopSlow:
					return
				default:
				}
				ctx := context.Background()
				tx, err := r.DB.Admin.Begin(ctx)
				if err != nil {
					t.Errorf("begin: %v", err)
					return
				}
				msgID := order.String() + "/" + strconv.FormatInt(v, 10)
				id, txid := insertRaw(t, tx, msgID, order, v)
				_, err = tx.Exec(ctx, "SELECT pg_sleep($1)", rand.Float64()*0.03)
				if err == nil {
					// Seen from another connection, while this transaction
					// is still open: later rows that have committed.
					var by row
					qerr := r.DB.Admin.QueryRow(ctx, `SELECT msg_id, txid::text::bigint, id FROM outbox
						WHERE id > $1 ORDER BY id LIMIT 1`, id).Scan(&by.msgID, &by.txid, &by.id)
					switch {
					case qerr == nil:
						mu.Lock()
						overtaken = append(overtaken, overtake{slow: row{msgID, txid, id}, by: by})
						mu.Unlock()
					case !errors.Is(qerr, pgx.ErrNoRows):
						err = qerr
					}
				}
				if err == nil {
					err = tx.Commit(ctx)
				}
				if err != nil {
					t.Errorf("slow commit: %v", err)
					return
				}
			}
		}()
	}

	l := r.startLoad(8, 1)
	r.waitAcked(l, 200)
	l.Stop()
	close(stopSlow)
	slow.Wait()
	require.Zero(t, l.failed.Load())
	require.Positive(t, l.cookActs.Load(), "the cook bumped tickets")

	r.waitDrained()
	msgs := r.requireExactlyOnce()
	require.Equal(t, l.acked.Load(), r.DB.Count(t, "SELECT count(*) FROM order_events"), "every accepted write has its event")

	// The commits did come out of id order, and the relay still published
	// each such pair once (requireExactlyOnce), and every subject's messages
	// in commit-safe (txid, id) order, not in the order they committed.
	require.NotEmpty(t, overtaken, "no slow row was overtaken by a later commit: the test never set up out-of-order commits")
	inStream := map[string]bool{}
	last := map[string]streamMsg{}
	for _, m := range msgs {
		inStream[m.MsgID] = true
		if p, ok := last[m.Subject]; ok {
			require.True(t, p.Txid < m.Txid || (p.Txid == m.Txid && p.ID < m.ID),
				"%s: row %d (txid %d) follows row %d (txid %d) in the stream", m.Subject, m.ID, m.Txid, p.ID, p.Txid)
		}
		last[m.Subject] = m
	}
	for _, o := range overtaken {
		require.True(t, inStream[o.slow.msgID] && inStream[o.by.msgID], "rows %d and %d in the stream", o.slow.id, o.by.id)
	}
	t.Logf("%d slow rows were overtaken by a later commit", len(overtaken))
}

// TestRelayNATSOutage proves that a NATS outage delays delivery and loses
// nothing: writes keep being accepted while NATS is down, and once it is back
// the relay publishes every committed event exactly once, per order in
// version order.
func TestRelayNATSOutage(t *testing.T) {
	r := newRig(t)
	m := outbox.NewMetrics(prometheus.NewRegistry())
	r.StartRelay(t, outbox.Options{Metrics: m, BatchSize: 20})

	l := r.startLoad(6, 1)
	defer l.Stop()
	apitest.Eventually(t, 10*time.Second, func() bool { return r.streamCount() >= 30 }, "messages before the outage")

	r.NATS.Shutdown()
	r.waitAcked(l, 60) // writes go on while NATS is down
	apitest.Eventually(t, 10*time.Second, func() bool { return value(m.Failed) > 0 }, "the relay to notice the outage")
	r.RestartNATS(t)
	r.waitAcked(l, 30)
	l.Stop()
	require.Zero(t, l.failed.Load(), "every write was accepted during the outage")

	r.waitDrained()
	r.requireExactlyOnce()
	require.Equal(t, l.acked.Load(), r.DB.Count(t, "SELECT count(*) FROM order_events"))
}

// TestRelayLostPublishKeepsSubjectOrder proves that a publish whose
// acknowledgement never comes (lost on the wire, or timed out while the
// server stored it or not) cannot let a later message on the same subject
// overtake it: the relay has at most one unacknowledged message per subject,
// so the retry of the lost one still lands before its successors. Two orders
// interleave in one transaction (a1 b1 a2 b2 a3 b3 a4) and a2's first
// publish is lost; the stream must still hold each order's events in version
// order, each exactly once, and b's events are not held back.
func TestRelayLostPublishKeepsSubjectOrder(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.New()
	tx, err := r.DB.Admin.Begin(ctx)
	require.NoError(t, err)
	for _, row := range []struct {
		id      string
		order   uuid.UUID
		version int64
	}{{"a1", a, 1}, {"b1", b, 1}, {"lose", a, 2}, {"b2", b, 2}, {"a3", a, 3}, {"b3", b, 3}, {"a4", a, 4}} {
		insertRaw(t, tx, row.id, row.order, row.version)
	}
	require.NoError(t, tx.Commit(ctx))

	js := &lossyJS{JetStream: r.JS, lose: "lose"}
	m := outbox.NewMetrics(prometheus.NewRegistry())
	r.StartRelayOn(t, js, outbox.Options{Metrics: m})
	r.waitDrainedWithin(10 * time.Second)
	require.EqualValues(t, 1, js.lost.Load(), "the first publish of a2 was lost")
	require.EqualValues(t, 1, value(m.Failed), "the lost publish failed one round")
	r.requireExactlyOnce()
}

// lossyJS is a JetStream context that loses the first publish of the
// message whose Nats-Msg-Id is lose: the message never reaches the server
// and its future fails as an acknowledgement timeout would.
type lossyJS struct {
	jetstream.JetStream
	lose string
	lost atomic.Int64
}

func (j *lossyJS) PublishMsgAsync(msg *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	if rawMsgID(msg) == j.lose && j.lost.CompareAndSwap(0, 1) {
		return lostAck{msg}, nil
	}
	return j.JetStream.PublishMsgAsync(msg, opts...)
}

func rawMsgID(msg *nats.Msg) string { return msg.Header.Get(nats.MsgIdHdr) }

// lostAck is the future of a lost publish: no acknowledgement, and the
// error the client reports when its wait for one runs out.
type lostAck struct{ msg *nats.Msg }

func (l lostAck) Ok() <-chan *jetstream.PubAck { return nil }

func (l lostAck) Err() <-chan error {
	ch := make(chan error, 1)
	ch <- jetstream.ErrAsyncPublishTimeout
	return ch
}

func (l lostAck) Msg() *nats.Msg { return l.msg }

// TestRelayCrashBetweenPublishAndCursor proves that a relay that dies after
// JetStream acknowledged a batch but before it saved its cursor loses
// nothing and duplicates nothing: the next relay publishes the same rows
// again from the saved cursor, and JetStream drops the replays by
// Nats-Msg-Id.
func TestRelayCrashBetweenPublishAndCursor(t *testing.T) {
	r := newRig(t)
	l := r.startLoad(3, 1)
	r.waitAcked(l, 40)
	l.Stop()
	rows := r.DB.Count(t, "SELECT count(*) FROM outbox")
	require.Greater(t, rows, int64(10))

	const batch = 10
	crashed := make(chan int, 1)
	stop, done := r.StartRelay(t, outbox.Options{BatchSize: batch, AfterPublish: func(n int) error {
		crashed <- n
		return errors.New("killed before saving the cursor")
	}})
	select {
	case n := <-crashed:
		require.Equal(t, batch, n)
	case <-time.After(20 * time.Second):
		t.Fatal("the relay never published")
	}
	stop()
	err := <-done
	require.ErrorContains(t, err, "killed before saving the cursor", "Run returns the hook's error instead of going on")
	require.EqualValues(t, batch, r.streamCount(), "the first batch reached the stream")
	require.Equal(t, rows, r.pending(), "the cursor was not saved")
	first := r.streamMsgs()

	// New writes land while no relay runs, then a fresh relay takes over.
	l = r.startLoad(3, 10)
	r.waitAcked(l, 10)
	m := outbox.NewMetrics(prometheus.NewRegistry())
	r.StartRelay(t, outbox.Options{Metrics: m, BatchSize: batch})
	r.waitAcked(l, 20)
	l.Stop()

	r.waitDrained()
	msgs := r.requireExactlyOnce()
	require.Equal(t, first, msgs[:batch], "the republished first batch kept its place and was not stored again")
	require.Equal(t, float64(r.committed()), value(m.Published),
		"the new relay published every row from the saved cursor on, the first batch again (acknowledged as a duplicate)")
}

// TestRelayTwoRelaysOneLeader proves that relays sharing a database take
// turns: only one holds the lock and publishes at a time, the other stands
// by without publishing, and when the leader stops mid-stream the other
// takes over from the saved cursor, with every event delivered exactly once
// and none lost.
func TestRelayTwoRelaysOneLeader(t *testing.T) {
	r := newRig(t)
	ma := outbox.NewMetrics(prometheus.NewRegistry())
	mb := outbox.NewMetrics(prometheus.NewRegistry())
	opts := func(m *outbox.Metrics) outbox.Options {
		return outbox.Options{Metrics: m, BatchSize: 5, Standby: 20 * time.Millisecond}
	}
	stopA, _ := r.StartRelay(t, opts(ma))
	stopB, _ := r.StartRelay(t, opts(mb))
	leaders := func() float64 { return value(ma.Leader) + value(mb.Leader) }
	apitest.Eventually(t, 10*time.Second, func() bool { return leaders() == 1 }, "one leader")

	// Watch the leader gauges throughout: never two leaders (allowing for the
	// instant between one relay releasing the lock and clearing its gauge).
	var both atomic.Int64
	watchDone := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(watchDone)
		for ctx.Err() == nil {
			if leaders() > 1 {
				time.Sleep(20 * time.Millisecond)
				if leaders() > 1 {
					both.Add(1)
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()

	leader, standby, stopLeader := ma, mb, stopA
	if value(mb.Leader) == 1 {
		leader, standby, stopLeader = mb, ma, stopB
	}
	l := r.startLoad(6, 1)
	defer l.Stop()
	apitest.Eventually(t, 10*time.Second, func() bool { return value(leader.Published) >= 40 }, "the leader to publish")
	require.Zero(t, value(standby.Published), "the standby publishes nothing")
	require.Zero(t, value(standby.Leader))

	stopLeader()
	require.Zero(t, value(leader.Leader))
	apitest.Eventually(t, 10*time.Second, func() bool { return value(standby.Leader) == 1 }, "the standby to take over")
	published := value(leader.Published)
	r.waitAcked(l, 60)
	l.Stop()
	r.waitDrained()
	cancel()
	<-watchDone
	require.Zero(t, both.Load(), "two relays were leader at the same time")
	require.Equal(t, published, value(leader.Published), "the stopped leader published nothing more")
	require.Positive(t, value(standby.Published), "the new leader published")
	r.requireExactlyOnce()
}

// value reads a relay gauge or counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.Counter.GetValue()
}
