// Package outbox publishes committed changes to NATS JetStream. Writers put
// one outbox row per message in the transaction of the change; the relay
// reads the rows in commit-safe order, publishes them with Nats-Msg-Id so
// JetStream drops replays, and keeps its position in Postgres. Messages keep
// their order on each subject (an order's events, a station's tickets), even
// when a publish is lost and sent again; messages on different subjects are
// in flight together. A NATS outage
// or a crash delays delivery and never loses a message; only one relay
// publishes at a time, however many posd processes share the database. A
// message NATS refuses for good (too large, an invalid subject) is set aside
// in outbox_dead_letters, counted and logged, and delivery goes on with the
// next one: no message can hold back the others.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/natscontract"
	"github.com/posd/posd/internal/outbox/internal/relaydb"
	"github.com/posd/posd/internal/pgscope"
	"github.com/posd/posd/internal/pgtypes"
)

// StreamName is the JetStream stream that holds every posd message (the
// contract's, internal/natscontract).
const StreamName = natscontract.StreamName

// Stream settings. The duplicate window must outlast the relay's worst retry:
// a message whose ack was lost is published again when NATS is back, and
// JetStream only recognises the replay within the window.
const (
	StreamMaxAge     = 7 * 24 * time.Hour
	DuplicateWindow  = 24 * time.Hour
	lockKey          = int64(0x706f73640001) // "posd" + 1: the relay's advisory lock
	cursorName       = CursorName
	defaultBatch     = 500
	defaultPoll      = 50 * time.Millisecond
	kickCoalesce     = time.Millisecond
	defaultStandby   = time.Second
	maxBackoff       = 5 * time.Second
	ackTimeout       = 5 * time.Second
	lagEvery         = time.Second
	measureTimeout   = 5 * time.Second
	pruneEvery       = time.Minute
	defaultRetention = 24 * time.Hour
)

// CursorName is the relay's row in outbox_cursor (audit verify reads it to
// tell rows in flight from rows the relay has passed).
const CursorName = "relay"

// MaxMessageBytes bounds the body of every message posd puts in the outbox,
// half of NATS's default max_payload (1 MiB) so headers and a server with a
// smaller limit leave room. Writers refuse a change whose message would be
// larger; kitchen tickets are split well below it (kitchen.MaxTicketLines,
// kitchen.MaxTicketLineBytes).
const MaxMessageBytes = 512 << 10

// Headers every message carries besides Nats-Msg-Id (defined by the
// contract, internal/natscontract).
const (
	HeaderVenue        = natscontract.HeaderVenue
	HeaderOrderID      = natscontract.HeaderOrderID
	HeaderOrderVersion = natscontract.HeaderOrderVersion
	HeaderType         = natscontract.HeaderType
	HeaderPosition     = natscontract.HeaderPosition
)

// Metrics are the relay's instruments.
type Metrics struct {
	Published prometheus.Counter
	Failed    prometheus.Counter
	Lag       prometheus.Gauge
	Leader    prometheus.Gauge
	Delivery  prometheus.Histogram
	// SetAside counts messages NATS refused for good, moved to the dead
	// letters; DeadLetters is how many of those are not replayed yet.
	SetAside    prometheus.Counter
	DeadLetters prometheus.Gauge
}

// NewMetrics registers the relay's instruments in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{Name: "posd_outbox_published_total",
			Help: "Outbox messages published and acknowledged by JetStream."}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "posd_outbox_publish_failures_total",
			Help: "Failed outbox publish attempts that are retried (NATS unreachable or slow)."}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_outbox_lag_seconds",
			Help: "Age of the oldest committed outbox message not yet published (0 when caught up), measured in Postgres every second whether or not publishing works."}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_outbox_relay_leader",
			Help: "1 while this process holds the relay lock and publishes."}),
		Delivery: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "posd_outbox_delivery_seconds",
			Help:    "Time from an outbox row's insert to its JetStream acknowledgement.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}),
	}
	m.SetAside = prometheus.NewCounter(prometheus.CounterOpts{Name: "posd_outbox_dead_letters_total",
		Help: "Outbox messages NATS refused for good (too large, invalid), set aside in outbox_dead_letters so later messages go on."})
	m.DeadLetters = prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_outbox_dead_letters",
		Help: "Messages in outbox_dead_letters not replayed yet (posd outbox dead-letters lists them)."})
	reg.MustRegister(m.Published, m.Failed, m.Lag, m.Leader, m.Delivery, m.SetAside, m.DeadLetters)
	return m
}

