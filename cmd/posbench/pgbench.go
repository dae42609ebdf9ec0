package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// pgbenchScript is the SQL one posd PATCH runs, statement for statement, in
// the same order and the same round trips, as a pgbench custom script. For a
// PATCH posd looks up the bearer token (auth.Authenticate, no cache) and reads
// the order with its lines and payments (store.Get: GetOrderFull). Since the
// write guard (posd_assert, db/schema/0001_baseline.sql) it takes the menu
// entries of added SKUs from an in-memory cache (store.menu, 5 s), and sends
// BEGIN, the versioned UPDATE, the assertion that the UPDATE happened
// (AssertOrderHead), the event INSERT, the outbox INSERT, the line INSERT or
// DELETE, and COMMIT as one pipeline: one round trip (batchDB.commit). Before
// it, posd read the menu entries (GetMenuItems, add_item only) and sent BEGIN,
// the batch and COMMIT in three round trips; the script follows the schema it
// runs on (see schemaFeatures).
//
// Like the posd clients, each pgbench client owns one order (picked by
// :client_id) that starts with {{LINES}} lines at version {{LINES}}+1 and
// alternates: remove the oldest line, add a line. The UPDATE checks the
// version read just before, exactly as posd's does. Lines, events and outbox
// rows have the columns and sizes posd writes. Because \gset is not allowed in
// a pipeline, the new line's id is built from a pgbench random number and the
// removed line is found by a subquery on the (venue, order, position) index.
//
// The outbox rows go to outbox_bench, a copy of posd's outbox table (same
// columns, defaults, identity and indexes), so that posd's relay, which is
// still running during the pgbench runs, does not publish them. The script
// follows the schema it runs on (see schemaFeatures): the orders_full view,
// the audit chain's hash columns, json or jsonb ops, the outbox, the write
// guard, row-level security (posd pipelines a transaction-local set_config
// before each read and after BEGIN; the script does the same except before
// the order read, which \gset keeps out of a pipeline: pgbench's sessions
// start with posd.venue set instead).
const pgbenchScript = `-- posbench: the SQL of one posd PATCH (add_item or remove_item), see docs/BENCHMARKS.md.
-- 1. authenticate the bearer token (auth.Authenticate: GetDeviceByTokenHash)
{{AUTH_HEAD}}SELECT venue_id, id, name, role, staff FROM devices
WHERE token_hash = '\x{{TOKEN_HASH}}'::bytea AND revoked_at IS NULL;
{{AUTH_TAIL}}-- 2. read the order with its lines and payments (store.Get: GetOrderFull){{READ_NOTE}}
{{ORDER_READ}} \gset o_
-- Alternate like the posd clients: from {{LINES}} lines at version {{LINES}}+1, remove first.
\set add (:o_version + {{LINES}} + 1) % 2
\if :add
\set si random(1, {{NSKUS}})
\set lid random(1, 281474976710655)
{{MENU_READ}}{{WRITE_HEAD_ADD}}
{{SET_VENUE}}UPDATE orders
SET version = version + 1, table_id = :o_table_id, status = :o_status, guests = :o_guests, note = :o_note,
    updated_at = now(), closed_at = NULL{{SET_LAST_HASH}}
WHERE venue_id = 'demo' AND id = :o_id AND version = :o_version;
{{ASSERT}}INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff,
                          actor_role, ops, forced, overridden_version{{HASH_COL}})
VALUES ('demo', :o_id, :o_version + 1, gen_random_uuid(), 'order.patched', now(), 'waiter-1', 'Alice', 'waiter',
        {{JSON}}_build_array({{JSON}}_build_object('op', 'add_item', 'line_id', {{LINE_ID}}, 'sku', {{SKU}}::text,
            'name', {{NAME}}::text, 'unit_price_cents', {{PRICE}}::bigint, 'station', {{STATION}}::text,
            'qty', 1, 'seat', 0, 'course', 1, 'note', '')),
        false, NULL{{HASH_VAL}});
{{OUTBOX_ADD}}INSERT INTO order_lines (venue_id, order_id, id, position, sku, name, qty, unit_price_cents,
                         seat, course, modifiers, note, station, status, comped)
SELECT 'demo', :o_id,
       unnest(ARRAY[{{LINE_ID}}]), unnest(ARRAY[:o_version + 1]::int[]), unnest(ARRAY[{{SKU}}]::text[]),
       unnest(ARRAY[{{NAME}}]::text[]), unnest(ARRAY[1]::int[]), unnest(ARRAY[{{PRICE}}]::bigint[]),
       unnest(ARRAY[0]::int[]), unnest(ARRAY[1]::int[]), unnest(ARRAY['[]']::jsonb[]),
       unnest(ARRAY['']::text[]), unnest(ARRAY[{{STATION}}]::text[]), unnest(ARRAY['pending']::text[]),
       unnest(ARRAY[false]::bool[]);
{{WRITE_TAIL}}
\else
{{WRITE_HEAD_REMOVE}}
{{SET_VENUE}}UPDATE orders
SET version = version + 1, table_id = :o_table_id, status = :o_status, guests = :o_guests, note = :o_note,
    updated_at = now(), closed_at = NULL{{SET_LAST_HASH}}
WHERE venue_id = 'demo' AND id = :o_id AND version = :o_version;
{{ASSERT}}INSERT INTO order_events (venue_id, order_id, version, id, type, at, actor_device, actor_staff,
                          actor_role, ops, forced, overridden_version{{HASH_COL}})
SELECT 'demo', :o_id, :o_version + 1, gen_random_uuid(), 'order.patched', now(), 'waiter-1', 'Alice', 'waiter',
       {{JSON}}_build_array({{JSON}}_build_object('op', 'remove_item', 'line_id', l.id, 'sku', l.sku)), false, NULL{{HASH_VAL}}
FROM order_lines l WHERE l.venue_id = 'demo' AND l.order_id = :o_id ORDER BY l.position LIMIT 1;
{{OUTBOX_REMOVE}}DELETE FROM order_lines
WHERE venue_id = 'demo' AND order_id = :o_id
  AND id = ANY(ARRAY(SELECT id FROM order_lines WHERE venue_id = 'demo' AND order_id = :o_id
                     ORDER BY position LIMIT 1));
{{WRITE_TAIL}}
\endif
`

