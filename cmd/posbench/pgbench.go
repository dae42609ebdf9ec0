package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/db"
	"github.com/posd/posd/internal/benchkit"
	"github.com/posd/posd/internal/pgscope"
)

// The pgbench script is rendered from the SQL the store runs: the named
// queries of db/queries and pgscope's settings, each parameter (@name,
// sqlc.arg(name), sqlc.narg('name'), $1) replaced by the pgbench variable or
// expression bound to it below, in posd's round trips for one PATCH (see
// docs/BENCHMARKS.md for the deviations pgbench forces). Each client owns one
// order (by :client_id); its outbox rows go to outbox_bench, out of the
// relay's sight.

// bindings maps each query's parameters to pgbench variables (from -D,
// \set or the order read's \gset, prefix o_) or to SQL expressions.
// Per-branch values end in _add or _remove in the variable name.
var bindings = map[string]map[string]string{
	"SetVenue":             {"1": ":venue_id"},
	"GetDeviceByTokenHash": {"token_hash": ":token_hash"},
	"GetOrderFull":         {"venue_id": ":venue_id", "id": pgbenchOrderID},
	"BumpOrderVersion": {"venue_id": ":venue_id", "id": ":o_id", "expected_version": ":o_version", "expected_hash": ":o_last_hash", "table_id": ":o_table_id",
		"status": ":o_status", "guests": ":o_guests", "note": ":o_note", "updated_at": ":at", "closed_at": "NULL", "last_hash": ":hash",
		// The bench's orders have no discounts and no waiver: what posd
		// writes for them.
		"discounts": "'[]'::jsonb", "service_charge_waiver": "NULL", "merged_into": "NULL"},
	"AssertOrderHead": {"venue_id": ":venue_id", "id": ":o_id", "version": ":version", "last_hash": ":hash", "menu_version": ":menu_version",
		// posd's write, token cached: the writer's device checked in the
		// write instead of the token's lookup (which the script keeps).
		"token_hash": ":token_hash", "device_name": ":actor_device", "device_role": ":actor_role", "device_staff": ":actor_staff"},
	"InsertEvent": {"venue_id": ":venue_id", "order_id": ":o_id", "version": ":version", "id": "gen_random_uuid()",
		"type": ":type", "at": ":at", "actor_device": ":actor_device", "actor_staff": ":actor_staff", "actor_role": ":actor_role",
		"ops": ":ops_%s", "forced": ":forced", "overridden_version": "NULL", "hash": ":hash", "signature": ":signature"},
	"InsertOutbox": {"venue_id": ":venue_id", "order_id": ":o_id", "order_version": ":version", "subjects": ":subjects",
		"msg_ids": ":msg_ids", "msg_types": ":msg_types", "payloads": ":payloads_%s"},
	"InsertLines": {"venue_id": ":venue_id", "order_id": ":o_id", "ids": "ARRAY[gen_random_uuid()]", "positions": "ARRAY[:version]",
		"skus": ":skus", "names": ":names", "qtys": ":qtys", "unit_prices": ":unit_prices", "seats": ":seats", "courses": ":courses",
		"modifiers": ":modifiers", "notes": ":notes", "stations": ":stations", "statuses": ":statuses", "compeds": ":compeds",
		"options": ":options", "tax_classes": ":tax_classes", "portions": ":portions",
		"checks": ":checks", "shared_bys": ":shared_bys"},
	"DeleteLines": {"venue_id": ":venue_id", "order_id": ":o_id", "ids": "ARRAY[:o_lines::jsonb->0->>'id']"},
}

// pgbenchOrderID is the id of client :client_id's order (a fixed UUID per
// client, so the script needs no lookup).
const pgbenchOrderID = `('00000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid`

// exprBindings are the bindings that are not plain pgbench variables.
var exprBindings = []string{pgbenchOrderID, "NULL", "'[]'::jsonb", "gen_random_uuid()", "ARRAY[gen_random_uuid()]", "ARRAY[:version]",
	"ARRAY[:o_lines::jsonb->0->>'id']"}

// benchHash and benchSignature stand in for the chain hash and signature
// posd computes in Go: constants of the same size.
var (
	benchHash      = `\x` + strings.Repeat("ab", 32)
	benchSignature = `\x` + strings.Repeat("cd", 64)
)