// Options configure a Relay; zero values take defaults.
type Options struct {
	// BatchSize is how many rows are read and published at a time.
	BatchSize int
	// Poll is how long an idle relay waits before looking again when
	// nothing wakes it (Kick wakes it at once).
	Poll time.Duration
	// Standby is how often a relay without the lock tries to take it.
	Standby time.Duration
	// Retention is how long published rows stay in the outbox.
	Retention time.Duration
	// Replicas is the POS stream's replica count (1 for one server).
	Replicas int
	Log      zerolog.Logger
	Metrics  *Metrics
	// AfterPublish, when set, runs after a batch is settled (acknowledged,
	// or refused for good and about to be set aside) and before the cursor
	// is saved. An error stops the relay there, as a crash would.
	// It is a seam for tests.
	AfterPublish func(published int) error
}

// Relay moves committed outbox rows to JetStream.
type Relay struct {
	connCfg *pgx.ConnConfig
	js      jetstream.JetStream
	o       Options
	q       *relaydb.Queries
	wake    chan struct{}
}

// Kick tells the relay that something was committed, so it looks now rather
// than at its next poll. It never blocks. Writes of other processes are
// found by the poll.
func (r *Relay) Kick() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// New returns a relay that takes its lock and reads the outbox through its
// own connection made from connCfg, and publishes through js.
func New(connCfg *pgx.ConnConfig, js jetstream.JetStream, o Options) *Relay {
	if o.BatchSize <= 0 {
		o.BatchSize = defaultBatch
	}
	if o.Poll <= 0 {
		o.Poll = defaultPoll
	}
	if o.Standby <= 0 {
		o.Standby = defaultStandby
	}
	if o.Retention <= 0 {
		o.Retention = defaultRetention
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	return &Relay{connCfg: connCfg, js: js, o: o, q: relaydb.New(), wake: make(chan struct{}, 1)}
}

// errCrash marks an AfterPublish failure: Run returns instead of retrying.
type errCrash struct{ err error }

func (e errCrash) Error() string { return "relay stopped by hook: " + e.err.Error() }

// Run publishes until ctx is cancelled. It retries every failure with
// back-off; it returns nil on cancellation (or the hook's error).
func (r *Relay) Run(ctx context.Context) error {
	lagCtx, stopLag := context.WithCancel(ctx)
	lagDone := make(chan struct{})
	go func() {
		defer close(lagDone)
		r.measureLag(lagCtx)
	}()
	defer func() {
		stopLag()
		<-lagDone
	}()
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.lead(ctx)
		r.o.Metrics.Leader.Set(0)
		var crash errCrash
		if errors.As(err, &crash) {
			return crash
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			r.o.Log.Warn().Err(err).Dur("retry_in", backoff).Msg("outbox relay interrupted")
			sleep(ctx, backoff)
			backoff = min(backoff*2, maxBackoff)
			continue
		}
		backoff = 100 * time.Millisecond
	}
	return nil
}

// lead connects, waits to hold the relay lock, then pumps. The lock is a
// session advisory lock: it is released when this connection ends, however
// the process ends, and the next relay takes over from the saved cursor.
func (r *Relay) lead(ctx context.Context) error {
	conn, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// The relay's own writes (cursor saves, pruning) need not wait for the
	// WAL flush: a cursor lost in a Postgres crash only means some messages
	// are published again, and JetStream drops the replays. Without this
	// every batch costs a flush, which under load rivals the writes
	// themselves.
	if _, err := conn.Exec(ctx, "SET synchronous_commit TO off"); err != nil {
		return fmt.Errorf("configure relay connection: %w", err)
	}
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got); err != nil {
			return fmt.Errorf("take relay lock: %w", err)
		}
		if got {
			break
		}
		if !sleep(ctx, r.o.Standby) {
			return nil
		}
	}
	if _, err := EnsureStream(ctx, r.js, r.o.Replicas); err != nil {
		return err
	}
	r.o.Metrics.Leader.Set(1)
	r.o.Log.Info().Msg("outbox relay is the publisher")
	return r.pump(ctx, conn)
}