// The write's head and tail: with the write guard, BEGIN and COMMIT are in
// the pipeline (one round trip); before it, around it (three).
const (
	pgbenchHeadGuarded = `\startpipeline
BEGIN;`
	pgbenchTailGuarded = `COMMIT;
\endpipeline`
	pgbenchHeadBatched = `BEGIN;
\startpipeline`
	pgbenchTailBatched = `\endpipeline
COMMIT;`
)

// Row-level security (db/schema/0001_baseline.sql): posd pipelines
// the transaction-local scope setting before each read (pgscope) and after
// BEGIN in each write, in the same round trip.
const (
	pgbenchSetSystem = "SELECT set_config('posd.scope', 'system', true);\n"
	pgbenchSetVenue  = "SELECT set_config('posd.venue', 'demo', true);\n"
	// pgbenchReadNote explains why the order read has no setting before it.
	pgbenchReadNote = "\n-- (posd pipelines set_config('posd.venue', …) before it; \\gset is not allowed in a pipeline,\n" +
		"-- so pgbench's connections start with posd.venue=demo, see pgbench.exec)"
)

// pgbenchAssert is AssertOrderHead: the statement after the versioned UPDATE
// that aborts the transaction unless the UPDATE happened.
const pgbenchAssert = `SELECT posd_assert(EXISTS (
    SELECT 1 FROM orders
    WHERE venue_id = 'demo' AND id = :o_id AND version = :o_version + 1{{HEAD_HASH}}
), 'stale write: the order moved on');
`

// pgbenchMenuRead is GetMenuItems, which posd ran for add_item before the
// menu cache.
const pgbenchMenuRead = `SELECT sku, name, price_cents, station FROM menu_items
WHERE venue_id = 'demo' AND sku = ANY(ARRAY[{{MENU_SKU}}]) \gset m_
`

// pgbenchOrderRead is GetOrderFull before the orders_full view existed;
// pgbenchOrderView is GetOrderFull on the view (the same query inside).
const (
	pgbenchOrderRead = `SELECT o.venue_id, o.id, o.table_id, o.status, o.guests, o.note, o.version, o.server_staff,
       o.opened_at, o.updated_at, o.closed_at,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'id', l.id, 'position', l.position, 'sku', l.sku, 'name', l.name, 'qty', l.qty,
                    'unit_price_cents', l.unit_price_cents, 'seat', l.seat, 'course', l.course,
                    'modifiers', l.modifiers, 'note', l.note, 'station', l.station,
                    'status', l.status, 'comped', l.comped) ORDER BY l.position)
                 FROM order_lines l WHERE l.venue_id = o.venue_id AND l.order_id = o.id),
                '[]')::jsonb AS lines,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'tender', p.tender, 'amount_cents', p.amount_cents, 'tip_cents', p.tip_cents)
                    ORDER BY p.position)
                 FROM order_payments p WHERE p.venue_id = o.venue_id AND p.order_id = o.id),
                '[]')::jsonb AS payments
FROM orders o
WHERE o.venue_id = 'demo' AND o.id = {{ORDER_ID}}`
	pgbenchOrderView = `SELECT * FROM orders_full WHERE venue_id = 'demo' AND id = {{ORDER_ID}}`
)

