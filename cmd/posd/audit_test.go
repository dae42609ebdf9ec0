package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// runPosd runs posd in process (runMain, what main runs) with
// --database-url dbURL right after the (sub)command when it takes one, as
// DATABASE_URL would give it, and returns its output and exit status.
func runPosd(t *testing.T, dbURL string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	if n := urlFlagAt(args); dbURL != "" && n > 0 {
		args = append(append(append([]string{}, args[:n]...), "--database-url", dbURL), args[n:]...)
	}
	var out, errOut bytes.Buffer
	code = runMain(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), code
}

// urlFlagAt is where --database-url goes in args: after the command words
// of a command that takes it, else 0.
func urlFlagAt(args []string) int {
	takes := map[string]bool{"migrate": true, "seed": true, "audit shift": true, "audit verify": true,
		"device add": true, "device list": true, "device revoke": true, "outbox dead-letters": true, "outbox replay": true,
		"venue add": true, "venue list": true, "menu import": true, "menu export": true}
	if len(args) > 0 && takes[args[0]] {
		return 1
	}
	if len(args) > 1 && takes[args[0]+" "+args[1]] {
		return 2
	}
	return 0
}

func shiftArgs(sc apitest.ShiftScript, format string) []string {
	return []string{"audit", "shift", "--venue", "demo", "--from", sc.From.Format(time.RFC3339), "--to", sc.To.Format(time.RFC3339), "--format", format}
}

