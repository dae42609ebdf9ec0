package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// pgbenchOrderID is the SQL expression of the id of pgbench client :client_id's
// order: a fixed UUID per client, so the script needs no lookup.
const pgbenchOrderID = `('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid`

// dbInfo describes the Postgres server the run used.
type dbInfo struct {
	Version           string
	SynchronousCommit string
	Fsync             string
	SharedBuffers     string
	Features          schemaFeatures
}

// schemaFeatures are the parts of posd's schema that change what one PATCH
// writes; the pgbench script and pgbench's orders follow them.
type schemaFeatures struct {
	// Outbox: every change also inserts an outbox row (pgbench writes the
	// same rows to outbox_bench).
	Outbox bool
	// OrdersFull: GetOrderFull reads the orders_full view.
	OrdersFull bool
	// Hash: events carry a 32-byte chain hash and orders the last one.
	Hash bool
	// OpsJSON: order_events.ops is json (verbatim text), not jsonb.
	OpsJSON bool
	// WriteGuard: posd_assert exists (db/schema/0001_baseline.sql). It
	// came with the write in one round trip: BEGIN, the versioned UPDATE,
	// the assertion that it happened (AssertOrderHead), the other statements
	// and COMMIT in one pipeline, and the menu served from memory.
	WriteGuard bool
	// RLS: row-level security on the venue tables (0007): each statement
	// runs after a transaction-local set_config naming the venue (or, for
	// the token lookup, the system scope), pipelined in the same round trip.
	RLS bool
}

// String lists the features for the report.
func (f schemaFeatures) String() string {
	var on []string
	for _, x := range []struct {
		set  bool
		name string
	}{{f.OrdersFull, "orders_full view"}, {f.Hash, "event hash chain"}, {f.OpsJSON, "json ops"}, {f.Outbox, "outbox"},
		{f.WriteGuard, "write guard (one-round-trip write, menu cache)"}, {f.RLS, "row-level security"}} {
		if x.set {
			on = append(on, x.name)
		}
	}
	if len(on) == 0 {
		return "none of orders_full, hash chain, json ops, outbox, write guard, row-level security"
	}
	return strings.Join(on, ", ")
}

// currentFeatures are those of posd's schema when this was written, for
// --print-script.
var currentFeatures = schemaFeatures{Outbox: true, OrdersFull: true, Hash: true, OpsJSON: true, WriteGuard: true, RLS: true}

// detectFeatures reads the schema's features from the catalog.
func detectFeatures(ctx context.Context, conn *pgx.Conn) (schemaFeatures, error) {
	var f schemaFeatures
	err := conn.QueryRow(ctx, `
		SELECT to_regclass('public.outbox') IS NOT NULL,
		       to_regclass('public.orders_full') IS NOT NULL,
		       EXISTS (SELECT FROM information_schema.columns
		               WHERE table_schema = 'public' AND table_name = 'order_events' AND column_name = 'hash'),
		       EXISTS (SELECT FROM information_schema.columns
		               WHERE table_schema = 'public' AND table_name = 'order_events' AND column_name = 'ops'
		                 AND data_type = 'json'),
		       to_regprocedure('public.posd_assert(boolean, text)') IS NOT NULL,
		       COALESCE((SELECT relrowsecurity FROM pg_class WHERE oid = to_regclass('public.orders')), false)`).
		Scan(&f.Outbox, &f.OrdersFull, &f.Hash, &f.OpsJSON, &f.WriteGuard, &f.RLS)
	return f, err
}