// benchHash stands in for the 32-byte chain hash posd computes in Go and
// sends as a parameter: a constant of the same size.
const benchHash = `'\xabababababababababababababababababababababababababababababababab'::bytea`

// pgbenchOutbox is the outbox INSERT of a change (store.queueChange:
// InsertOutbox), with a payload of the size of posd's event JSON.
const pgbenchOutbox = `INSERT INTO outbox_bench (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
SELECT 'demo', unnest(ARRAY['pos.demo.order.' || :o_id]::text[]), unnest(ARRAY[gen_random_uuid()::text]),
       unnest(ARRAY['order.patched']::text[]), :o_id, :o_version + 1, unnest(ARRAY['\x{{PAYLOAD}}'::bytea]);
`

// Sample event payloads as posd encodes them (json.Marshal of order.Event).
const (
	payloadAdd = `{"id":"01a200cd-49d8-7435-848a-08e6c207d033","venue":"demo","order_id":"01a200cd-4891-75d9-823d-dd2ba56da949",` +
		`"version":12,"type":"order.patched","at":"2026-11-22T01:09:43.51227Z","actor":{"device":"waiter-1","staff":"Alice",` +
		`"role":"waiter"},"ops":[{"op":"add_item","line_id":"0190a0b0-0000-7000-8000-000000000001","sku":"burger",` +
		`"name":"Bistro burger","unit_price_cents":1600,"station":"grill","qty":1,"seat":0,"course":1,"note":""}],` +
		`"forced":false,"overridden_version":null}`
	payloadRemove = `{"id":"01a200cd-49d8-7435-848a-08e6c207d033","venue":"demo","order_id":"01a200cd-4891-75d9-823d-dd2ba56da949",` +
		`"version":13,"type":"order.patched","at":"2026-11-22T01:09:43.51227Z","actor":{"device":"waiter-1","staff":"Alice",` +
		`"role":"waiter"},"ops":[{"op":"remove_item","line_id":"0190a0b0-0000-7000-8000-000000000001","sku":"burger"}],` +
		`"forced":false,"overridden_version":null}`
)

// pgbenchLineID builds a line id from the random :lid (48 bits).
const pgbenchLineID = `('0190a0b0-0000-7000-8000-' || lpad(to_hex(:lid::bigint), 12, '0'))::uuid`