// TestAuditShiftCLI: "posd audit shift" over a scripted shift gives, in
// JSON, CSV and table form, the same figures as the expected report and as
// the HTTP API.
func TestAuditShiftCLI(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	sc := apitest.ScriptShift(t, s)
	url := s.DB.AdminURL

	t.Run("json", func(t *testing.T) {
		out, errOut, code := runPosd(t, url, shiftArgs(sc, "json")...)
		require.Zero(t, code, errOut)
		var rep audit.Report
		require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
		sc.RequireReport(t, rep)

		// The same data as GET /v1/audit/shift, member for member.
		r := s.Do(t, apitest.Req{Method: "GET", Path: "/v1/audit/shift?" + sc.Query(), Token: seed.TokenAuditor})
		require.Equal(t, 200, r.Status, string(r.Body))
		var fromAPI, fromCLI any
		require.NoError(t, json.Unmarshal(r.Body, &fromAPI))
		require.NoError(t, json.Unmarshal([]byte(out), &fromCLI))
		require.Equal(t, fromAPI, fromCLI)
	})

	t.Run("csv", func(t *testing.T) {
		out, errOut, code := runPosd(t, url, shiftArgs(sc, "csv")...)
		require.Zero(t, code, errOut)
		recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		require.NoError(t, err, out)
		header := []string{"section", "staff", "orders_closed", "sales_cents", "tips_cents", "voids", "comps",
			"order_id", "version", "table", "line_id", "sku", "qty", "amount_cents", "reason", "by", "at",
			"overridden_version", "count",
			"gross_sales_cents", "discount_cents", "net_sales_cents", "service_charge_cents", "tax_cents", "total_cents",
			"paid_cents", "refund_cents", "refunds", "tax_class", "rate_bps", "inclusive", "taxable_cents", "tender", "payment_cents",
			"menu_version", "role", "kind", "id", "fields"}
		require.Equal(t, header, recs[0])
		var got []map[string]string
		for _, rec := range recs[1:] {
			require.Len(t, rec, len(header))
			row := map[string]string{}
			for i, h := range header {
				if rec[i] != "" {
					row[h] = rec[i]
				}
			}
			if at, ok := row["at"]; ok {
				ts, err := time.Parse(time.RFC3339Nano, at)
				require.NoError(t, err)
				require.False(t, ts.Before(sc.From) || !ts.Before(sc.To), "at %s outside the range", ts)
				delete(row, "at")
			}
			got = append(got, row)
		}
		want := []map[string]string{
			{"section": "staff", "staff": "Alice", "orders_closed": "2", "sales_cents": "9120", "tips_cents": "1100", "voids": "0", "comps": "0"},
			{"section": "staff", "staff": "Bruno", "orders_closed": "2", "sales_cents": "2800", "tips_cents": "300", "voids": "0", "comps": "0"},
			{"section": "staff", "staff": "Maria", "orders_closed": "0", "sales_cents": "0", "tips_cents": "0", "voids": "1", "comps": "1"},
			{"section": "voids", "count": "1"},
			{"section": "void", "order_id": sc.Orders["T2"].String(), "version": "4", "table": "T2", "line_id": sc.Lines["T2/fries"].String(),
				"sku": "fries", "qty": "1", "amount_cents": "500", "reason": "dropped", "by": "Maria"},
			{"section": "comps", "count": "1"},
			{"section": "comp", "order_id": sc.Orders["T1"].String(), "version": "4", "table": "T1", "line_id": sc.Lines["T1/beer"].String(),
				"sku": "beer", "qty": "1", "amount_cents": "700", "reason": "birthday", "by": "Maria"},
			{"section": "forced_overrides", "count": "1"},
			{"section": "forced_override", "order_id": sc.Orders["T4"].String(), "version": "3", "table": "T4", "by": "Maria", "overridden_version": "2"},
			{"section": "conflicts_total", "count": "2"},
			{"section": "conflict_tables", "count": "1"},
			{"section": "conflicts", "table": "T4", "count": "2"},
			{"section": "money", "orders_closed": "4", "gross_sales_cents": "13300", "discount_cents": "1380", "net_sales_cents": "11920",
				"service_charge_cents": "778", "tax_cents": "1153", "total_cents": "12698", "paid_cents": "12698", "refund_cents": "955",
				"refunds": "1", "tips_cents": "1400"},
			{"section": "tax", "tax_class": "drinks", "rate_bps": "2000", "inclusive": "true", "taxable_cents": "0", "tax_cents": "0"},
			{"section": "tax", "tax_class": "food", "rate_bps": "1000", "inclusive": "true", "taxable_cents": "12698", "tax_cents": "1153"},
			{"section": "tender", "tender": "card", "payment_cents": "12053", "refund_cents": "955", "tips_cents": "1200"},
			{"section": "tender", "tender": "cash", "payment_cents": "1600", "refund_cents": "0", "tips_cents": "200"},
			{"section": "menu_changes", "count": "0"},
		}
		require.Equal(t, want, got)
	})

	t.Run("table", func(t *testing.T) {
		out, errOut, code := runPosd(t, url, shiftArgs(sc, "table")...)
		require.Zero(t, code, errOut)
		lines := strings.Split(out, "\n")
		require.Equal(t, "Shift report for demo, "+sc.From.Format(time.RFC3339)+" to "+sc.To.Format(time.RFC3339), strings.TrimSpace(lines[0]))
		rows := map[string][]string{} // by the line's text without its leading time
		var plain []string
		for _, l := range lines {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			plain = append(plain, strings.Join(f, " "))
			if ts, err := time.Parse(time.RFC3339, f[0]); err == nil {
				require.False(t, ts.Before(sc.From) || ts.After(sc.To), "%s outside the range", l)
				rows[strings.Join(f[1:], " ")] = f
			}
		}
		for _, want := range []string{
			"Alice 2 91.20 11.00 0 0",
			"Bruno 2 28.00 3.00 0 0",
			"Maria 0 0.00 0.00 1 1",
			"VOIDS (1)", "COMPS (1)", "FORCED OVERRIDES (1)",
			"CONFLICTS (2 refused stale writes)",
			"T4 2",
			"TAKINGS (4 orders closed)",
			"gross sales 133.00", "discounts 13.80", "net sales 119.20", "service charges 7.78", "tax 11.53",
			"total 126.98", "paid (net of refunds) 126.98", "refunds 9.55", "tips 14.00", "refunds given 1",
			"drinks 2000 true 0.00 0.00", "food 1000 true 126.98 11.53",
			"card 120.53 9.55 12.00", "cash 16.00 0.00 2.00",
			"MENU CHANGES (0)", "AT BY ROLE KIND ID FIELDS MENU VERSION",
		} {
			require.Contains(t, plain, want, out)
		}
		for _, want := range []string{
			"T2 fries 1 5.00 Maria dropped " + sc.Orders["T2"].String() + " 4",
			"T1 beer 1 7.00 Maria birthday " + sc.Orders["T1"].String() + " 4",
			"T4 3 2 Maria " + sc.Orders["T4"].String(),
		} {
			require.Contains(t, rows, want, out)
		}
		require.NotContains(t, out, "Chloe", "Chloe closed, voided and comped nothing")
	})

	t.Run("bad arguments", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			msg  string
		}{
			{[]string{"audit", "shift", "--venue", "demo", "--from", sc.To.Format(time.RFC3339), "--to", sc.From.Format(time.RFC3339)}, "from must be before to"},
			{[]string{"audit", "shift", "--venue", "demo", "--from", "yesterday", "--to", sc.To.Format(time.RFC3339)}, "--from"},
			{[]string{"audit", "shift", "--venue", "demo", "--from", sc.From.Format(time.RFC3339), "--to", sc.From.Add(32 * 24 * time.Hour).Format(time.RFC3339)}, "31 days"},
			{[]string{"audit", "shift", "--from", sc.From.Format(time.RFC3339), "--to", sc.To.Format(time.RFC3339)}, "--venue"},
			// A range the report cannot write back (RFC 3339 in UTC), as
			// GET /v1/audit/shift refuses it.
			{[]string{"audit", "shift", "--venue", "demo", "--from", "9999-12-31T00:00:00Z", "--to", "9999-12-31T23:30:00-01:00"},
				"--to must fall within the years 0000 to 9999 in UTC"},
			{[]string{"audit", "shift", "--venue", "demo", "--from", "0000-01-01T00:00:00+01:00", "--to", "0000-01-02T00:00:00Z"},
				"--from must fall within the years 0000 to 9999 in UTC"},
			{shiftArgs(sc, "xml"), "--format"},
			{[]string{"audit", "verify"}, "--venue"},
			{[]string{"audit", "verify", "--venue", "demo", "--all-venues", "--no-signatures"}, "--all-venues"},
			{[]string{"audit", "verify", "--venue", "demo", "--public-key", "abc"}, "--public-key"},
			{[]string{"audit", "keygen"}, "--out"},
			{[]string{"audit"}, "subcommand"},
		} {
			out, errOut, code := runPosd(t, url, c.args...)
			require.Equal(t, 1, code, "%v: %s%s", c.args, out, errOut)
			require.Contains(t, errOut, c.msg, "%v", c.args)
		}
	})
}