// Sample event payloads as posd encodes them (json.Marshal of order.Event).
const (
	opsAdd = `[{"op":"add_item","line_id":"0190a0b0-0000-7000-8000-000000000001","sku":"burger","name":"Bistro burger",` +
		`"unit_price_cents":1600,"station":"grill","qty":1,"seat":0,"course":1,"note":""}]`
	opsRemove    = `[{"op":"remove_item","line_id":"0190a0b0-0000-7000-8000-000000000001","sku":"burger"}]`
	eventPayload = `{"id":"01a200cd-49d8-7435-848a-08e6c207d033","venue":"demo","order_id":"01a200cd-4891-75d9-823d-dd2ba56da949",` +
		`"version":12,"type":"order.patched","at":"2026-11-22T01:09:43.51227Z","actor":{"device":"waiter-1","staff":"Alice",` +
		`"role":"waiter"},"ops":%s,"forced":false,"overridden_version":null,"hash":"%s"}`
)

// pgbenchVars are the -D variables of the script.
func pgbenchVars() map[string]string {
	token := sha256.Sum256([]byte(waiterTokens[0]))
	payload := func(ops string) string {
		return `{"\\x` + hex.EncodeToString(fmt.Appendf(nil, eventPayload, ops, strings.Repeat("ab", 32))) + `"}`
	}
	return map[string]string{
		"venue_id": "demo", "token_hash": `\x` + hex.EncodeToString(token[:]), "at": "2026-11-22T01:09:43.51227Z",
		"hash": benchHash, "signature": benchSignature, "type": "order.patched", "forced": "false",
		"actor_device": "waiter-1", "actor_staff": "Alice", "actor_role": "waiter", "ops_add": opsAdd, "ops_remove": opsRemove,
		"subjects": "{pos.demo.order.01a200cd-4891-75d9-823d-dd2ba56da949}", "msg_ids": "{01a200cd-49d8-7435-848a-08e6c207d033}",
		"msg_types": "{order.patched}", "payloads_add": payload(opsAdd), "payloads_remove": payload(opsRemove),
		"skus": "{burger}", "names": `{"Bistro burger"}`, "qtys": "{1}", "unit_prices": "{1600}", "seats": "{0}", "courses": "{1}",
		"modifiers": `{"[]"}`, "notes": `{""}`, "stations": "{grill}", "statuses": "{pending}", "compeds": "{f}",
		"options": `{"[]"}`, "tax_classes": "{food}", "portions": "{0}", "checks": "{1}", "shared_bys": `{""}`,
	}
}

var (
	reName  = regexp.MustCompile(`^-- name: (\w+) :\w+`)
	reParam = regexp.MustCompile(`sqlc\.n?arg\('?(\w+)'?\)|@(\w+)|\$(\d+)`)
)

// loadQueries reads the named queries of db/queries (comments dropped) and
// pgscope's settings (SetSystem, SetVenue).
func loadQueries() (map[string]string, error) {
	qs := map[string]string{"SetSystem": pgscope.SetSystem, "SetVenue": pgscope.SetVenue}
	files, err := fs.Glob(db.Queries, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		b, err := fs.ReadFile(db.Queries, f)
		if err != nil {
			return nil, err
		}
		name := ""
		for _, line := range strings.Split(string(b), "\n") {
			if m := reName.FindStringSubmatch(line); m != nil {
				name = m[1]
			} else if t := strings.TrimSpace(line); name != "" && t != "" && !strings.HasPrefix(t, "--") {
				qs[name] += line + "\n"
			}
		}
	}
	for name, q := range qs {
		qs[name] = strings.TrimSuffix(strings.TrimSpace(q), ";")
	}
	return qs, nil
}