// connect opens a relay connection. The relay publishes every venue's
// messages: its connection works outside row-level security's venue scope.
// The policy's "venue matches or system scope" condition looks selective to
// the planner, which then prefers a bitmap scan and a sort of the whole
// backlog to walking the (txid, id) index and stopping at the batch size; on
// this connection, which only ever runs the relay's index-shaped queries,
// those plans are switched off. A plan without them costs 10^10 to the
// planner, far past jit_above_cost, so JIT is switched off too: compiling
// the dead-letter count (a table that is nearly always empty) took
// 60-160 ms of CPU at every gauge poll, once a second.
func (r *Relay) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, r.connCfg)
	if err == nil {
		pgtypes.Register(conn.TypeMap())
	}
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	for _, stmt := range []string{pgscope.SystemSession, "SET enable_bitmapscan TO off", "SET enable_seqscan TO off", "SET jit TO off"} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			conn.Close(context.Background())
			return nil, fmt.Errorf("configure relay connection: %w", err)
		}
	}
	return conn, nil
}

// measureLag sets the lag and dead-letter gauges from Postgres every
// lagEvery until ctx ends, on a connection of its own: the age of the
// oldest unpublished row is measured, never inferred from publishing, so it
// rises while NATS is down or the publisher is stuck or gone. When Postgres
// cannot be reached the gauges keep their last values; the first failure of
// a run of them is logged, and so is the recovery.
func (r *Relay) measureLag(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	failing := false
	for {
		err := r.measure(ctx, &conn)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			r.o.Log.Warn().Err(err).Msg("outbox lag and dead-letter gauges not measured; keeping their last values")
		case err == nil && failing:
			failing = false
			r.o.Log.Info().Msg("outbox lag and dead-letter gauges measured again")
		}
		if !sleep(ctx, lagEvery) {
			return
		}
	}
}

// measure runs one round of measureLag on *conn, connecting first when it
// is nil and dropping it after a failed query.
func (r *Relay) measure(ctx context.Context, conn **pgx.Conn) error {
	qctx, cancel := context.WithTimeout(ctx, measureTimeout)
	defer cancel()
	if *conn == nil {
		c, err := r.connect(qctx)
		if err != nil {
			return err
		}
		*conn = c
	}
	lag, err := r.q.RelayLagSeconds(qctx, *conn, cursorName)
	var dead int64
	if err == nil {
		dead, err = r.q.CountDeadLetters(qctx, *conn)
	}
	if err != nil {
		(*conn).Close(context.Background())
		*conn = nil
		return fmt.Errorf("measure lag: %w", err)
	}
	r.o.Metrics.Lag.Set(lag)
	r.o.Metrics.DeadLetters.Set(float64(dead))
	return nil
}

// pump publishes batches until ctx ends or something fails.
func (r *Relay) pump(ctx context.Context, conn *pgx.Conn) error {
	cur, err := r.q.GetOutboxCursor(ctx, conn, cursorName)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	txid, id := cur.Txid, cur.ID
	var lastPrune time.Time
	for ctx.Err() == nil {
		rows, err := r.q.OutboxBatch(ctx, conn, relaydb.OutboxBatchParams{AfterTxid: txid, AfterID: id, BatchSize: int32(r.o.BatchSize)})
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(rows) > 0 {
			n, dead, perr := r.publish(ctx, rows)
			if n > 0 {
				if r.o.AfterPublish != nil {
					if herr := r.o.AfterPublish(n); herr != nil {
						return errCrash{herr}
					}
				}
				last := rows[n-1]
				if err := r.advance(ctx, conn, rows, dead, last); err != nil {
					return err
				}
				txid, id = last.Txid, last.ID
			}
			if perr != nil {
				r.o.Metrics.Failed.Inc()
				return fmt.Errorf("publish: %w", perr)
			}
		}
		if time.Since(lastPrune) > pruneEvery {
			if n, err := r.q.PruneOutbox(ctx, conn, relaydb.PruneOutboxParams{Name: cursorName, Before: time.Now().Add(-r.o.Retention)}); err != nil {
				r.o.Log.Warn().Err(err).Msg("prune outbox")
			} else if n > 0 {
				r.o.Log.Debug().Int64("rows", n).Msg("pruned published outbox rows")
			}
			lastPrune = time.Now()
		}
		if len(rows) < r.o.BatchSize && !r.idle(ctx) {
			return nil
		}
	}
	return nil
}

