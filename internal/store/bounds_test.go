package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/posd/posd/internal/store"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
)

// TestSchemaRefusesOverflow: the database itself refuses what could make a
// total overflow or a message undeliverable, whoever writes it: a menu price
// of 10^17, an overlong menu name or a station that is not one subject token
// (even from the table's owner), a line price, payment amount or tip past the bounds, the
// payment past MaxPaymentsPerOrder and the line past MaxLinesPerOrder (from
// posd's own role, bypassing its validation). Each refusal names its
// constraint, and the store maps the ones a write can hit to a 422 field.
func TestSchemaRefusesOverflow(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)

	requireRefused := func(err error, constraint string) {
		t.Helper()
		var pgErr *pgconn.PgError
		require.True(t, errors.As(err, &pgErr), "the database accepted it (err %v), want %s", err, constraint)
		require.Equal(t, "23514", pgErr.Code, pgErr.Message)
		require.Equal(t, constraint, pgErr.ConstraintName)
	}
	_, err = db.Admin.Exec(ctx, "UPDATE menu_items SET price_cents = 1e17 WHERE venue_id = 'demo' AND sku = 'steak'")
	requireRefused(err, "menu_items_price_bound")
	_, err = db.Admin.Exec(ctx, "UPDATE menu_items SET name = repeat('x', $1) WHERE venue_id = 'demo' AND sku = 'steak'", order.MaxMenuNameLen+1)
	requireRefused(err, "menu_items_name_len")
	_, err = db.Admin.Exec(ctx, "UPDATE menu_items SET station = 'hot grill' WHERE venue_id = 'demo' AND sku = 'steak'")
	requireRefused(err, "menu_items_station_token")

	app := func(sql string, args ...any) error {
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx) //nolint:errcheck // nothing to keep
		_, err = tx.Exec(ctx, "SELECT set_config('posd.venue', 'demo', true)")
		require.NoError(t, err)
		_, err = tx.Exec(ctx, sql, args...)
		return err
	}
	line := `INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents, seat, course, station, status)
		SELECT 'demo', $1, gen_random_uuid(), g, 'steak', 'Steak', 1, $2, 0, 1, 'grill', 'pending' FROM generate_series(1, $3) g`
	requireRefused(app(line, o.ID, int64(1e17), 1), store.ConstraintLinePrice)
	require.NoError(t, app(line, o.ID, int64(order.MaxPriceCents), order.MaxLinesPerOrder))
	requireRefused(app(line, o.ID, 100, order.MaxLinesPerOrder+1), store.ConstraintLinesPerOrder)

	pay := `INSERT INTO order_payments (venue_id, order_id, position, tender, amount_cents, tip_cents)
		SELECT 'demo', $1, g, 'cash', $2, $3 FROM generate_series(0, $4 - 1) g`
	requireRefused(app(pay, o.ID, int64(1e17), 0, 1), store.ConstraintPaymentAmount)
	requireRefused(app(pay, o.ID, 100, int64(1e17), 1), store.ConstraintPaymentTip)
	require.NoError(t, app(pay, o.ID, int64(order.MaxAmountCents), int64(order.MaxAmountCents), order.MaxPaymentsPerOrder))
	// Payments and refunds share the positions: MaxPaymentsPerOrder of
	// each (0004_pricing.sql).
	movements := order.MaxPaymentsPerOrder + order.MaxRefundsPerOrder
	requireRefused(app(pay, o.ID, 100, 0, movements+1), store.ConstraintPaymentsPerOrder)
	requireRefused(app(pay, o.ID, 0, 0, 1), store.ConstraintPaymentAmount)
	// A tip alone (amount 0, 0008_tips.sql) is a payment.
	require.NoError(t, app(pay, o.ID, 0, 1, 1))
	requireRefused(app(pay, o.ID, -1, 1, 1), store.ConstraintPaymentRefund)
	refund := `INSERT INTO order_payments (venue_id, order_id, position, tender, amount_cents, tip_cents, refund_of, reason)
		VALUES ('demo', $1, $2, 'cash', $3, $4, $5, 'r')`
	requireRefused(app(refund, o.ID, movements, -100, 0, 0), store.ConstraintPaymentsPerOrder)
	requireRefused(app(refund, o.ID, 1000, -100, 0, nil), store.ConstraintPaymentRefund)
	requireRefused(app(refund, o.ID, 1000, -100, 5, 0), store.ConstraintPaymentRefund)
	requireRefused(app(refund, o.ID, 1000, 100, 0, 0), store.ConstraintPaymentRefund)
	requireRefused(app(refund, o.ID, 1000, 0, 1, 0), store.ConstraintPaymentRefund)
	requireRefused(app(refund, o.ID, 1000, 0, 0, 0), store.ConstraintPaymentAmount)
	require.NoError(t, app(refund, o.ID, 1000, -100, 0, 0))
	// A refund may give back a tip (0008_tips.sql).
	require.NoError(t, app(refund, o.ID, 1000, 0, -100, 0))
	requireRefused(app(refund, o.ID, 1000, 0, int64(-1e17), 0), store.ConstraintPaymentTip)

	// The store answers a bound the schema enforces as a validation error
	// naming the field.
	err = app(line, o.ID, int64(1e17), 1)
	var verr *order.ValidationError
	require.True(t, errors.As(store.Translate(err, "T1", nil), &verr))
	require.Equal(t, "sku", verr.Problems[0].Field)
}