// TestAuditShiftCLIMenuChangesBounded: a shift with more menu changes
// than a report lists (1,000) lists the first 1,000 in every format and
// says how many there are: the table's heading, menu_changes_total in
// JSON, the menu_changes row's count in CSV.
func TestAuditShiftCLIMenuChangesBounded(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	const bound = 1000
	from := time.Now().UTC().Truncate(time.Second)
	kitchen := order.Actor{Device: "kitchen", Staff: "Kitchen", Role: order.RoleKitchen}
	for n := range bound + 2 {
		_, _, err := s.Store.SetAvailability(context.Background(), "demo", "steak",
			store.AvailabilityChange{SetRemaining: true, Remaining: &n}, kitchen)
		require.NoError(t, err)
	}
	to := time.Now().UTC().Add(time.Minute).Truncate(time.Second)
	args := func(format string) []string {
		return []string{"audit", "shift", "--venue", "demo", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--format", format}
	}

	out, errOut, code := runPosd(t, s.DB.AdminURL, args("table")...)
	require.Zero(t, code, errOut)
	require.Contains(t, out, "\nMENU CHANGES (1000 of 1002, the first of the range: a narrower range lists the rest)\n")
	require.Equal(t, bound, strings.Count(out, " Kitchen  kitchen  availability  steak  remaining "), "one table row per listed change")

	out, errOut, code = runPosd(t, s.DB.AdminURL, args("json")...)
	require.Zero(t, code, errOut)
	var rep audit.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, bound, len(rep.MenuChanges))
	require.EqualValues(t, bound+2, rep.MenuChangesTotal)

	out, errOut, code = runPosd(t, s.DB.AdminURL, args("csv")...)
	require.Zero(t, code, errOut)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	sections := map[string]int{}
	for _, rec := range recs[1:] {
		sections[rec[0]]++
		if rec[0] == "menu_changes" {
			require.Equal(t, "1002", rec[slices.Index(audit.CSVHeader, "count")])
		}
	}
	require.Equal(t, bound, sections["menu_change"])
	require.Equal(t, 1, sections["menu_changes"])
}

