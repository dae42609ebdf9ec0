package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/benchkit"
	"github.com/posd/posd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// statements splits a script into its SQL statements, each with the query
// named on the "-- query:" line before it ("" for BEGIN and COMMIT).
func statements(script string) (names, stmts []string) {
	name, cur := "", ""
	for _, line := range strings.Split(script, "\n") {
		switch {
		case strings.HasPrefix(line, "-- query: "):
			name = strings.TrimPrefix(line, "-- query: ")
		case strings.HasPrefix(line, "--"), strings.HasPrefix(line, `\`), line == "":
		default:
			cur += line + "\n"
			if t := strings.TrimSpace(cur); strings.HasSuffix(t, ";") || strings.HasSuffix(t, `\gset o_`) {
				names, stmts = append(names, name), append(stmts, strings.TrimSpace(cur))
				name, cur = "", ""
			}
		}
	}
	return names, stmts
}

// The script holds exactly the statements of the queries it names, in
// posd's order, each the query's text from db/queries with every parameter
// replaced by a pgbench variable or one of the listed expressions; and
// pgbench runs it against a migrated database, doing to its orders what the
// script claims.
func TestPgbenchScriptIsTheStoreSQL(t *testing.T) {
	const lines = 4
	script, err := renderPgbenchScript(lines)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := loadQueries()
	if err != nil {
		t.Fatal(err)
	}
	names, stmts := statements(script)
	var queryFiles string
	files, _ := filepath.Glob("../../db/queries/*.sql")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		queryFiles += string(b)
	}
	if len(files) == 0 {
		t.Fatal("no db/queries/*.sql")
	}
	want := []string{"SetSystem", "GetDeviceByTokenHash", "GetOrderFull",
		"", "SetVenue", "BumpOrderVersion", "AssertOrderHead", "InsertEvent", "InsertOutbox", "InsertLines", "",
		"", "SetVenue", "BumpOrderVersion", "AssertOrderHead", "InsertEvent", "InsertOutbox", "DeleteLines", ""}
	if !slices.Equal(names, want) {
		t.Fatalf("statements of queries %q, want %q", names, want)
	}
	param := regexp.MustCompile(`sqlc\.n?arg\('?\w+'?\)|@\w+|\$\d+`)
	variable := regexp.MustCompile(`^:[a-z_]+$`)
	for i, name := range names {
		if name == "" {
			if stmts[i] != "BEGIN;" && stmts[i] != "COMMIT;" {
				t.Errorf("statement %d without a query: %q", i, stmts[i])
			}
			continue
		}
		q := qs[name]
		// Except pgscope's two settings, the text is the query file's, line for line.
		if !strings.HasPrefix(name, "Set") && !strings.Contains(queryFiles, "-- name: "+name+" :") {
			t.Errorf("%s is not a query of db/queries", name)
		}
		for _, line := range strings.Split(q, "\n") {
			if !strings.HasPrefix(name, "Set") && !strings.Contains(queryFiles, line) {
				t.Errorf("%s: line %q is not in db/queries", name, line)
			}
		}
		if name == "InsertOutbox" {
			q = strings.Replace(q, "INSERT INTO outbox ", "INSERT INTO outbox_bench ", 1)
		}
		// The query's text around its parameters, verbatim.
		pattern := "^"
		for j, part := range param.Split(q, -1) {
			if j > 0 {
				pattern += "(.+?)"
			}
			pattern += regexp.QuoteMeta(part)
		}
		m := regexp.MustCompile(pattern + `(;| \\gset o_)$`).FindStringSubmatch(stmts[i])
		if m == nil {
			t.Errorf("%s is not the query's text:\n%s\nquery:\n%s", name, stmts[i], q)
			continue
		}
		for _, b := range m[1 : len(m)-1] {
			if !variable.MatchString(b) && !slices.Contains(exprBindings, b) {
				t.Errorf("%s: parameter bound to %q, neither a pgbench variable nor a listed expression", name, b)
			}
		}
	}

	db := pgtest.NewDB(t)
	ctx := context.Background()
	info, err := prepareDatabase(ctx, db.AdminURL, 2, 0, 0, lines)
	if err != nil {
		t.Fatal(err)
	}
	script, err = renderPgbenchScript(lines)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPgbench("/usr/bin/pgbench", db.AppURL, t.TempDir(), "patch", script, info.MenuVersion)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath(p.Bin); err != nil {
		t.Fatalf("pgbench: %v", err)
	}
	smp := benchkit.StartSampler(0, 0, time.Second)
	defer smp.Close()
	r, err := p.run(ctx, 2, 0, 2*time.Second, smp, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	if r.Transactions < 2 || r.Failed != 0 || r.Latency.N != r.Transactions || r.PG == nil || r.PG.Commits < int64(r.Transactions) {
		t.Fatalf("pgbench: %d transactions, %d failed, %d latencies", r.Transactions, r.Failed, r.Latency.N)
	}
	t.Logf("pgbench: %d transactions, %.0f tps, p50 %s ms", r.Transactions, r.TPS, benchkit.MS(r.Latency.P50))
	txs, problems, err := verifyPgbenchOrders(ctx, db.AdminURL, lines)
	if err != nil || len(problems) > 0 {
		t.Fatalf("verify: %v %q", err, problems)
	}
	if txs != int64(r.Transactions) {
		t.Fatalf("the orders record %d transactions, pgbench ran %d", txs, r.Transactions)
	}
	var events, signed int64
	if err := queryRow(ctx, db.AdminURL, `SELECT count(*), count(signature) FROM order_events WHERE type = 'order.patched'
		AND order_id IN (SELECT id FROM orders WHERE table_id LIKE 'P%') AND version > $1`, []any{lines + 1}, &events, &signed); err != nil {
		t.Fatal(err)
	}
	if events != txs || signed != txs {
		t.Fatalf("%d events (%d signed) for %d transactions", events, signed, txs)
	}

	// The minimal write, on orders of its own: one event per version,
	// every transaction accounted for.
	script, err = renderMinimalScript()
	if err != nil {
		t.Fatal(err)
	}
	m, err := newPgbench("/usr/bin/pgbench", db.AppURL, t.TempDir(), "minimal", script, info.MenuVersion)
	if err != nil {
		t.Fatal(err)
	}
	r, err = m.run(ctx, 2, 0, 2*time.Second, smp, db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	if r.Transactions < 2 || r.Failed != 0 {
		t.Fatalf("minimal pgbench: %d transactions, %d failed", r.Transactions, r.Failed)
	}
	t.Logf("minimal pgbench: %d transactions, %.0f tps, p50 %s ms", r.Transactions, r.TPS, benchkit.MS(r.Latency.P50))
	mtxs, problems, err := verifyMinimalOrders(ctx, db.AdminURL)
	if err != nil || len(problems) > 0 {
		t.Fatalf("verify minimal: %v %q", err, problems)
	}
	if mtxs != int64(r.Transactions) {
		t.Fatalf("the minimal orders record %d transactions, pgbench ran %d", mtxs, r.Transactions)
	}
	// posd's orders are untouched by it.
	if txs2, _, _ := verifyPgbenchOrders(ctx, db.AdminURL, lines); txs2 != txs {
		t.Fatalf("the minimal write changed posd's pgbench orders (%d → %d transactions)", txs, txs2)
	}
}

// The verdicts come from the checked counts: a missing, duplicated or
// unchecked message is a failure whatever the latency or the rate.
func TestVerdicts(t *testing.T) {
	fast := benchkit.Summary{N: 10, P50: time.Millisecond, P99: 2 * time.Millisecond}
	for _, tc := range []struct {
		c    benchkit.Deliveries
		want string
	}{
		{benchkit.Deliveries{Expected: 10, Received: 10, FromStamp: fast}, "met"},
		{benchkit.Deliveries{}, "**FAILED**: nothing expected"},
		{benchkit.Deliveries{Expected: 11, Received: 10, Missing: 1, FromStamp: fast}, "**FAILED**: 1 of 11 tickets never arrived"},
		{benchkit.Deliveries{Expected: 12, Received: 10, FromStamp: fast}, "**FAILED**: 2 of 12 tickets never arrived"},
		{benchkit.Deliveries{Expected: 10, Received: 10, Duplicate: 1, FromStamp: fast}, "**FAILED**: 1 of 10 tickets arrived more than once"},
		{benchkit.Deliveries{Expected: 10, Received: 10, FromStamp: benchkit.Summary{N: 10, P99: 60 * time.Millisecond}}, "**missed** by 10.00 ms"},
	} {
		if got := sseVerdict(tc.c); !strings.HasPrefix(got, tc.want) {
			t.Errorf("sseVerdict(%+v) = %q, want %q…", tc.c, got, tc.want)
		}
	}
	ok := drainResult{Events: 100, Published: 100, Drain: 10 * time.Millisecond, Rate: 10000}
	for _, tc := range []struct {
		mod  func(*drainResult)
		want string
	}{
		{func(*drainResult) {}, "met"},
		{func(d *drainResult) { d.Published = 99 }, "**FAILED**: the stream holds 99 messages on the backlog's subjects, want 100"},
		{func(d *drainResult) { d.Published = 101 }, "**FAILED**: the stream holds 101"},
		{func(d *drainResult) { d.Published = 0 }, "**FAILED**"},
		{func(d *drainResult) { d.Drain, d.Error = 0, "timeout" }, "**not finished**: timeout"},
		{func(d *drainResult) { d.Rate = 4000 }, "**missed** by 1000 events/s"},
	} {
		d := ok
		tc.mod(&d)
		if got := drainVerdict(d); !strings.HasPrefix(got, tc.want) {
			t.Errorf("drainVerdict(%+v) = %q, want %q…", d, got, tc.want)
		}
	}
}

// The drain's payload template, filled in as Postgres's format() does, is an
// order event's JSON of about the size of posd's.
func TestDrainPayload(t *testing.T) {
	id, orderID, line := uuid.New().String(), uuid.New().String(), uuid.New().String()
	s := drainPayload
	for i, v := range []string{id, orderID, "42", "2026-11-22T02:00:00.123456Z", line, strings.Repeat("ab", 32)} {
		s = strings.ReplaceAll(s, fmt.Sprintf("%%%d$s", i+1), v)
	}
	var ev struct {
		OrderID string    `json:"order_id"`
		Version int64     `json:"version"`
		At      time.Time `json:"at"`
	}
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	if ev.OrderID != orderID || ev.Version != 42 || ev.At.IsZero() || len(s) < 400 || len(s) > 700 {
		t.Fatalf("decoded %+v from %d bytes: %s", ev, len(s), s)
	}
}

// The report renders every section from a filled-in run, and a run with
// nothing measured, without template errors.
func TestReportRenders(t *testing.T) {
	h := &benchkit.Histogram{Bounds: []float64{0.01, math.Inf(1)}, Counts: []float64{5, 10}, Sum: 0.1, Count: 10}
	out := benchkit.Outcomes{OK: 10, Latencies: []time.Duration{time.Millisecond}, Statuses: map[int]int{500: 2}, FirstBad: "boom"}
	low := loadStats{Outcomes: out, Clients: 8, Duration: time.Second, Throughput: 10, Delivery: h, PG: &benchkit.PGCounters{Commits: 30}}
	r := &report{Config: Config{Duration: 10 * time.Second, Rounds: 2, Lines: 10, Warmup: time.Second}, Low: []loadStats{low},
		Pgbench:        []pgbenchResult{{Clients: 8, PgbenchRun: benchkit.PgbenchRun{PgbenchSummary: benchkit.PgbenchSummary{TPS: 20, Transactions: 20, Failed: 1}, Command: "pgbench -c 8"}}},
		Banquet:        []banquetResult{{loadStats: low, Conflicts: 5, Version: 11, WantVersion: 11, EventRows: 11, Unknown: 1}},
		Kitchen:        &kitchenResult{loadStats: low, SendEvery: 4, SSE: benchkit.Deliveries{Expected: 2, Received: 1, Missing: 1}, SSEError: "cut"},
		Drain:          &drainResult{Events: 100, Published: 99, Drain: time.Second, Rate: 100, StreamAfter: 99},
		VerifyProblems: []string{"order x: version 3"}, StopError: "killed", ErrorLogLines: 1, ErrorLogSample: "{}"}
	var b strings.Builder
	if err := r.writeMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| 8 | 10 | 0.00 | 0.00 | 0.00 | 0.00 | 2 (2×500) | 20 | 0.00 | 0.00 | 0.00 | 50% |",
		"| 8 | 10 | 5 | 0.50 |", "| posd, 8 clients | 10 | ", "| kitchen mix, 8 clients | 10 | 10.00 | ≤ 10 | > last bucket |",
		"| commit→SSE, ticket.created on grill, from created_at | 2 | 1 | 1 | 0 | 0 | – | – | – | – |", "The SSE stream ended with: `cut`.",
		"| 100 | 0s | 1s | 100 | 0 → 99 (+99) | 99 |", "| pgbench, 8 clients | 20 | – |", "| posd, 8 clients | 3.00 | 0.00 |",
		"**FAILED**: 1 of 2 tickets never arrived", "**FAILED**: the stream holds 99 messages", "- VERIFY: order x: version 3",
		"- posd, 8 clients, first unexpected answer: `boom`", "- Banquet, 8 clients: 1 writes with unknown outcome",
		"- pgbench, 8 clients: 1 failed transactions", "- Stopping posd: killed", "`pgbench -c 8`",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := (&report{Config: Config{Rounds: 1}}).writeMarkdown(&b); err != nil || !strings.Contains(b.String(), "### Targets") {
		t.Fatalf("empty report: %v\n%s", err, b.String())
	}
}