// renderQuery replaces each parameter of query name by its binding (%s in a
// binding is the branch).
func renderQuery(qs map[string]string, name, branch string) (string, error) {
	q, ok := qs[name]
	if !ok {
		return "", fmt.Errorf("no query %s in db/queries", name)
	}
	var missing []string
	out := reParam.ReplaceAllStringFunc(q, func(p string) string {
		m := reParam.FindStringSubmatch(p)
		param := m[1] + m[2] + m[3]
		b, ok := bindings[name][param]
		if !ok {
			missing = append(missing, param)
		}
		return strings.ReplaceAll(b, "%s", branch)
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("query %s: no pgbench binding for %v", name, missing)
	}
	if name == "InsertOutbox" {
		out = strings.Replace(out, "INSERT INTO outbox ", "INSERT INTO outbox_bench ", 1)
	}
	return out, nil
}

// renderPgbenchScript renders the script for orders of lines lines: the
// token lookup and the order read, then the write of an add_item or a
// remove_item, alternating like the posd clients (from lines lines at
// version lines+1, remove first).
func renderPgbenchScript(lines int) (string, error) {
	qs, err := loadQueries()
	if err != nil {
		return "", err
	}
	var errs []error
	q := func(branch string, names ...string) string {
		var b strings.Builder
		for _, n := range names {
			sql, err := renderQuery(qs, n, branch)
			errs = append(errs, err)
			fmt.Fprintf(&b, "-- query: %s\n%s;\n", n, sql)
		}
		return b.String()
	}
	write := func(branch string, lines ...string) string {
		return "\\startpipeline\nBEGIN;\n" + q(branch, append([]string{"SetVenue", "BumpOrderVersion", "AssertOrderHead", "InsertEvent", "InsertOutbox"}, lines...)...) +
			"COMMIT;\n\\endpipeline\n"
	}
	var b strings.Builder
	b.WriteString("-- posbench: one posd PATCH (add_item or remove_item), rendered from db/queries; see docs/BENCHMARKS.md.\n")
	vars := pgbenchVars()
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		fmt.Fprintf(&b, "-- -D %s=%s\n", k, vars[k])
	}
	b.WriteString("-- -D menu_version=<venue demo's menu_version at the run: posd's write asserts the menu it planned on>\n")
	fmt.Fprintf(&b, "\\startpipeline\n%s\\endpipeline\n%s \\gset o_\n\\set version :o_version + 1\n\\set add (:o_version + %d + 1) %% 2\n\\if :add\n%s\\else\n%s\\endif\n",
		q("", "SetSystem", "GetDeviceByTokenHash"), strings.TrimSuffix(q("", "GetOrderFull"), ";\n"), lines, write("add", "InsertLines"), write("remove", "DeleteLines"))
	return b.String(), errors.Join(errs...)
}

// minimalOrderID is the id of client :client_id's order for the minimal
// script (tables M0…, apart from the P orders the posd script writes).
const minimalOrderID = `('00000000-0000-4000-9000-' || lpad(:client_id::text, 12, '0'))::uuid`

// renderMinimalScript renders the contract's minimal write (DESIGN.md,
// issue 13's reference): read the order's version; in one transaction the
// versioned UPDATE (version, updated_at and the head hash) and the INSERT
// of the event, posd's own InsertEvent. It checks nothing else, writes no
// lines and no outbox row: the least any versioned write with a log can
// cost this Postgres.
func renderMinimalScript() (string, error) {
	qs, err := loadQueries()
	if err != nil {
		return "", err
	}
	ins, err := renderQuery(qs, "InsertEvent", "add")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("-- posbench: the minimal versioned write (read the version; versioned UPDATE; INSERT the event); see docs/BENCHMARKS.md.\n")
	fmt.Fprintf(&b, "SELECT id, version FROM orders WHERE venue_id = :venue_id AND id = %s \\gset o_\n", minimalOrderID)
	b.WriteString("\\set version :o_version + 1\n\\startpipeline\nBEGIN;\n")
	b.WriteString("UPDATE orders SET version = :version, updated_at = :at, last_hash = :hash\n" +
		"WHERE venue_id = :venue_id AND id = :o_id AND version = :o_version;\n")
	fmt.Fprintf(&b, "-- query: InsertEvent\n%s;\nCOMMIT;\n\\endpipeline\n", ins)
	return b.String(), nil
}

// pgbenchResult is one pgbench run, or the merged rounds of a client count.
type pgbenchResult struct {
	benchkit.PgbenchRun
	Clients int
	Latency benchkit.Summary // from the per-transaction log (-l)
	CPU     benchkit.Use     // Postgres from the sampler
	PG      *benchkit.PGCounters
}

func (r *pgbenchResult) merge(o pgbenchResult) {
	if r.Clients == 0 {
		*r = o
		return
	}
	r.PgbenchRun.Merge(o.PgbenchRun)
	r.Latency = benchkit.Summarize(r.Latencies)
	r.CPU.Add(o.CPU)
	r.PG = benchkit.AddPGCounters(r.PG, o.PG)
}

// pgbench runs the script as posd's role. The sessions start with
// posd.venue=demo: the order read, outside a pipeline, needs it.
type pgbench struct {
	benchkit.Pgbench
	name string // the script's, naming its logs
	runs int    // measured runs so far, to name their logs
}

// newPgbench writes the script (name.sql in dir) and returns its runner.
func newPgbench(bin, url, dir, name, script, menuVersion string) (*pgbench, error) {
	vars := pgbenchVars()
	vars["menu_version"] = menuVersion
	p := &pgbench{name: name, Pgbench: benchkit.Pgbench{Bin: bin, URL: url, Dir: dir, Script: filepath.Join(dir, name+".sql"), Vars: vars,
		Env: []string{"PGSSLMODE=disable", "PGAPPNAME=pgbench", "PGOPTIONS=-c posd.venue=demo"}}}
	return p, os.WriteFile(p.Script, []byte(script), 0o644)
}