// TestAuditShiftCLIListsBounded: a shift with more voids, comps, forced
// overrides and tables with refused writes than a report lists (1,000 of
// each) lists 1,000 of each in every format and says how many there are:
// the table's headings, the totals in JSON, the count rows in CSV.
func TestAuditShiftCLIListsBounded(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	const bound = 1000
	sc := apitest.BusyShift(t, s, bound+2)
	args := func(format string) []string {
		return []string{"audit", "shift", "--venue", "demo", "--from", sc.From.Format(time.RFC3339), "--to", sc.To.Format(time.RFC3339), "--format", format}
	}

	out, errOut, code := runPosd(t, s.DB.AdminURL, args("table")...)
	require.Zero(t, code, errOut)
	for _, title := range []string{"VOIDS", "COMPS", "FORCED OVERRIDES"} {
		require.Contains(t, out, "\n"+title+" (1000 of 1002, the first of the range: a narrower range lists the rest)\n")
	}
	require.Contains(t, out, "\nCONFLICTS (1004 refused stale writes on 1002 tables; the 1000 with the most)\n")
	require.Equal(t, bound, strings.Count(out, " Maria  dropped "), "one table row per listed void")
	require.Equal(t, bound, strings.Count(out, " Maria  regulars "), "one table row per listed comp")
	require.Equal(t, bound-1, strings.Count(out, "\nB"), "one table row per listed table (T1, then B0001 …)")

	out, errOut, code = runPosd(t, s.DB.AdminURL, args("json")...)
	require.Zero(t, code, errOut)
	var rep struct {
		Voids                []json.RawMessage `json:"voids"`
		VoidsTotal           int64             `json:"voids_total"`
		Comps                []json.RawMessage `json:"comps"`
		CompsTotal           int64             `json:"comps_total"`
		ForcedOverrides      []json.RawMessage `json:"forced_overrides"`
		ForcedOverridesTotal int64             `json:"forced_overrides_total"`
		Conflicts            struct {
			Total        int64             `json:"total"`
			ByTable      []json.RawMessage `json:"by_table"`
			ByTableTotal int64             `json:"by_table_total"`
		} `json:"conflicts"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Equal(t, []int{bound, bound, bound, bound},
		[]int{len(rep.Voids), len(rep.Comps), len(rep.ForcedOverrides), len(rep.Conflicts.ByTable)})
	require.Equal(t, []int64{bound + 2, bound + 2, bound + 2, bound + 2, bound + 4},
		[]int64{rep.VoidsTotal, rep.CompsTotal, rep.ForcedOverridesTotal, rep.Conflicts.ByTableTotal, rep.Conflicts.Total})

	out, errOut, code = runPosd(t, s.DB.AdminURL, args("csv")...)
	require.Zero(t, code, errOut)
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	require.NoError(t, err)
	sections, counts := map[string]int{}, map[string]string{}
	for _, rec := range recs[1:] {
		sections[rec[0]]++
		counts[rec[0]] = rec[slices.Index(audit.CSVHeader, "count")]
	}
	require.Equal(t, map[string]int{"staff": 1, "voids": 1, "void": bound, "comps": 1, "comp": bound,
		"forced_overrides": 1, "forced_override": bound, "conflicts_total": 1, "conflict_tables": 1, "conflicts": bound,
		"money": 1, "menu_changes": 1}, sections)
	for section, want := range map[string]string{"voids": "1002", "comps": "1002", "forced_overrides": "1002",
		"conflicts_total": "1004", "conflict_tables": "1002"} {
		require.Equal(t, want, counts[section], section)
	}
}

// TestAuditVerifyCLI: "posd audit verify" needs the seals' public key (or
// an explicit --no-signatures), exits 0 and says ok on an intact journal,
// with the last seal's age, and exits 1 naming the order and version after
// a superuser edited an event with the triggers off.
func TestAuditVerifyCLI(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	sc := apitest.ScriptShift(t, s)
	events := s.DB.Count(t, "SELECT count(*) FROM order_events WHERE venue_id = 'demo'")
	require.EqualValues(t, 26, events)
	require.NoError(t, (&audit.Sealer{Journal: s.Store, Key: s.SealKey}).SealAll(context.Background()))
	pub := audit.PublicKeyHex(s.SealKey)

	// posd's own (non-owner) role is enough to audit.
	for _, url := range []string{s.DB.AdminURL, s.DB.AppURL} {
		out, errOut, code := runPosd(t, url, "audit", "verify", "--venue", "demo", "--public-key", pub)
		require.Zero(t, code, out+errOut)
		require.True(t, strings.HasPrefix(out, "ok"), out)
		require.Contains(t, out, "(26 events, 5 orders, 1 seals)")
		require.Contains(t, out, "0 events not sealed yet")
	}
	out, errOut, code := runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo", "--json", "--public-key", pub)
	require.Zero(t, code, errOut)
	var res audit.Result
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.True(t, res.OK)
	require.True(t, res.SignaturesChecked)
	require.Equal(t, []int64{events, 5, 1}, []int64{res.EventsChecked, res.OrdersChecked, res.SealsChecked})
	require.NotNil(t, res.LastSealAt)

	// The key from a file, as keygen writes it; another key fails the seal.
	dir := t.TempDir()
	out, errOut, code = runPosd(t, "", "audit", "keygen", "--out", dir+"/other.key")
	require.Zero(t, code, errOut)
	fi, err := os.Stat(dir + "/other.key")
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	otherPub, errOut, code := runPosd(t, "", "audit", "public-key", "--seal-key-file", dir+"/other.key")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "public key: "+strings.TrimSpace(otherPub))
	_, errOut, code = runPosd(t, "", "audit", "keygen", "--out", dir+"/other.key")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "exists", "keygen never overwrites a key")
	require.NoError(t, os.WriteFile(dir+"/other.pub", []byte(otherPub), 0o644))
	out, _, code = runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo", "--public-key", dir+"/other.pub")
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "seal 1: seal signature does not verify")

	// Without a key, only on request, and said so.
	_, errOut, code = runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--public-key")
	out, _, code = runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo", "--no-signatures")
	require.Zero(t, code, out)
	require.Contains(t, out, "signatures NOT checked")

	// Behind posd's back: who voided the fries (T2 version 4).
	ctx := context.Background()
	rewriteVoid(t, s, sc)
	out, errOut, code = runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo", "--public-key", pub)
	require.Equal(t, 1, code, out+errOut)
	require.True(t, strings.HasPrefix(out, "BROKEN: "), out)
	require.Contains(t, out, "order "+sc.Orders["T2"].String()+" version 4")
	require.Contains(t, errOut, "does not verify")

	out, _, code = runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo", "--json", "--public-key", pub)
	require.Equal(t, 1, code, out)
	var broken struct {
		OK     bool `json:"ok"`
		Broken struct {
			OrderID string `json:"order_id"`
			Version int64  `json:"version"`
			EventID string `json:"event_id"`
			Reason  string `json:"reason"`
		} `json:"broken"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &broken), out)
	require.False(t, broken.OK)
	require.Equal(t, sc.Orders["T2"].String(), broken.Broken.OrderID)
	require.EqualValues(t, 4, broken.Broken.Version)
	var eventID string
	require.NoError(t, s.DB.Admin.QueryRow(ctx, "SELECT id::text FROM order_events WHERE order_id = $1 AND version = 4", sc.Orders["T2"]).Scan(&eventID))
	require.Equal(t, eventID, broken.Broken.EventID)
	require.Contains(t, broken.Broken.Reason, "hash does not match")

	// The other venue is untouched and still verifies.
	_, _, code = runPosd(t, s.DB.AdminURL, "audit", "verify", "--venue", "demo2", "--public-key", pub)
	require.Zero(t, code)
}