// publish sends rows asynchronously and waits for their acks. It returns
// how many leading rows are settled: acknowledged, or refused for good (dead
// maps their index to the error; they are set aside, and the rows after them
// go on). On a failure that may pass (NATS unreachable, a lost or late
// acknowledgement) it stops there and the rest are published again on the
// next attempt (JetStream drops the replays of any that did arrive).
//
// Order matters per subject only, so rows on different subjects are
// pipelined, and each subject has at most one message waiting for its
// acknowledgement: the next row on a subject is sent once the one before it
// has settled. A lost publish therefore never lets its successor reach the
// stream first, which would put the retry after it and break version order
// for every consumer of that subject.
func (r *Relay) publish(ctx context.Context, rows []relaydb.OutboxBatchRow) (settled int, dead map[int]error, err error) {
	type slot struct {
		msg    *nats.Msg
		f      jetstream.PubAckFuture
		sentAt time.Time
		dead   error // refused for good before it was sent
		next   int   // the next row on the same subject, or -1
	}
	slots := make([]slot, len(rows))
	var stopped error // a send failed in a way that may pass: send no more
	// send publishes row i, or, if NATS refuses it for good, sets it aside
	// and goes on with the next row on its subject.
	send := func(i int) {
		for ; i >= 0 && stopped == nil; i = slots[i].next {
			f, err := r.js.PublishMsgAsync(slots[i].msg)
			switch {
			case err == nil:
				slots[i].f, slots[i].sentAt = f, time.Now()
				return
			case permanent(err):
				slots[i].dead = err
			default:
				stopped = err
			}
		}
	}
	tail := make(map[string]int, len(rows)) // subject -> its last row so far
	for i, row := range rows {
		slots[i].next = -1
		if perr := invalidSubject(row.Subject); perr != nil {
			slots[i].dead = perr
			continue
		}
		slots[i].msg = message(row)
		if j, busy := tail[row.Subject]; busy {
			slots[j].next = i // sent when row j settles
		} else {
			send(i)
		}
		tail[row.Subject] = i
	}
	timeout := time.NewTimer(ackTimeout)
	defer timeout.Stop()
	for i := range slots {
		s := &slots[i]
		if s.dead != nil {
			dead = setAside(dead, i, s.dead)
			continue
		}
		if s.f == nil {
			// Every earlier row on its subject has settled, so it was sent
			// unless sending stopped.
			if stopped == nil {
				stopped = errors.New("outbox row was never sent")
			}
			return i, dead, stopped
		}
		timeout.Reset(time.Until(s.sentAt.Add(ackTimeout)))
		select {
		case <-s.f.Ok():
			r.o.Metrics.Published.Inc()
			r.o.Metrics.Delivery.Observe(time.Since(rows[i].CreatedAt).Seconds())
		case err := <-s.f.Err():
			if !permanent(err) {
				return i, dead, err
			}
			dead = setAside(dead, i, err)
		case <-timeout.C:
			return i, dead, errors.New("timed out waiting for JetStream acknowledgement")
		case <-ctx.Done():
			return i, dead, ctx.Err()
		}
		send(s.next)
	}
	return len(slots), dead, nil
}

