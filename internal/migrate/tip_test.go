package migrate_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestTipsMigration: from 0008_tips a payment may be a tip alone (amount 0,
// tip at least 1) and a refund may give back a tip (tip < 0), never
// nothing; payments stay ≥ 0 and refunds ≤ 0. Down refuses while either is
// stored (the old shape cannot hold it, and dropping it would lose money
// the log records), and goes once they are gone.
func TestTipsMigration(t *testing.T) {
	ctx := context.Background()
	p, _, exec := migratedTo(t, 7)
	id := uuid.Must(uuid.NewV7())
	require.NoError(t, exec(`INSERT INTO venues (id, name) VALUES ('v', 'Bistro')`))
	require.NoError(t, exec(`INSERT INTO dining_tables (venue_id, id, label, seats) VALUES ('v', 'T1', 'T1', 4)`))
	require.NoError(t, exec(`INSERT INTO orders (venue_id, id, table_id, status, guests, version, server_staff, opened_at, updated_at, last_hash)
		VALUES ('v', $1, 'T1', 'open', 2, 3, 'Alice', now(), now(), '\x00')`, id))
	pay := func(position int, amount, tip int64) error {
		return exec(`INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents)
			VALUES ('v', $1, $2, gen_random_uuid(), 'card', $3, $4)`, id, position, amount, tip)
	}
	refund := func(position int, amount, tip int64) error {
		return exec(`INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents, refund_of, reason)
			VALUES ('v', $1, $2, gen_random_uuid(), 'card', $3, $4, 0, 'r')`, id, position, amount, tip)
	}
	require.NoError(t, pay(0, 2400, 300))
	require.ErrorContains(t, pay(1, 0, 500), "order_payments_amount_bound", "before 0008 a payment has an amount")
	require.ErrorContains(t, refund(1, -100, -100), "order_payments_refund", "before 0008 a refund gives back no tip")

	_, err := p.UpTo(ctx, 8)
	require.NoError(t, err)
	require.NoError(t, pay(1, 0, 500))
	require.ErrorContains(t, pay(2, 0, 0), "order_payments_amount_bound", "a payment moves some money")
	require.ErrorContains(t, pay(2, 100, -1), "order_payments_refund", "a payment's tip is not negative")
	require.ErrorContains(t, refund(2, 0, 0), "order_payments_amount_bound", "a refund moves some money")
	require.ErrorContains(t, refund(2, -100, 1), "order_payments_refund", "a refund's tip is not positive")
	require.ErrorContains(t, refund(2, 100, 0), "order_payments_refund", "a refund's amount is not positive")
	require.ErrorContains(t, refund(2, 0, -100000001), "order_payments_tip_bound")
	require.NoError(t, refund(2, 0, -300))
	require.NoError(t, refund(3, -100, 0))
	require.NoError(t, refund(4, -50, -50))

	_, err = p.DownTo(ctx, 7)
	require.ErrorContains(t, err, "tips alone")
	require.NoError(t, exec(`DELETE FROM order_payments WHERE amount_cents = 0`))
	_, err = p.DownTo(ctx, 7)
	require.ErrorContains(t, err, "refunded tips")
	require.NoError(t, exec(`DELETE FROM order_payments WHERE tip_cents < 0`))
	_, err = p.DownTo(ctx, 7)
	require.NoError(t, err)
	require.ErrorContains(t, pay(1, 0, 500), "order_payments_amount_bound")
	_, err = p.Up(ctx)
	require.NoError(t, err)
	require.NoError(t, pay(1, 0, 500))
}