// rewriteVoid edits the scripted shift's void (T2 version 4) as a superuser
// with the triggers off: who voided the fries becomes Bruno.
func rewriteVoid(t *testing.T, s *apitest.Stack, sc apitest.ShiftScript) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, pgx.BeginFunc(ctx, s.DB.Admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE order_events SET actor_staff = 'Bruno' WHERE order_id = $1 AND version = 4", sc.Orders["T2"])
		return err
	}))
}

// TestAuditVerifyAllVenuesTextfile: the nightly check. --all-venues verifies
// every venue in turn and --textfile leaves the outcome for the node
// exporter: 1 per venue that verifies, 0 for one that does not (and the run
// exits 1 naming it), and when the run finished. When the database cannot
// be read, the file keeps the last run's outcome (the alert on its age
// fires), rather than claiming a run.
func TestAuditVerifyAllVenuesTextfile(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	sc := apitest.ScriptShift(t, s)
	require.NoError(t, (&audit.Sealer{Journal: s.Store, Key: s.SealKey}).SealAll(context.Background()))
	pub := audit.PublicKeyHex(s.SealKey)
	prom := filepath.Join(t.TempDir(), "posd_audit_verify.prom")
	textfile := func() map[string]float64 {
		t.Helper()
		f, err := os.Open(prom)
		require.NoError(t, err)
		defer f.Close()
		fi, err := f.Stat()
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "the node exporter reads it as another user")
		parser := expfmt.NewTextParser(model.LegacyValidation)
		families, err := parser.TextToMetricFamilies(f)
		require.NoError(t, err)
		got := map[string]float64{}
		for _, m := range families["posd_audit_verify_ok"].GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
		require.Zero(t, families["posd_audit_verify_unchecked_venues"].GetMetric()[0].GetGauge().GetValue())
		finished := families["posd_audit_verify_finished_timestamp_seconds"].GetMetric()[0].GetGauge().GetValue()
		require.InDelta(t, float64(time.Now().Unix()), finished, 60)
		return got
	}

	before := time.Now()
	out, errOut, code := runPosd(t, s.DB.AppURL, "audit", "verify", "--all-venues", "--public-key", pub, "--textfile", prom)
	require.Zero(t, code, out+errOut)
	require.Contains(t, out, "ok: venue demo verifies (26 events, 5 orders, 1 seals)")
	require.Contains(t, out, "ok: venue demo2 verifies (0 events")
	require.Contains(t, out, "ok: 2 venues verify")
	require.Equal(t, map[string]float64{"demo": 1, "demo2": 1}, textfile())

	out, errOut, code = runPosd(t, s.DB.AppURL, "audit", "verify", "--all-venues", "--json", "--public-key", pub)
	require.Zero(t, code, errOut)
	type venueLine struct {
		Venue         string `json:"venue"`
		OK            bool   `json:"ok"`
		EventsChecked int64  `json:"events_checked"`
	}
	var lines []venueLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var r venueLine
		require.NoError(t, json.Unmarshal([]byte(l), &r), l)
		lines = append(lines, r)
	}
	require.Len(t, lines, 2)
	require.Equal(t, "demo", lines[0].Venue)
	require.EqualValues(t, 26, lines[0].EventsChecked)
	require.True(t, lines[0].OK && lines[1].OK)

	// A superuser edits an event behind posd's back: the night's run says so.
	rewriteVoid(t, s, sc)
	out, errOut, code = runPosd(t, s.DB.AppURL, "audit", "verify", "--all-venues", "--public-key", pub, "--textfile", prom)
	require.Equal(t, 1, code, out+errOut)
	require.Contains(t, out, "BROKEN: venue demo: order "+sc.Orders["T2"].String()+" version 4")
	require.Contains(t, out, "ok: venue demo2 verifies")
	require.NotContains(t, out, "venues verify")
	require.Equal(t, map[string]float64{"demo": 0, "demo2": 1}, textfile())

	// No database: no run to report, the file is left as it was.
	fi, err := os.Stat(prom)
	require.NoError(t, err)
	require.True(t, fi.ModTime().After(before))
	_, errOut, code = runPosd(t, "postgres://posd@127.0.0.1:1/posd?connect_timeout=2", "audit", "verify", "--all-venues", "--public-key", pub, "--textfile", prom)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "list the venues")
	again, err := os.Stat(prom)
	require.NoError(t, err)
	require.Equal(t, fi.ModTime(), again.ModTime())
}