// message is the NATS message of an outbox row: its payload, with the
// headers consumers de-duplicate and order by.
func message(row relaydb.OutboxBatchRow) *nats.Msg {
	msg := nats.NewMsg(row.Subject)
	msg.Data = row.Payload
	msg.Header.Set(natscontract.HeaderMsgID, row.MsgID)
	msg.Header.Set(HeaderVenue, row.VenueID)
	msg.Header.Set(HeaderOrderID, row.OrderID.String())
	msg.Header.Set(HeaderOrderVersion, strconv.FormatInt(row.OrderVersion, 10))
	msg.Header.Set(HeaderType, row.MsgType)
	msg.Header.Set(HeaderPosition, row.Txid+":"+strconv.FormatInt(row.ID, 10))
	return msg
}

func setAside(dead map[int]error, i int, err error) map[int]error {
	if dead == nil {
		dead = map[int]error{}
	}
	dead[i] = err
	return dead
}

// permanent reports whether a publish error recurs however often the same
// message is retried: it is larger than the server's max_payload, or
// JetStream refused it as a bad request (for example a message over the
// stream's maximum size). NATS unreachable, slow, or without JetStream for
// a while is not permanent.
func permanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
		return true
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == 400 || apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum
	}
	return false
}

// invalidSubject refuses a subject NATS cannot take for a publish: an empty
// token, whitespace or control characters (which would break the protocol
// line and drop the connection), or a wildcard.
func invalidSubject(subject string) error {
	for _, tok := range strings.Split(subject, ".") {
		if tok == "" || tok == "*" || tok == ">" || strings.IndexFunc(tok, func(c rune) bool { return c <= ' ' || c == 0x7f }) >= 0 {
			return fmt.Errorf("%w: %q", nats.ErrBadSubject, subject)
		}
	}
	return nil
}

// advance sets aside the rows NATS refused for good and moves the cursor to
// last, in one transaction: a row leaves the relay's path only once its copy
// and error are stored. Each set-aside row is logged and counted.
func (r *Relay) advance(ctx context.Context, conn *pgx.Conn, rows []relaydb.OutboxBatchRow, dead map[int]error, last relaydb.OutboxBatchRow) error {
	save := func(db relaydb.DBTX) error {
		if _, err := r.q.SaveOutboxCursor(ctx, db, relaydb.SaveOutboxCursorParams{Txid: last.Txid, ID: last.ID, Name: cursorName}); err != nil {
			return fmt.Errorf("save cursor: %w", err)
		}
		return nil
	}
	if len(dead) == 0 {
		// The usual case: one statement, no BEGIN/COMMIT round trips.
		return save(conn)
	}
	var stored int64
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		var p relaydb.SetAsideOutboxParams
		for i, err := range dead {
			p.Ids = append(p.Ids, rows[i].ID)
			p.Errors = append(p.Errors, err.Error())
		}
		n, err := r.q.SetAsideOutbox(ctx, tx, p)
		if err != nil {
			return fmt.Errorf("set aside outbox rows: %w", err)
		}
		stored = n
		return save(tx)
	})
	if err != nil {
		return err
	}
	// The gauge shows new dead letters at once; measureLag's next count
	// from Postgres stays the authority (replays, other replicas).
	r.o.Metrics.DeadLetters.Add(float64(stored))
	for i, derr := range dead {
		row := rows[i]
		r.o.Metrics.SetAside.Inc()
		r.o.Log.Error().Err(derr).Str("venue", row.VenueID).Str("order_id", row.OrderID.String()).
			Int64("version", row.OrderVersion).Int64("outbox_id", row.ID).Str("subject", row.Subject).
			Str("msg_id", row.MsgID).Int("bytes", len(row.Payload)).
			Msg("outbox message refused by NATS for good; set aside in outbox_dead_letters, delivery goes on")
	}
	return nil
}

// idle waits for a kick or the poll interval; it reports whether ctx is
// still live.
func (r *Relay) idle(ctx context.Context) bool {
	t := time.NewTimer(r.o.Poll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-r.wake:
		// Let the other writes committing right now join this batch: one
		// read for several commits instead of one each.
		return sleep(ctx, kickCoalesce)
	case <-t.C:
		return true
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