// renderPgbenchScript fills in the script's parameters for a posd schema with
// the given features, so the script keeps issuing what posd issues.
func renderPgbenchScript(lines int, f schemaFeatures) string {
	sum := sha256.Sum256([]byte(waiterTokens[0]))
	read, jsonFn := pgbenchOrderRead, "jsonb"
	if f.OrdersFull {
		read = pgbenchOrderView
	}
	if f.OpsJSON {
		jsonFn = "json"
	}
	setLastHash, hashCol, hashVal, payloadHash, headHash := "", "", "", "", ""
	if f.Hash {
		setLastHash, hashCol, hashVal = ", last_hash = "+benchHash, ", hash", ", "+benchHash
		payloadHash = `,"hash":"` + strings.Repeat("ab", 32) + `"`
		headHash = " AND last_hash = " + benchHash
	}
	outboxAdd, outboxRemove := "", ""
	if f.Outbox {
		// Hex, because pgbench would take ":13" in the JSON for a variable.
		payload := func(p string) string {
			return hex.EncodeToString([]byte(strings.TrimSuffix(p, "}") + payloadHash + "}"))
		}
		outboxAdd = strings.Replace(pgbenchOutbox, "{{PAYLOAD}}", payload(payloadAdd), 1)
		outboxRemove = strings.Replace(pgbenchOutbox, "{{PAYLOAD}}", payload(payloadRemove), 1)
	}
	// The added SKU's menu entry: with the write guard posd has it in
	// memory, so the script takes it from a constant copy of the demo menu;
	// before, posd read it (GetMenuItems) and so does the script.
	menu := benchMenu()
	col := func(f func(m menuEntry) string) string {
		var vals []string
		for _, m := range menu {
			vals = append(vals, f(m))
		}
		return "(ARRAY[" + strings.Join(vals, ", ") + "])[:si]"
	}
	skuArr := col(func(m menuEntry) string { return sqlString(m.SKU) })
	var headAdd, headRemove, tail, assert, menuRead, sku, name, price, station string
	if f.WriteGuard {
		headAdd = "-- add_item: the menu entry comes from posd's menu cache (store.menu): no query; here a\n" +
			"-- constant copy of the demo menu, indexed by :si\n" +
			"-- 3. the write in one round trip: BEGIN, the statements and COMMIT in one pipeline (store.write)\n" +
			pgbenchHeadGuarded
		headRemove = "-- 3. remove_item: the write in one round trip: BEGIN, the statements and COMMIT in one pipeline (store.write)\n" +
			pgbenchHeadGuarded
		tail = pgbenchTailGuarded
		assert = strings.Replace(pgbenchAssert, "{{HEAD_HASH}}", headHash, 1)
		sku, name = skuArr, col(func(m menuEntry) string { return sqlString(m.Name) })
		price = col(func(m menuEntry) string { return strconv.FormatInt(m.PriceCents, 10) })
		station = col(func(m menuEntry) string { return sqlString(m.Station) })
	} else {
		menuRead = "-- 3. add_item: read the menu entry (store.env: GetMenuItems)\n" +
			strings.Replace(pgbenchMenuRead, "{{MENU_SKU}}", skuArr, 1)
		headAdd = "-- 4. the write: BEGIN, one pipelined batch, COMMIT (store.write)\n" + pgbenchHeadBatched
		headRemove = "-- 3. remove_item: no menu read; 4. the write: BEGIN, one pipelined batch, COMMIT (store.write)\n" +
			pgbenchHeadBatched
		tail = pgbenchTailBatched
		sku, name, price, station = ":m_sku", ":m_name", ":m_price_cents", ":m_station"
	}
	authHead, authTail, readNote, setVenue := "", "", "", ""
	if f.RLS {
		authHead = "\\startpipeline\n" + pgbenchSetSystem
		authTail = "\\endpipeline\n"
		readNote = pgbenchReadNote
		setVenue = pgbenchSetVenue
	}
	// {{ORDER_READ}} first: it brings its own {{ORDER_ID}}.
	script := strings.Replace(pgbenchScript, "{{ORDER_READ}}", read, 1)
	return strings.NewReplacer(
		"{{AUTH_HEAD}}", authHead,
		"{{AUTH_TAIL}}", authTail,
		"{{READ_NOTE}}", readNote,
		"{{SET_VENUE}}", setVenue,
		"{{ORDER_ID}}", pgbenchOrderID,
		"{{TOKEN_HASH}}", hex.EncodeToString(sum[:]),
		"{{LINES}}", strconv.Itoa(lines),
		"{{NSKUS}}", strconv.Itoa(len(menu)),
		"{{MENU_READ}}", menuRead,
		"{{WRITE_HEAD_ADD}}", headAdd,
		"{{WRITE_HEAD_REMOVE}}", headRemove,
		"{{WRITE_TAIL}}", tail,
		"{{ASSERT}}", assert,
		"{{SKU}}", sku,
		"{{NAME}}", name,
		"{{PRICE}}", price,
		"{{STATION}}", station,
		"{{LINE_ID}}", pgbenchLineID,
		"{{SET_LAST_HASH}}", setLastHash,
		"{{HASH_COL}}", hashCol,
		"{{HASH_VAL}}", hashVal,
		"{{JSON}}", jsonFn,
		"{{OUTBOX_ADD}}", outboxAdd,
		"{{OUTBOX_REMOVE}}", outboxRemove,
	).Replace(script)
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// pgbenchResult is one pgbench run.
type pgbenchResult struct {
	Clients, Threads int
	Duration         time.Duration
	TPS              float64 // pgbench's "tps = … (without initial connection time)"
	Transactions     int
	Failed           int
	LatencyAvg       time.Duration
	// Latency is computed from pgbench's per-transaction log (-l).
	Latency latencySummary
	// CPU charges Postgres from the sampler and pgbench from its rusage.
	CPU        cpuUse
	PgbenchCPU time.Duration
	Command    string
	PG         *pgCounters

	samples []time.Duration // every latency, for merging rounds
}

// merge adds round o of the same client count to r.
func (r *pgbenchResult) merge(o pgbenchResult) {
	if r.Clients == 0 {
		*r = o
		return
	}
	r.TPS = (r.TPS*r.Duration.Seconds() + o.TPS*o.Duration.Seconds()) / (r.Duration + o.Duration).Seconds()
	r.Duration += o.Duration
	r.Transactions += o.Transactions
	r.Failed += o.Failed
	r.LatencyAvg = 0 // not meaningful across rounds; see Latency
	r.samples = append(r.samples, o.samples...)
	r.Latency = summarize(r.samples)
	r.CPU.add(o.CPU)
	r.PgbenchCPU += o.PgbenchCPU
	r.PG = addCounters(r.PG, o.PG)
}

// pgbench runs the script with pgbench against the posd role on the dev
// cluster.
type pgbench struct {
	bin    string
	port   int
	dir    string // script and transaction logs
	script string
	runs   int // measured runs so far, to name their logs
}

// newPgbench writes script into dir.
func newPgbench(bin string, port int, dir, script string) (*pgbench, error) {
	p := &pgbench{bin: bin, port: port, dir: dir, script: filepath.Join(dir, "patch.sql")}
	return p, os.WriteFile(p.script, []byte(script), 0o644)
}

// args is pgbench's command line for clients over d; logPrefix, if set, turns
// on the per-transaction log.
func (p *pgbench) args(clients int, d time.Duration, logPrefix string) []string {
	threads := min(clients, runtime.NumCPU())
	secs := max(1, int(math.Round(d.Seconds())))
	a := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "posd",
		"-n", "-M", "prepared", "-c", strconv.Itoa(clients), "-j", strconv.Itoa(threads),
		"-T", strconv.Itoa(secs), "-f", p.script}
	if logPrefix != "" {
		a = append(a, "-l", "--log-prefix", logPrefix)
	}
	return append(a, dbName)
}