// TestAuditVerifyCLIWithNATS: with --nats-url, "posd audit verify" compares
// each order with its last JetStream message: ok while every committed
// change is published (or in flight), exit 1 naming the order and version
// once posd's own role moved the relay's cursor past an unpublished change;
// a NATS it cannot reach is an error, never an ok.
func TestAuditVerifyCLIWithNATS(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{NoRelay: true})
	ctx := context.Background()
	stop, _ := s.StartRelay(t, outbox.Options{})
	pub := audit.PublicKeyHex(s.SealKey)
	waiter := order.Actor{Device: "waiter-1", Staff: "Alice", Role: order.RoleWaiter}
	o, err := s.Store.Open(ctx, "demo", "T1", 2, waiter, nil)
	require.NoError(t, err)
	stream, err := s.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	apitest.Eventually(t, 30*time.Second, func() bool {
		_, err := stream.GetLastMsgForSubject(ctx, kitchen.OrderSubject("demo", o.ID))
		return err == nil
	}, "the order's event in the stream")
	args := []string{"audit", "verify", "--venue", "demo", "--public-key", pub, "--nats-url", s.NATS.ClientURL(), "--stream-grace", "1ms"}
	out, errOut, code := runPosd(t, s.DB.AppURL, args...)
	require.Zero(t, code, out+errOut)
	require.Contains(t, out, "JetStream: 1 orders match their last message")

	stop()
	one, guests := int64(1), 4
	_, _, err = s.Store.Patch(ctx, "demo", o.ID, store.Patch{Expected: &one, Ops: []order.Op{{Op: order.OpSetGuests, Guests: &guests}}}, waiter)
	require.NoError(t, err)
	out, errOut, code = runPosd(t, s.DB.AppURL, args...)
	require.Zero(t, code, "a change in flight is no broken link: "+out+errOut)
	_, err = pgtest.SystemScope(s.DB.Pool).Exec(ctx, `UPDATE outbox_cursor c SET txid = o.txid, id = o.id
		FROM (SELECT txid, id FROM outbox ORDER BY txid DESC, id DESC LIMIT 1) o WHERE c.name = 'relay'`)
	require.NoError(t, err)
	out, errOut, code = runPosd(t, s.DB.AppURL, args...)
	require.Equal(t, 1, code, out+errOut)
	require.Contains(t, out, "BROKEN: venue demo: order "+o.ID.String()+" version 2: the last message on JetStream")
	// Without --nats-url the database alone still verifies: only the
	// comparison with JetStream shows it.
	out, errOut, code = runPosd(t, s.DB.AppURL, "audit", "verify", "--venue", "demo", "--public-key", pub)
	require.Zero(t, code, out+errOut)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "nats://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	_, errOut, code = runPosd(t, s.DB.AppURL, "audit", "verify", "--venue", "demo", "--public-key", pub, "--nats-url", dead)
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--nats-url")
}