// copyPolicies enables and forces row-level security on table dst and gives
// it every policy of src.
func copyPolicies(ctx context.Context, tx pgx.Tx, src, dst string) error {
	rows, err := tx.Query(ctx, `
		SELECT format('CREATE POLICY %I ON %I AS %s FOR %s TO %s%s%s', policyname, $2::text, permissive, cmd,
		              array_to_string(roles, ', '),
		              CASE WHEN qual IS NOT NULL THEN ' USING (' || qual || ')' ELSE '' END,
		              CASE WHEN with_check IS NOT NULL THEN ' WITH CHECK (' || with_check || ')' ELSE '' END)
		FROM pg_policies WHERE schemaname = 'public' AND tablename = $1::text`, src, dst)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("read the policies of %s: %w", src, err)
	}
	stmts = append([]string{"ALTER TABLE " + dst + " ENABLE ROW LEVEL SECURITY", "ALTER TABLE " + dst + " FORCE ROW LEVEL SECURITY"}, stmts...)
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// checkMenu compares demoMenu with the demo venue's menu_items.
func checkMenu(ctx context.Context, conn *pgx.Conn) error {
	for _, m := range demoMenu {
		var got menuEntry
		err := conn.QueryRow(ctx, `SELECT sku, name, price_cents, station FROM menu_items WHERE venue_id = 'demo' AND sku = $1`, m.SKU).
			Scan(&got.SKU, &got.Name, &got.PriceCents, &got.Station)
		if err != nil {
			return fmt.Errorf("read the demo menu entry %q: %w", m.SKU, err)
		}
		if got != m {
			return fmt.Errorf("the demo menu changed: %q is %+v in posd, %+v in posbench (update demoMenu in cmd/posbench/client.go)", m.SKU, got, m)
		}
	}
	return nil
}

// prepareDatabase, as the superuser, adds the dining tables posbench uses to
// venue "demo" (B1..Bn for the low-contention orders, H1..Hk for the banquet
// orders, K1..Km for the kitchen scenario's orders, P0..Pn-1 for the pgbench
// orders) and creates pgbench's orders: one
// per client, each with lines pending lines, at version lines+1 with a
// matching event log (order.opened, then one add_item event per line).
func prepareDatabase(ctx context.Context, superURL string, clients, banquets, kitchens, lines int) (dbInfo, error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return dbInfo{}, fmt.Errorf("connect as superuser: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var info dbInfo
	for _, s := range []struct {
		name string
		dst  *string
	}{{"server_version", &info.Version}, {"synchronous_commit", &info.SynchronousCommit},
		{"fsync", &info.Fsync}, {"shared_buffers", &info.SharedBuffers}} {
		if err := conn.QueryRow(ctx, "SHOW "+s.name).Scan(s.dst); err != nil {
			return info, fmt.Errorf("SHOW %s: %w", s.name, err)
		}
	}

	if info.Features, err = detectFeatures(ctx, conn); err != nil {
		return info, fmt.Errorf("read posd's schema: %w", err)
	}
	if err := checkMenu(ctx, conn); err != nil {
		return info, err
	}
	f := info.Features
	// Column lists and values that depend on the schema.
	jsonFn, orderHashCol, orderHashVal, eventHashCol, eventHashVal := "jsonb", "", "", "", ""
	if f.OpsJSON {
		jsonFn = "json"
	}
	if f.Hash {
		orderHashCol, orderHashVal = ", last_hash", ", "+benchHash
		eventHashCol, eventHashVal = ", hash", ", "+benchHash
	}

	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if f.Outbox {
			// pgbench's outbox rows: same shape as posd's, out of the
			// relay's sight.
			for _, q := range []string{
				"CREATE TABLE IF NOT EXISTS outbox_bench (LIKE outbox INCLUDING ALL)",
				"GRANT SELECT, INSERT ON outbox_bench TO posd_app",
			} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return err
				}
			}
			if f.RLS {
				// LIKE copies no policies: give outbox_bench outbox's, so
				// its INSERT is checked as posd's is.
				if err := copyPolicies(ctx, tx, "outbox", "outbox_bench"); err != nil {
					return err
				}
			}
		}
		stmts := []struct {
			sql  string
			args []any
		}{
			{`INSERT INTO dining_tables (venue_id, id, label, seats)
			  SELECT 'demo', 'B' || g, 'Bench ' || g, 4 FROM generate_series(1, $1::int) g
			  UNION ALL
			  SELECT 'demo', 'P' || g, 'pgbench ' || g, 4 FROM generate_series(0, $1::int - 1) g
			  UNION ALL
			  SELECT 'demo', 'H' || g, 'Banquet ' || g, 8 FROM generate_series(1, $2::int) g
			  UNION ALL
			  SELECT 'demo', 'K' || g, 'Kitchen ' || g, 4 FROM generate_series(1, $3::int) g
			  ON CONFLICT DO NOTHING`, []any{clients, banquets, kitchens}},
			{`INSERT INTO orders (venue_id, id, table_id, status, guests, note, version, server_staff, opened_at,
			                     updated_at` + orderHashCol + `)
			  SELECT 'demo', ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'P' || g, 'open', 4, '',
			         $2::bigint + 1, 'Alice', now(), now()` + orderHashVal + `
			  FROM generate_series(0, $1::int - 1) g`, []any{clients, lines}},
			{`INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents,
			                           seat, course, modifiers, note, station, status, comped)
			  SELECT 'demo', o.id, gen_random_uuid(), p, 'burger', 'Bistro burger', 1, 1600, 0, 1, '[]', '',
			         'grill', 'pending', false
			  FROM orders o, generate_series(1, $1::int) p
			  WHERE o.venue_id = 'demo' AND o.table_id LIKE 'P%'`, []any{lines}},
			{`INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff,
			                            actor_role, ops` + eventHashCol + `)
			  SELECT 'demo', o.id, 1, gen_random_uuid(), 'order.opened', now(), 'waiter-1', 'Alice', 'waiter',
			         ` + jsonFn + `_build_array(` + jsonFn + `_build_object('op', 'open', 'table', o.table_id, 'guests', 4))` + eventHashVal + `
			  FROM orders o WHERE o.venue_id = 'demo' AND o.table_id LIKE 'P%'
			  UNION ALL
			  SELECT 'demo', o.id, l.position + 1, gen_random_uuid(), 'order.patched', now(), 'waiter-1', 'Alice',
			         'waiter', ` + jsonFn + `_build_array(` + jsonFn + `_build_object('op', 'add_item', 'line_id', l.id,
			             'sku', l.sku, 'name', l.name, 'unit_price_cents', l.unit_price_cents, 'station', l.station,
			             'qty', 1, 'seat', 0, 'course', 1, 'note', ''))` + eventHashVal + `
			  FROM orders o JOIN order_lines l ON l.venue_id = o.venue_id AND l.order_id = o.id
			  WHERE o.venue_id = 'demo' AND o.table_id LIKE 'P%'`, nil},
		}
		for _, s := range stmts {
			if _, err := tx.Exec(ctx, s.sql, s.args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("prepare benchmark tables and pgbench orders: %w", err)
	}
	// Fresh statistics for the planner, as a long-running database has.
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		return info, fmt.Errorf("analyze: %w", err)
	}
	return info, nil
}