// run warms up, then runs pgbench with clients for d and collects its figures.
func (p *pgbench) run(ctx context.Context, clients int, warmup, d time.Duration, smp *sampler, superURL string) (pgbenchResult, error) {
	if warmup >= time.Second {
		if _, _, err := p.exec(ctx, p.args(clients, warmup, "")); err != nil {
			return pgbenchResult{}, err
		}
	}
	p.runs++
	prefix := filepath.Join(p.dir, fmt.Sprintf("pgbench_%d_c%d", p.runs, clients))
	args := p.args(clients, d, prefix)
	start := time.Now()
	pg := watchPostgres(ctx, superURL, window{start: start, end: start.Add(d)})
	out, cpu, err := p.exec(ctx, args)
	pgc := pg()
	if err != nil {
		return pgbenchResult{}, err
	}
	res, err := parsePgbench(out)
	if err != nil {
		return res, err
	}
	res.Clients, res.Threads, res.Duration = clients, min(clients, runtime.NumCPU()), d
	res.Command = "pgbench " + strings.Join(args, " ")
	res.PgbenchCPU, res.PG = cpu, pgc
	res.CPU = smp.window(start, time.Now())
	lat, err := readPgbenchLogs(prefix)
	if err != nil {
		return res, err
	}
	res.Latency, res.samples = summarize(lat), lat
	return res, nil
}

// exec runs pgbench and returns its output and CPU time.
func (p *pgbench) exec(ctx context.Context, args []string) (string, time.Duration, error) {
	cmd := exec.CommandContext(ctx, p.bin, args...)
	cmd.Dir = p.dir
	// posd.venue=demo for the session: under row-level security the order
	// read (\gset, so not in a pipeline) needs it, where posd pipelines
	// set_config before the read. Harmless without row-level security.
	cmd.Env = append(os.Environ(), "PGSSLMODE=disable", "PGAPPNAME=pgbench", "PGOPTIONS=-c posd.venue=demo")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), 0, fmt.Errorf("pgbench %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return string(out), cpu, nil
}

var (
	reTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	reProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	reFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	reLatAvg    = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
)

// parsePgbench reads the summary pgbench prints.
func parsePgbench(out string) (pgbenchResult, error) {
	var r pgbenchResult
	m := reTPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no tps in pgbench output:\n%s", out)
	}
	r.TPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reProcessed.FindStringSubmatch(out); m != nil {
		r.Transactions, _ = strconv.Atoi(m[1])
	}
	if m := reFailed.FindStringSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(m[1])
	}
	if m := reLatAvg.FindStringSubmatch(out); m != nil {
		ms, _ := strconv.ParseFloat(m[1], 64)
		r.LatencyAvg = time.Duration(ms * float64(time.Millisecond))
	}
	return r, nil
}

// readPgbenchLogs reads the per-transaction latencies (third field, µs) of
// every log file of one run (one file per thread).
func readPgbenchLogs(prefix string) ([]time.Duration, error) {
	files, err := filepath.Glob(prefix + ".*")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no pgbench transaction logs %s.*", prefix)
	}
	var lat []time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 3 {
				continue
			}
			us, err := strconv.ParseInt(fields[2], 10, 64)
			if err != nil {
				continue // "failed"/"skipped" transactions carry no latency
			}
			lat = append(lat, time.Duration(us)*time.Microsecond)
		}
	}
	return lat, nil
}
