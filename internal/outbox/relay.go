// Package outbox publishes committed changes to NATS JetStream. Writers put
// one outbox row per message in the transaction of the change; the relay
// reads the rows in commit-safe order, publishes them with Nats-Msg-Id so
// JetStream drops replays, and keeps its position in Postgres. A NATS outage
// or a crash delays delivery and never loses a message; only one relay
// publishes at a time, however many posd processes share the database.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/pgscope"
)

// StreamName is the JetStream stream that holds every posd message.
const StreamName = "POS"

// Stream settings. The duplicate window must outlast the relay's worst retry:
// a message whose ack was lost is published again when NATS is back, and
// JetStream only recognises the replay within the window.
const (
	StreamMaxAge     = 7 * 24 * time.Hour
	DuplicateWindow  = 24 * time.Hour
	lockKey          = int64(0x706f73640001) // "posd" + 1: the relay's advisory lock
	cursorName       = "relay"
	defaultBatch     = 500
	defaultPoll      = 50 * time.Millisecond
	kickCoalesce     = time.Millisecond
	defaultStandby   = time.Second
	maxBackoff       = 5 * time.Second
	ackTimeout       = 5 * time.Second
	lagEvery         = time.Second
	pruneEvery       = time.Minute
	defaultRetention = 24 * time.Hour
)

// Headers every message carries besides Nats-Msg-Id.
const (
	HeaderVenue        = "Posd-Venue"
	HeaderOrderID      = "Posd-Order-Id"
	HeaderOrderVersion = "Posd-Order-Version"
	HeaderType         = "Posd-Type"
	HeaderPosition     = "Posd-Outbox-Position"
)

// Metrics are the relay's instruments.
type Metrics struct {
	Published prometheus.Counter
	Failed    prometheus.Counter
	Lag       prometheus.Gauge
	Leader    prometheus.Gauge
	Delivery  prometheus.Histogram
}

// NewMetrics registers the relay's instruments in reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Published: prometheus.NewCounter(prometheus.CounterOpts{Name: "posd_outbox_published_total",
			Help: "Outbox messages published and acknowledged by JetStream."}),
		Failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "posd_outbox_publish_failures_total",
			Help: "Failed outbox publish attempts (each is retried)."}),
		Lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_outbox_lag_seconds",
			Help: "Age of the oldest committed outbox message not yet published (0 when caught up)."}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "posd_outbox_relay_leader",
			Help: "1 while this process holds the relay lock and publishes."}),
		Delivery: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "posd_outbox_delivery_seconds",
			Help:    "Time from an outbox row's insert to its JetStream acknowledgement.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30}}),
	}
	reg.MustRegister(m.Published, m.Failed, m.Lag, m.Leader, m.Delivery)
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
	// AfterPublish, when set, runs after a batch is acknowledged and before
	// the cursor is saved. An error stops the relay there, as a crash would.
	// It is a seam for tests.
	AfterPublish func(published int) error
}

// Relay moves committed outbox rows to JetStream.
type Relay struct {
	connCfg *pgx.ConnConfig
	js      jetstream.JetStream
	o       Options
	q       *dbsqlc.Queries
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
	return &Relay{connCfg: connCfg, js: js, o: o, q: dbsqlc.New(), wake: make(chan struct{}, 1)}
}

// errCrash marks an AfterPublish failure: Run returns instead of retrying.
type errCrash struct{ err error }

func (e errCrash) Error() string { return "relay stopped by hook: " + e.err.Error() }

