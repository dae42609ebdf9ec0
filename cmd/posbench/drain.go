package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The drain scenario measures how fast the outbox relay works off a backlog.
// With posd idle, posbench inserts Drain outbox rows as the superuser in one
// transaction. They have the shape and size of posd's order events (subject
// pos.demo.order.<order>, type order.patched, a unique msg_id, a payload that
// is an order event's JSON, about 480 bytes). While that transaction is open
// the relay cannot pass it (it reads only below the oldest running
// transaction), so the whole backlog becomes visible at once at the commit.
// The drain time runs from the commit's return to the moment the relay's
// saved cursor (outbox_cursor 'relay') reaches the last row, polled every
// drainPoll. posd's commits kick the relay; this one does not, so the relay
// finds the backlog at its next idle poll (at most 50 ms).

const (
	drainPoll    = 10 * time.Millisecond
	drainTimeout = 5 * time.Minute
	// drainOrders is how many orders the backlog's events belong to.
	drainOrders = 1000
)

// drainResult is the drain measurement.
type drainResult struct {
	Events int
	// Insert is how long the backlog's transaction took, commit included.
	Insert time.Duration
	// FirstProgress is from the commit to the cursor's first move into the
	// backlog; Drain from the commit to the cursor at its last row.
	FirstProgress, Drain time.Duration
	Rate                 float64 // Events / Drain
	// StreamBefore and StreamAfter are the POS stream's message counts.
	StreamBefore, StreamAfter uint64
	PayloadBytes              int
	CPU                       cpuUse
	PG                        *pgCounters
	Error                     string
}

// drainPayload is an order event's JSON as posd encodes it (order.Event with
// its chain hash), with %[n]s for the event id, order id, version, time and
// line id; the hash is the event id's digest.
const drainPayload = `{"id":"%1$s","venue":"demo","order_id":"%2$s","version":%3$s,"type":"order.patched",` +
	`"at":"%4$s","actor":{"device":"waiter-1","staff":"Alice","role":"waiter"},"ops":[{"op":"add_item",` +
	`"line_id":"%5$s","sku":"burger","name":"Bistro burger","unit_price_cents":1600,"station":"grill",` +
	`"qty":1,"seat":0,"course":1,"note":""}],"forced":false,"overridden_version":null,"hash":"%6$s"}`

// runDrain inserts n outbox rows in one transaction and times the relay
// through them.
func runDrain(ctx context.Context, superURL, natsURL string, n int, smp *sampler) (drainResult, error) {
	res := drainResult{Events: n}
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	stream, closeNATS, err := posStream(ctx, natsURL)
	if err != nil {
		return res, err
	}
	defer closeNATS()

	// Start from an idle relay: everything committed so far published.
	if err := waitRelayIdle(ctx, conn); err != nil {
		return res, err
	}
	if res.StreamBefore, err = streamMsgs(ctx, stream); err != nil {
		return res, err
	}

	start := time.Now()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return res, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var lastTxid string
	var firstID, lastID int64
	err = tx.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
			SELECT 'demo', 'pos.demo.order.' || e.order_id, e.id::text, 'order.patched', e.order_id, e.version,
			       convert_to(format($2::text, e.id, e.order_id, e.version,
			                         to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
			                         gen_random_uuid(), encode(sha256(e.id::text::bytea), 'hex')), 'UTF8')
			FROM (SELECT gen_random_uuid() AS id, o.order_id, g / $3::int + 2 AS version
			      FROM generate_series(0, $1::int - 1) g
			      JOIN (SELECT i, gen_random_uuid() AS order_id FROM generate_series(0, $3::int - 1) i) o
			        ON o.i = g % $3::int
			      ORDER BY g) e
			RETURNING id, txid, length(payload) AS size
		)
		SELECT min(id), max(id), min(txid::text), avg(size)::int FROM ins`, n, drainPayload, drainOrders).
		Scan(&firstID, &lastID, &lastTxid, &res.PayloadBytes)
	if err != nil {
		return res, fmt.Errorf("insert the backlog: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit the backlog: %w", err)
	}
	committed := time.Now()
	res.Insert = committed.Sub(start)
	pgBefore, pgErr := readPgCounters(ctx, conn)

	deadline := committed.Add(drainTimeout)
	for {
		var reached, entered bool
		err := conn.QueryRow(ctx, `
			SELECT (txid, id) >= ($1::text::xid8, $2::bigint), (txid, id) >= ($1::text::xid8, $3::bigint)
			FROM outbox_cursor WHERE name = 'relay'`, lastTxid, lastID, firstID).Scan(&reached, &entered)
		if err != nil {
			return res, fmt.Errorf("read the relay's cursor: %w", err)
		}
		now := time.Now()
		if entered && res.FirstProgress == 0 {
			res.FirstProgress = now.Sub(committed)
		}
		if reached {
			res.Drain = now.Sub(committed)
			break
		}
		if now.After(deadline) {
			res.Error = fmt.Sprintf("the relay had not reached the backlog's last row after %s", drainTimeout)
			break
		}
		if err := sleepCtx(ctx, drainPoll); err != nil {
			return res, err
		}
	}
	end := time.Now()
	res.CPU = smp.window(committed, end)
	if res.Drain > 0 {
		res.Rate = float64(n) / res.Drain.Seconds()
	}
	// Let the backends publish their counters (see pgCounters).
	if err := sleepCtx(ctx, 1100*time.Millisecond); err != nil {
		return res, err
	}
	if pgAfter, err := readPgCounters(ctx, conn); err == nil && pgErr == nil {
		res.PG = &pgCounters{
			Commits: pgAfter.Commits - pgBefore.Commits, Rollbacks: pgAfter.Rollbacks - pgBefore.Rollbacks,
			WALRecords: pgAfter.WALRecords - pgBefore.WALRecords, WALBytes: pgAfter.WALBytes - pgBefore.WALBytes,
			WALSyncs: pgAfter.WALSyncs - pgBefore.WALSyncs,
		}
	}
	if res.StreamAfter, err = streamMsgs(ctx, stream); err != nil {
		return res, err
	}
	return res, nil
}

// waitRelayIdle waits until the relay's cursor is at the last outbox row.
func waitRelayIdle(ctx context.Context, conn *pgx.Conn) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var idle bool
		err := conn.QueryRow(ctx, `
			SELECT NOT EXISTS (SELECT FROM outbox o, outbox_cursor c
			                   WHERE c.name = 'relay' AND (o.txid, o.id) > (c.txid, c.id))`).Scan(&idle)
		if err != nil {
			return fmt.Errorf("compare the outbox with the relay's cursor: %w", err)
		}
		if idle {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the outbox relay did not catch up within 30s before the drain")
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// posStream connects to NATS and returns posd's POS stream.
func posStream(ctx context.Context, url string) (jetstream.Stream, func(), error) {
	nc, err := nats.Connect(url, nats.Name("posbench-drain"))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to NATS %s: %w", url, err)
	}
	js, err := jetstream.New(nc)
	if err == nil {
		var s jetstream.Stream
		if s, err = js.Stream(ctx, "POS"); err == nil {
			return s, nc.Close, nil
		}
	}
	nc.Close()
	return nil, nil, fmt.Errorf("open JetStream stream POS: %w", err)
}

// streamMsgs is the stream's current message count.
func streamMsgs(ctx context.Context, s jetstream.Stream) (uint64, error) {
	info, err := s.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return info.State.Msgs, nil
}