// verifyPgbenchOrders checks that pgbench's script did to its orders what it
// claims: each order's event log has one row per version, after t
// transactions (version lines+1+t) it holds lines - t%2 lines, because the
// script alternates remove and add starting with a remove, and, with an
// outbox, outbox_bench holds exactly one row per transaction, for the
// version that transaction wrote.
func verifyPgbenchOrders(ctx context.Context, superURL string, lines int, outbox bool) (txs int64, problems []string, err error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	outboxCount := "0::bigint, 0::bigint"
	if outbox {
		outboxCount = `(SELECT count(*) FROM outbox_bench b WHERE b.order_id = o.id),
		       (SELECT count(DISTINCT b.order_version) FROM outbox_bench b
		        WHERE b.order_id = o.id AND b.order_version BETWEEN $1::bigint + 2 AND o.version)`
	}
	rows, err := conn.Query(ctx, `
		SELECT o.table_id, o.version,
		       (SELECT count(*) FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
		       (SELECT count(*) FROM order_events e WHERE e.venue_id = o.venue_id AND e.order_id = o.id),
		       `+outboxCount+`
		FROM orders o WHERE o.venue_id = 'demo' AND o.table_id LIKE 'P%' ORDER BY o.table_id`, lines)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var version, nLines, nEvents, nOutbox, nVersions int64
		if err := rows.Scan(&table, &version, &nLines, &nEvents, &nOutbox, &nVersions); err != nil {
			return 0, nil, err
		}
		t := version - int64(lines) - 1
		txs += t
		if want := int64(lines) - t%2; nLines != want || nEvents != version {
			problems = append(problems, fmt.Sprintf("pgbench order on %s: version %d, %d lines (want %d), %d events (want %d)",
				table, version, nLines, want, nEvents, version))
		}
		if outbox && (nOutbox != t || nVersions != t) {
			problems = append(problems, fmt.Sprintf("pgbench order on %s: %d outbox_bench rows for %d versions (want one for each of its %d transactions)",
				table, nOutbox, nVersions, t))
		}
	}
	return txs, problems, rows.Err()
}