// run warms up, then runs pgbench with clients for d.
func (p *pgbench) run(ctx context.Context, clients int, warmup, d time.Duration, smp *benchkit.Sampler, superURL string) (pgbenchResult, error) {
	if warmup >= time.Second {
		if _, err := p.Run(ctx, clients, warmup, ""); err != nil {
			return pgbenchResult{}, err
		}
	}
	p.runs++
	start := time.Now()
	pg := benchkit.WatchPG(ctx, superURL, benchkit.Window{Start: start, End: start.Add(d)})
	r, err := p.Run(ctx, clients, d, filepath.Join(p.Dir, fmt.Sprintf("pgbench_%s_%d_c%d", p.name, p.runs, clients)))
	r.Command += " <posd's database URL> (and the -D variables listed in the script)"
	return pgbenchResult{PgbenchRun: r, Clients: clients, PG: pg(), CPU: smp.Window(start, time.Now()), Latency: benchkit.Summarize(r.Latencies)}, err
}

// dbInfo describes the Postgres server of the run and venue demo's menu
// version (which the pgbench script asserts, as posd's write does).
type dbInfo struct{ Version, SynchronousCommit, Fsync, SharedBuffers, MenuVersion string }

// prepareDatabase, as the superuser, adds the dining
// tables posbench uses to venue demo (B1..Bn low contention, H1..Hk
// banquet, K1..Km kitchen, P0..Pn-1 pgbench), creates outbox_bench and
// pgbench's orders: one per client, each with lines lines, at version
// lines+1 with a matching event log.
func prepareDatabase(ctx context.Context, superURL string, clients, banquets, kitchens, lines int) (dbInfo, error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return dbInfo{}, fmt.Errorf("connect as superuser: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var info dbInfo
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), current_setting('synchronous_commit'),
		current_setting('fsync'), current_setting('shared_buffers'),
		(SELECT menu_version::text FROM venues WHERE id = 'demo')`).Scan(&info.Version, &info.SynchronousCommit, &info.Fsync, &info.SharedBuffers, &info.MenuVersion); err != nil {
		return info, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// outbox_bench: outbox's columns, defaults, indexes and policies.
		rows, err := tx.Query(ctx, `
			SELECT format('CREATE POLICY %I ON outbox_bench AS %s FOR %s TO %s%s%s', policyname, permissive, cmd,
			              array_to_string(roles, ', '),
			              CASE WHEN qual IS NOT NULL THEN ' USING (' || qual || ')' ELSE '' END,
			              CASE WHEN with_check IS NOT NULL THEN ' WITH CHECK (' || with_check || ')' ELSE '' END)
			FROM pg_policies WHERE schemaname = 'public' AND tablename = 'outbox'`)
		if err != nil {
			return err
		}
		policies, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		stmts := append([]string{"CREATE TABLE outbox_bench (LIKE outbox INCLUDING ALL)", "GRANT SELECT, INSERT ON outbox_bench TO posd_app",
			"ALTER TABLE outbox_bench ENABLE ROW LEVEL SECURITY", "ALTER TABLE outbox_bench FORCE ROW LEVEL SECURITY"}, policies...)
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO dining_tables (venue_id, id, label, seats)
			  SELECT 'demo', 'B' || g, 'Bench ' || g, 4 FROM generate_series(1, %[1]d) g
			  UNION ALL SELECT 'demo', 'P' || g, 'pgbench ' || g, 4 FROM generate_series(0, %[1]d - 1) g
			  UNION ALL SELECT 'demo', 'H' || g, 'Banquet ' || g, 8 FROM generate_series(1, %[2]d) g
			  UNION ALL SELECT 'demo', 'K' || g, 'Kitchen ' || g, 4 FROM generate_series(1, %[3]d) g
			  UNION ALL SELECT 'demo', 'M' || g, 'pgbench minimal ' || g, 4 FROM generate_series(0, %[1]d - 1) g`, clients, banquets, kitchens),
			// The minimal script's orders: empty, at version 1 with their
			// opening event.
			fmt.Sprintf(`INSERT INTO orders (venue_id, id, table_id, status, guests, note, version, server_staff, opened_at, updated_at, last_hash)
			  SELECT 'demo', ('00000000-0000-4000-9000-' || lpad(g::text, 12, '0'))::uuid, 'M' || g, 'open', 4, '', 1, 'Alice',
			         now(), now(), '%s'::bytea
			  FROM generate_series(0, %d - 1) g`, benchHash, clients),
			fmt.Sprintf(`INSERT INTO orders (venue_id, id, table_id, status, guests, note, version, server_staff, opened_at, updated_at, last_hash)
			  SELECT 'demo', ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid, 'P' || g, 'open', 4, '', %d + 1, 'Alice',
			         now(), now(), '%s'::bytea
			  FROM generate_series(0, %d - 1) g`, lines, benchHash, clients),
			fmt.Sprintf(`INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents,
			                           seat, course, modifiers, note, station, status, comped)
			  SELECT 'demo', o.id, gen_random_uuid(), p, 'burger', 'Bistro burger', 1, 1600, 0, 1, '[]', '', 'grill', 'pending', false
			  FROM orders o, generate_series(1, %d) p WHERE o.venue_id = 'demo' AND o.table_id LIKE 'P%%'`, lines),
			fmt.Sprintf(`INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff, actor_role, ops, hash)
			  SELECT 'demo', o.id, 1, gen_random_uuid(), 'order.opened', now(), 'waiter-1', 'Alice', 'waiter',
			         json_build_array(json_build_object('op', 'open', 'table', o.table_id, 'guests', 4)), '%[1]s'::bytea
			  FROM orders o WHERE o.venue_id = 'demo' AND (o.table_id LIKE 'P%%' OR o.table_id LIKE 'M%%')
			  UNION ALL
			  SELECT 'demo', o.id, l.position + 1, gen_random_uuid(), 'order.patched', now(), 'waiter-1', 'Alice', 'waiter',
			         json_build_array(json_build_object('op', 'add_item', 'line_id', l.id, 'sku', l.sku, 'name', l.name,
			             'unit_price_cents', l.unit_price_cents, 'station', l.station, 'qty', 1, 'seat', 0, 'course', 1, 'note', '')),
			         '%[1]s'::bytea
			  FROM orders o JOIN order_lines l ON l.venue_id = o.venue_id AND l.order_id = o.id
			  WHERE o.venue_id = 'demo' AND o.table_id LIKE 'P%%'`, benchHash))
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return info, fmt.Errorf("prepare benchmark tables and pgbench orders: %w", err)
	}
	_, err = conn.Exec(ctx, "ANALYZE") // fresh statistics, as a long-running database has
	return info, err
}