// TestAuditCLIReplicaURL: with --replica-url posd audit reads there (no
// DATABASE_URL needed) and says where it read: a line above the table and
// the verify summary, read_from in JSON, a line on stderr beside the CSV.
// Here the replica URL is a primary, which the answer owns up to; a real
// standby is make test-ha's.
func TestAuditCLIReplicaURL(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	sc := apitest.ScriptShift(t, s)
	replica := []string{"--replica-url", s.DB.AppURL}
	const primary = "read from the primary (no standby answered the replica URL)"

	out, errOut, code := runPosd(t, "", append(shiftArgs(sc, "json"), replica...)...)
	require.Zero(t, code, errOut)
	var rep audit.Report
	require.NoError(t, json.Unmarshal([]byte(out), &rep), out)
	require.Equal(t, &audit.ReadFrom{LagSeconds: new(float64)}, rep.ReadFrom)
	rep.ReadFrom = nil
	sc.RequireReport(t, rep)

	out, errOut, code = runPosd(t, "", append(shiftArgs(sc, "table"), replica...)...)
	require.Zero(t, code, errOut)
	require.True(t, strings.HasPrefix(out, primary+"\n\nShift report for demo"), out)

	out, errOut, code = runPosd(t, "", append(shiftArgs(sc, "csv"), replica...)...)
	require.Zero(t, code, errOut)
	require.Equal(t, primary+"\n", errOut)
	require.True(t, strings.HasPrefix(out, "section,"), out)

	out, errOut, code = runPosd(t, "", "audit", "verify", "--venue", "demo", "--no-signatures", "--replica-url", s.DB.AppURL)
	require.Zero(t, code, out+errOut)
	require.True(t, strings.HasPrefix(out, primary+"\nok: venue demo verifies (26 events"), out)

	// Without either URL it says which it needs.
	_, errOut, code = runPosd(t, "", "audit", "verify", "--venue", "demo", "--no-signatures")
	require.NotZero(t, code)
	require.Contains(t, errOut, "DATABASE_URL (or --database-url) is required")
}
