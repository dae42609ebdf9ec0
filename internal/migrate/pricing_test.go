package migrate_test

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/db"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/orderrow"
)

// migratedTo migrates an empty database up to version with goose, as
// "posd migrate" would (the embedded files), and returns the provider to
// move it on, a superuser connection to it and exec, which runs a
// statement on that connection in the system scope (row-level security
// applies to the table owner too).
func migratedTo(t *testing.T, version int64) (*goose.Provider, *pgx.Conn, func(q string, args ...any) error) {
	t.Helper()
	ctx := context.Background()
	url := emptyDB(t)
	sqlDB, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { sqlDB.Close() })
	schema, err := fs.Sub(db.Schema, "schema")
	require.NoError(t, err)
	p, err := goose.NewProvider(goose.DialectPostgres, sqlDB, schema)
	require.NoError(t, err)
	_, err = p.UpTo(ctx, version)
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	exec := func(q string, args ...any) error {
		_, err := conn.Exec(ctx, "SELECT set_config('posd.scope', 'system', false)")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, q, args...)
		return err
	}
	return p, conn, exec
}

// TestPricingKeepsOrdersFromBefore: an order written before 0004_pricing
// (a line with a tax class, a payment) reads after the migration with no
// pricing rules, so no tax and no service charge, its payment without an
// id; the migrated table takes a refund; 0004's Down removes refunds and
// restores the old shape, and Up applies again.
func TestPricingKeepsOrdersFromBefore(t *testing.T) {
	ctx := context.Background()
	p, conn, exec := migratedTo(t, 3)
	id := uuid.Must(uuid.NewV7())
	require.NoError(t, exec(`INSERT INTO venues (id, name) VALUES ('old', 'Old Bistro')`))
	require.NoError(t, exec(`INSERT INTO tax_classes (venue_id, id, position, name, rate_bps) VALUES ('old', 'food', 0, 'Food', 1000)`))
	require.NoError(t, exec(`INSERT INTO dining_tables (venue_id, id, label, seats) VALUES ('old', 'T1', 'T1', 12)`))
	require.NoError(t, exec(`INSERT INTO orders (venue_id, id, table_id, status, guests, version, server_staff, opened_at, updated_at, last_hash)
		VALUES ('old', $1, 'T1', 'open', 10, 3, 'Alice', now(), now(), '\x00')`, id))
	require.NoError(t, exec(`INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents, seat, course, station, status, tax_class)
		VALUES ('old', $1, gen_random_uuid(), 0, 'steak', 'Steak', 2, 2400, 0, 1, 'grill', 'sent', 'food')`, id))
	require.NoError(t, exec(`INSERT INTO order_payments (venue_id, order_id, position, tender, amount_cents, tip_cents)
		VALUES ('old', $1, 0, 'card', 1000, 200)`, id))
	// Before 0004 a negative movement is refused.
	require.Error(t, exec(`INSERT INTO order_payments (venue_id, order_id, position, tender, amount_cents, tip_cents)
		VALUES ('old', $1, 1, 'card', -100, 0)`, id))

	_, err := p.UpTo(ctx, 4)
	require.NoError(t, err)
	read := func() order.Order {
		t.Helper()
		var r orderrow.Row
		_, err := conn.Exec(ctx, "SELECT set_config('posd.scope', 'system', false)")
		require.NoError(t, err)
		require.NoError(t, conn.QueryRow(ctx, `SELECT venue_id, id, table_id, status, guests, note, version, server_staff,
			opened_at, updated_at, closed_at, last_hash, lines, payments, pricing, discounts, service_charge_waiver
			FROM orders_full WHERE id = $1`, id).Scan(&r.VenueID, &r.ID, &r.TableID, &r.Status, &r.Guests, &r.Note, &r.Version,
			&r.ServerStaff, &r.OpenedAt, &r.UpdatedAt, &r.ClosedAt, &r.LastHash, &r.Lines, &r.Payments, &r.Pricing,
			&r.Discounts, &r.ServiceChargeWaiver))
		o, err := orderrow.FromRow(r)
		require.NoError(t, err)
		return o
	}
	o := read()
	require.Nil(t, o.Rules, "an order from before has no pricing rules")
	require.Equal(t, "food", o.Lines[0].TaxClass)
	require.Equal(t, order.Totals{SubtotalCents: 4800, TotalCents: 4800, PaidCents: 1000, TipCents: 200, DueCents: 3800}, o.Totals,
		"no tax and no service charge, though 10 guests and a taxed line")
	require.Empty(t, o.Discounts)
	require.Nil(t, o.Payments[0].ID)

	require.NoError(t, exec(`INSERT INTO order_payments (venue_id, order_id, position, id, tender, amount_cents, tip_cents, refund_of, reason)
		VALUES ('old', $1, 1, gen_random_uuid(), 'card', -100, 0, 0, 'cold')`, id))
	o = read()
	require.Equal(t, int64(900), o.Totals.PaidCents)
	require.Equal(t, 0, *o.Payments[1].RefundOf)
	require.Equal(t, "cold", o.Payments[1].Reason)

	_, err = p.DownTo(ctx, 3)
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM order_payments").Scan(&n))
	require.Equal(t, 1, n, "Down removes the refunds and keeps the payments")
	_, err = p.Up(ctx)
	require.NoError(t, err)
	// 0006 changed the types of orders_full's lines and payments under the
	// statement this connection prepared (a replica answers its first use
	// 503; see store's TestSchemaChangeUnderARunningStore).
	require.NoError(t, conn.DeallocateAll(ctx))
	require.Equal(t, int64(1000), read().Totals.PaidCents, "the refund went with Down")
}