// verifyPgbenchOrders checks that the script did what it claims: after t
// transactions (version lines+1+t) each pgbench order holds lines - t%2 lines
// (it alternates, removing first), has one event per version, and one
// outbox_bench row for each version it wrote.
func verifyPgbenchOrders(ctx context.Context, superURL string, lines int) (txs int64, problems []string, err error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `
		SELECT o.table_id, o.version,
		       (SELECT count(*) FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
		       (SELECT count(*) FROM order_events e WHERE e.venue_id = o.venue_id AND e.order_id = o.id),
		       (SELECT count(*) FROM outbox_bench b WHERE b.order_id = o.id),
		       (SELECT count(DISTINCT b.order_version) FROM outbox_bench b
		        WHERE b.order_id = o.id AND b.order_version BETWEEN $1::bigint + 2 AND o.version)
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
		if nOutbox != t || nVersions != t {
			problems = append(problems, fmt.Sprintf("pgbench order on %s: %d outbox_bench rows for %d versions (want one for each of its %d transactions)",
				table, nOutbox, nVersions, t))
		}
	}
	return txs, problems, rows.Err()
}

// verifyMinimalOrders checks the minimal script's orders: one event per
// version. It returns the transactions they record (warm-ups included).
func verifyMinimalOrders(ctx context.Context, superURL string) (txs int64, problems []string, err error) {
	conn, err := pgx.Connect(ctx, superURL)
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `
		SELECT o.table_id, o.version, (SELECT count(*) FROM order_events e WHERE e.venue_id = o.venue_id AND e.order_id = o.id)
		FROM orders o WHERE o.venue_id = 'demo' AND o.table_id LIKE 'M%' ORDER BY o.table_id`)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var table string
		var version, nEvents int64
		if err := rows.Scan(&table, &version, &nEvents); err != nil {
			return 0, nil, err
		}
		txs += version - 1
		if nEvents != version {
			problems = append(problems, fmt.Sprintf("minimal pgbench order on %s: version %d, %d events", table, version, nEvents))
		}
	}
	return txs, problems, rows.Err()
}

// queryRow runs one query on a fresh connection to url and scans its row.
func queryRow(ctx context.Context, url, sql string, args []any, dst ...any) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.QueryRow(ctx, sql, args...).Scan(dst...)
}
