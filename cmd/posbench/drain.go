package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/benchkit"
)

// The drain scenario measures how fast the outbox relay works off a backlog.
// With posd idle and its relay caught up, posbench inserts Drain outbox rows
// shaped like posd's order events (subject pos.demo.order.<order>, a unique
// msg_id, an event's JSON as payload) as the superuser in one transaction:
// the relay reads only below the oldest running transaction, so the whole
// backlog becomes visible at the commit. The drain runs from the commit to
// the relay's saved cursor reaching the last row (polled every drainPoll);
// then the POS stream must hold exactly one message per row on the backlog's
// subjects.

const (
	drainPoll    = 10 * time.Millisecond
	drainTimeout = 5 * time.Minute
)

type drainResult struct {
	Events int
	Orders int // the subjects the events are spread over, in turn
	// Insert is the backlog's transaction, commit included; FirstProgress
	// and Drain run from the commit to the cursor's first move into the
	// backlog and to its last row.
	Insert, FirstProgress, Drain time.Duration
	Rate                         float64 // Events / Drain
	StreamBefore, StreamAfter    uint64  // the POS stream's messages
	// Published is the messages the stream holds on the backlog's subjects.
	Published    int
	PayloadBytes int
	CPU          benchkit.Use
	PG           *benchkit.PGCounters
	Error        string
}

// drainPayload is an order event's JSON as posd encodes it, with %[n]s for
// the event id, order id, version, time, line id and hash.
const drainPayload = `{"id":"%1$s","venue":"demo","order_id":"%2$s","version":%3$s,"type":"order.patched",` +
	`"at":"%4$s","actor":{"device":"waiter-1","staff":"Alice","role":"waiter"},"ops":[{"op":"add_item",` +
	`"line_id":"%5$s","sku":"burger","name":"Bistro burger","unit_price_cents":1600,"station":"grill",` +
	`"qty":1,"seat":0,"course":1,"note":""}],"forced":false,"overridden_version":null,"hash":"%6$s"}`

func runDrain(ctx context.Context, superURL, natsURL string, n, nOrders int, smp *benchkit.Sampler) (drainResult, error) {
	res := drainResult{Events: n, Orders: nOrders}
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Start from an idle relay: everything committed so far published.
	idle, err := benchkit.Poll(ctx, 50*time.Millisecond, 30*time.Second, func() (idle bool, err error) {
		return idle, conn.QueryRow(ctx, `SELECT NOT EXISTS (SELECT FROM outbox o, outbox_cursor c
			WHERE c.name = 'relay' AND (o.txid, o.id) > (c.txid, c.id))`).Scan(&idle)
	})
	if err == nil && !idle {
		err = errors.New("the outbox relay did not catch up within 30s before the drain")
	}
	if err != nil {
		return res, err
	}
	if res.StreamBefore, _, err = benchkit.StreamMessages(ctx, natsURL, "POS", ""); err != nil {
		return res, err
	}

	orders := make([]uuid.UUID, nOrders)
	for i := range orders {
		orders[i] = uuid.New()
	}
	start := time.Now()
	var firstTxid string
	var firstID, lastID int64
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			WITH ins AS (
				INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
				SELECT 'demo', 'pos.demo.order.' || e.order_id, e.id::text, 'order.patched', e.order_id, e.version,
				       convert_to(format($2::text, e.id, e.order_id, e.version,
				                         to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
				                         gen_random_uuid(), encode(sha256(e.id::text::bytea), 'hex')), 'UTF8')
				FROM (SELECT gen_random_uuid() AS id, ($3::uuid[])[g % cardinality($3::uuid[]) + 1] AS order_id,
				             g / cardinality($3::uuid[]) + 2 AS version
				      FROM generate_series(0, $1::int - 1) g ORDER BY g) e
				RETURNING id, txid, length(payload) AS size
			)
			SELECT min(id), max(id), min(txid::text), avg(size)::int FROM ins`, n, drainPayload, orders).
			Scan(&firstID, &lastID, &firstTxid, &res.PayloadBytes)
	})
	if err != nil {
		return res, fmt.Errorf("insert the backlog: %w", err)
	}
	committed := time.Now()
	res.Insert = committed.Sub(start)
	pgBefore, pgErr := benchkit.ReadPGCounters(ctx, conn)
	reached, err := benchkit.Poll(ctx, drainPoll, drainTimeout, func() (reached bool, err error) {
		var entered bool
		err = conn.QueryRow(ctx, `
			SELECT (txid, id) >= ($1::text::xid8, $2::bigint), (txid, id) >= ($1::text::xid8, $3::bigint)
			FROM outbox_cursor WHERE name = 'relay'`, firstTxid, lastID, firstID).Scan(&reached, &entered)
		if now := time.Since(committed); entered && res.FirstProgress == 0 {
			res.FirstProgress = now
		}
		return reached, err
	})
	switch {
	case err != nil:
		return res, fmt.Errorf("read the relay's cursor: %w", err)
	case reached:
		res.Drain = time.Since(committed)
		res.Rate = float64(n) / res.Drain.Seconds()
	default:
		res.Error = fmt.Sprintf("the relay had not reached the backlog's last row after %s", drainTimeout)
	}
	res.CPU = smp.Window(committed, time.Now())
	if err := benchkit.Sleep(ctx, benchkit.PGPublishDelay); err != nil {
		return res, err
	}
	if pgAfter, err := benchkit.ReadPGCounters(ctx, conn); err == nil && pgErr == nil {
		d := pgAfter.Sub(pgBefore)
		res.PG = &d
	}
	var subjects map[string]uint64
	res.StreamAfter, subjects, err = benchkit.StreamMessages(ctx, natsURL, "POS", "pos.demo.order.>")
	for _, o := range orders {
		res.Published += int(subjects["pos.demo.order."+o.String()])
	}
	return res, err
}

// drainVerdict judges the drain from what was checked: the relay reached the
// last row, the stream holds every message once, and the rate.
func drainVerdict(d drainResult) string {
	switch {
	case d.Drain == 0:
		return "**not finished**: " + d.Error
	case d.Published != d.Events:
		return fmt.Sprintf("**FAILED**: the stream holds %d messages on the backlog's subjects, want %d", d.Published, d.Events)
	case d.Rate < targetDrain:
		return fmt.Sprintf("**missed** by %.0f events/s (%.0f%% short)", targetDrain-d.Rate, 100*(1-d.Rate/targetDrain))
	}
	return "met"
}