// Run publishes until ctx is cancelled. It retries every failure with
// back-off; it returns nil on cancellation (or the hook's error).
func (r *Relay) Run(ctx context.Context) error {
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
	conn, err := pgx.ConnectConfig(ctx, r.connCfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	// The relay publishes every venue's messages: its connection works
	// outside row-level security's venue scope. The policy's "venue matches
	// or system scope" condition looks selective to the planner, which then
	// prefers a bitmap scan and a sort of the whole backlog to walking the
	// (txid, id) index and stopping at the batch size; on this connection,
	// which only ever runs the relay's index-shaped queries, those plans are
	// switched off.
	for _, stmt := range []string{pgscope.SystemSession, "SET enable_bitmapscan TO off", "SET enable_seqscan TO off"} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("configure relay connection: %w", err)
		}
	}
	// The relay's own writes (cursor saves, pruning) need not wait for the
	// WAL flush: a cursor lost in a Postgres crash only means some messages
	// are published again, and JetStream drops the replays. Without this
	// every batch costs a flush, which under load rivals the writes
	// themselves.
	if _, err := conn.Exec(ctx, "SET synchronous_commit TO off"); err != nil {
		return fmt.Errorf("configure relay connection: %w", err)
	}
	lastLag := time.Time{}
	for {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey).Scan(&got); err != nil {
			return fmt.Errorf("take relay lock: %w", err)
		}
		if got {
			break
		}
		if time.Since(lastLag) > lagEvery {
			r.updateLag(ctx, conn)
			lastLag = time.Now()
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

// pump publishes batches until ctx ends or something fails.
func (r *Relay) pump(ctx context.Context, conn *pgx.Conn) error {
	cur, err := r.q.GetOutboxCursor(ctx, conn, cursorName)
	if err != nil {
		return fmt.Errorf("read cursor: %w", err)
	}
	txid, id := cur.Txid, cur.ID
	var lastLag, lastPrune time.Time
	for ctx.Err() == nil {
		rows, err := r.q.OutboxBatch(ctx, conn, dbsqlc.OutboxBatchParams{AfterTxid: txid, AfterID: id, BatchSize: int32(r.o.BatchSize)})
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		if len(rows) > 0 {
			n, perr := r.publish(ctx, rows)
			if n > 0 {
				if r.o.AfterPublish != nil {
					if herr := r.o.AfterPublish(n); herr != nil {
						return errCrash{herr}
					}
				}
				last := rows[n-1]
				if _, err := r.q.SaveOutboxCursor(ctx, conn, dbsqlc.SaveOutboxCursorParams{Txid: last.Txid, ID: last.ID, Name: cursorName}); err != nil {
					return fmt.Errorf("save cursor: %w", err)
				}
				txid, id = last.Txid, last.ID
			}
			if perr != nil {
				r.o.Metrics.Failed.Inc()
				return fmt.Errorf("publish: %w", perr)
			}
		}
		if time.Since(lastLag) > lagEvery {
			r.updateLag(ctx, conn)
			lastLag = time.Now()
		}
		if time.Since(lastPrune) > pruneEvery {
			if n, err := r.q.PruneOutbox(ctx, conn, dbsqlc.PruneOutboxParams{Name: cursorName, Before: time.Now().Add(-r.o.Retention)}); err != nil {
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

// publish sends rows asynchronously in order and waits for their acks. It
// returns how many leading rows were acknowledged; on a failure the rest are
// published again on the next attempt (JetStream drops the replays of any
// that did arrive).
func (r *Relay) publish(ctx context.Context, rows []dbsqlc.OutboxBatchRow) (int, error) {
	futures := make([]jetstream.PubAckFuture, 0, len(rows))
	var sendErr error
	for _, row := range rows {
		msg := nats.NewMsg(row.Subject)
		msg.Data = row.Payload
		msg.Header.Set(jetstream.MsgIDHeader, row.MsgID)
		msg.Header.Set(HeaderVenue, row.VenueID)
		msg.Header.Set(HeaderOrderID, row.OrderID.String())
		msg.Header.Set(HeaderOrderVersion, strconv.FormatInt(row.OrderVersion, 10))
		msg.Header.Set(HeaderType, row.MsgType)
		msg.Header.Set(HeaderPosition, row.Txid+":"+strconv.FormatInt(row.ID, 10))
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			sendErr = err
			break
		}
		futures = append(futures, f)
	}
	timeout := time.NewTimer(ackTimeout)
	defer timeout.Stop()
	for i, f := range futures {
		select {
		case <-f.Ok():
			r.o.Metrics.Published.Inc()
			r.o.Metrics.Delivery.Observe(time.Since(rows[i].CreatedAt).Seconds())
		case err := <-f.Err():
			return i, err
		case <-timeout.C:
			return i, errors.New("timed out waiting for JetStream acknowledgement")
		case <-ctx.Done():
			return i, ctx.Err()
		}
	}
	return len(futures), sendErr
}

func (r *Relay) updateLag(ctx context.Context, conn *pgx.Conn) {
	lag, err := r.q.RelayLagSeconds(ctx, conn, cursorName)
	if err == nil {
		r.o.Metrics.Lag.Set(lag)
	}
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