// TestConstraintNamesExist: every schema object whose violation the store
// translates is in the migrated schema, in the catalog it belongs to (a
// unique index, a constraint or a trigger), and every bound the store maps
// to a field is among them.
func TestConstraintNamesExist(t *testing.T) {
	db := pgtest.NewDB(t)
	queries := map[string]string{
		"index":      `SELECT count(*) FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE c.relname = $1 AND i.indisunique`,
		"constraint": `SELECT count(*) FROM pg_constraint WHERE conname = $1`,
		"trigger":    `SELECT count(*) FROM pg_trigger WHERE tgname = $1 AND NOT tgisinternal`,
	}
	require.Len(t, store.ConstraintCatalogs, 28)
	for name, catalog := range store.ConstraintCatalogs {
		q, ok := queries[catalog]
		require.True(t, ok, "catalog %s of %s", catalog, name)
		require.EqualValues(t, 1, db.Count(t, q, name), "%s %s", catalog, name)
	}
	for name := range store.BoundFields {
		require.Contains(t, store.ConstraintCatalogs, name)
	}
	for name := range store.CatalogFields {
		require.Contains(t, store.ConstraintCatalogs, name)
	}
}

// TestMessageSizeBound: a change whose NATS message would pass
// outbox.MaxMessageBytes (here 100 add_items with the longest modifiers and
// notes, all characters JSON escapes six-fold, about 650 KB; HTTP's 64 KiB
// body limit keeps requests below it, the store checks regardless) is
// refused naming "ops", and nothing is written.
func TestMessageSizeBound(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	mods := make([]string, order.MaxModifiers)
	for i := range mods {
		mods[i] = strings.Repeat("<", order.MaxModifierLen)
	}
	note := strings.Repeat(">", order.MaxNoteLen)
	ops := make([]order.Op, order.MaxOps)
	for i := range ops {
		ops[i] = order.Op{Op: order.OpAddItem, SKU: "steak", Modifiers: mods, Note: &note}
	}
	require.NoError(t, order.Validate(ops, order.RoleWaiter))
	before := db.Count(t, "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM order_lines) + (SELECT sum(version) FROM orders)")
	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: ops}, alice)
	var verr *order.ValidationError
	require.True(t, errors.As(err, &verr), "got %v", err)
	require.Equal(t, "ops", verr.Problems[0].Field)
	require.Contains(t, verr.Problems[0].Detail, "MaxMessageBytes")
	require.Equal(t, before, db.Count(t, "SELECT (SELECT count(*) FROM outbox) + (SELECT count(*) FROM order_lines) + (SELECT sum(version) FROM orders)"))

	// Half of it goes through.
	_, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: ops[:order.MaxOps/2]}, alice)
	require.NoError(t, err)
	require.True(t, changed)
}
