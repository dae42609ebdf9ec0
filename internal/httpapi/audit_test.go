package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// keys returns the member names of a JSON object, sorted.
func keys(m any) []string {
	obj := m.(map[string]any)
	ks := make([]string, 0, len(obj))
	for k := range obj {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// demo2Noise writes, in venue demo2 and on the same table names, everything
// the demo report counts: a closed order with sales and tips, a refused stale
// write, a void, a comp and a forced override (the last three straight through
// the store, as demo2 has no manager token). closed is left closed, open
// stays open.
func demo2Noise(t *testing.T, f *apitest.Fixture, closed, open string) {
	t.Helper()
	z1 := f.Other.Open(closed, 3).ID
	f.Other.Patch(z1, 1, apitest.AddItem("steak", 1), apitest.AddItem("beer", 1), apitest.Fire())
	f.Other.Patch(z1, 2, apitest.Pay("card", 3100, 999), apitest.Close())

	id := f.Other.Open(open, 3).ID
	o := f.Other.Patch(id, 1, apitest.AddItem("burger", 1), apitest.AddItem("fries", 1), apitest.Fire())
	apitest.RequireProblem(t, f.Other.TryPatch(id, 1, apitest.SetNote("late")), 409, "version-conflict")

	ctx := context.Background()
	yuri := order.Actor{Device: "backoffice", Staff: "Yuri", Role: order.RoleManager}
	v := int64(2)
	for _, op := range []order.Op{
		apitest.Void(apitest.LineOf(o, "fries"), "demo2 void"),
		apitest.Comp(apitest.LineOf(o, "burger"), "demo2 comp"),
	} {
		_, changed, err := f.Store.Patch(ctx, "demo2", id, store.Patch{Expected: &v, Ops: []order.Op{op}}, yuri)
		require.NoError(t, err)
		require.True(t, changed)
		v++
	}
	_, changed, err := f.Store.Patch(ctx, "demo2", id, store.Patch{Force: true, Ops: []order.Op{apitest.SetGuests(7)}}, yuri)
	require.NoError(t, err)
	require.True(t, changed)
}

// TestAuditShiftReport drives a scripted shift through the API and checks the
// post-shift report figure by figure, that every void, comp and override
// leads to its event and to the order as it was, that the range is half-open,
// and that another venue's data written in the same range never appears.
func TestAuditShiftReport(t *testing.T) {
	f := start(t)
	wideFrom := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	demo2Noise(t, f, "T1", "T4") // before the script…
	sc := apitest.ScriptShift(t, f.Stack)
	demo2Noise(t, f, "T2", "T3") // …and inside its range, on the same table names.
	wideTo := time.Now().UTC().Add(time.Hour).Truncate(time.Second)

	// The noise is really there, in range, for demo2's own report.
	z, err := f.Store.Shift(context.Background(), "demo2", wideFrom, wideTo)
	require.NoError(t, err)
	require.Equal(t, []audit.StaffSummary{
		{Staff: "Yuri", Voids: 2, Comps: 2},
		{Staff: "Zoe", OrdersClosed: 2, SalesCents: 2 * 3100, TipsCents: 2 * 999},
	}, z.ByStaff)
	require.Len(t, z.ForcedOverrides, 2)
	require.EqualValues(t, 2, z.Conflicts.Total)

	for _, c := range []*apitest.Client{f.Auditor, f.Manager} {
		r := c.Get("/v1/audit/shift?" + sc.Query())
		require.Equal(t, 200, r.Status, string(r.Body))
		require.Equal(t, "application/json", r.Header.Get("Content-Type"))

		// The wire format is the design's, member by member.
		raw := r.Map(t)
		require.Equal(t, []string{"by_staff", "comps", "comps_total", "conflicts", "forced_overrides", "forced_overrides_total", "from",
			"menu_changes", "menu_changes_total", "money", "to", "voids", "voids_total"}, keys(raw))
		require.Equal(t, sc.From.Format(time.RFC3339), raw["from"])
		require.Equal(t, sc.To.Format(time.RFC3339), raw["to"])
		require.Equal(t, []string{"comps", "orders_closed", "sales_cents", "staff", "tips_cents", "voids"}, keys(raw["by_staff"].([]any)[0]))
		lineKeys := []string{"amount_cents", "at", "by", "line_id", "order_id", "qty", "reason", "sku", "table", "version"}
		require.Equal(t, lineKeys, keys(raw["voids"].([]any)[0]))
		require.Equal(t, lineKeys, keys(raw["comps"].([]any)[0]))
		require.Equal(t, []string{"at", "by", "order_id", "overridden_version", "table", "version"}, keys(raw["forced_overrides"].([]any)[0]))
		require.Equal(t, []string{"by_table", "by_table_total", "total"}, keys(raw["conflicts"]))
		require.Equal(t, []string{"count", "table"}, keys(raw["conflicts"].(map[string]any)["by_table"].([]any)[0]))
		money := raw["money"].(map[string]any)
		require.Equal(t, []string{"discount_cents", "gross_sales_cents", "net_sales_cents", "orders_closed", "paid_cents", "refund_cents",
			"refunds", "service_charge_cents", "tax_cents", "taxes", "tenders", "tip_cents", "total_cents"}, keys(money))
		require.Equal(t, []string{"inclusive", "rate_bps", "tax_cents", "tax_class", "taxable_cents"}, keys(money["taxes"].([]any)[0]))
		require.Equal(t, []string{"payment_cents", "refund_cents", "tender", "tip_cents"}, keys(money["tenders"].([]any)[0]))

		var rep audit.Report
		r.JSON(t, &rep)
		sc.RequireReport(t, rep)
	}

	// Over a wider range the report is the same: nothing of demo2 leaks in.
	rep := f.Auditor.Shift(wideFrom, wideTo)
	wide := sc
	wide.From, wide.To = wideFrom, wideTo
	wide.Expected.From, wide.Expected.To = wideFrom, wideTo
	wide.RequireReport(t, rep)

	// Every void, comp and override leads to its event and to the order as
	// it was before and after.
	events := func(id uuid.UUID) map[int64]*order.Event {
		byVersion := map[int64]*order.Event{}
		for _, e := range f.Auditor.Events(id, 0).Events {
			byVersion[e.Version] = &e
		}
		return byVersion
	}
	at := func(id uuid.UUID, version int64) order.Order {
		r := f.Auditor.Get(apitest.OrderPath(id) + "?at_version=" + strconv.FormatInt(version, 10))
		require.Equal(t, 200, r.Status, string(r.Body))
		return r.Order(t)
	}
	lineOf := func(o order.Order, id uuid.UUID) order.Line {
		for _, l := range o.Lines {
			if l.ID == id {
				return l
			}
		}
		t.Fatalf("no line %s in %v", id, o.Lines)
		return order.Line{}
	}
	for _, sec := range []struct {
		op   string
		rows []audit.LineAction
	}{{"void_item", rep.Voids}, {"comp_item", rep.Comps}} {
		for _, a := range sec.rows {
			ev := events(a.OrderID)[a.Version]
			require.NotNil(t, ev, "no event %d of %s", a.Version, a.OrderID)
			require.Equal(t, a.OrderID, ev.OrderID)
			require.Equal(t, "order.patched", ev.Type)
			require.Equal(t, a.By, ev.Actor.Staff)
			require.Equal(t, "manager", ev.Actor.Role)
			require.True(t, ev.At.Equal(a.At), "event at %s, report at %s", ev.At, a.At)
			require.Len(t, ev.Ops, 1)
			op := ev.Ops[0]
			require.Equal(t, sec.op, op.Op)
			require.NotNil(t, op.LineID)
			require.Equal(t, a.LineID, op.LineID.String())
			require.Equal(t, a.SKU, op.SKU)
			require.Equal(t, a.Reason, op.Reason)
			require.NotNil(t, op.Qty)
			require.NotNil(t, op.UnitPriceCents)
			require.EqualValues(t, a.Qty, *op.Qty)
			require.EqualValues(t, a.AmountCents, int64(*op.Qty)**op.UnitPriceCents)

			lineID := uuid.MustParse(a.LineID)
			before, after := lineOf(at(a.OrderID, a.Version-1), lineID), lineOf(at(a.OrderID, a.Version), lineID)
			if sec.op == "void_item" {
				require.Equal(t, "sent", before.Status)
				require.Equal(t, "voided", after.Status)
			} else {
				require.False(t, before.Comped)
				require.True(t, after.Comped)
			}
		}
	}
	for _, fo := range rep.ForcedOverrides {
		ev := events(fo.OrderID)[fo.Version]
		require.NotNil(t, ev)
		require.True(t, ev.Forced)
		require.NotNil(t, ev.OverriddenVersion)
		require.EqualValues(t, fo.OverriddenVersion, *ev.OverriddenVersion)
		require.Equal(t, fo.By, ev.Actor.Staff)
		require.True(t, ev.At.Equal(fo.At))
		require.EqualValues(t, 2, at(fo.OrderID, fo.OverriddenVersion).Guests)
		require.EqualValues(t, 6, at(fo.OrderID, fo.Version).Guests)
	}
	// The refused writes were recorded with how they were refused.
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_conflicts WHERE venue_id = 'demo' AND via = 'expected_version' AND staff = 'Alice' AND expected_version = 1 AND current_version = 2 AND order_id = $1", sc.Orders["T4"]))
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_conflicts WHERE venue_id = 'demo' AND via = 'if-match' AND staff = 'Bruno' AND expected_version = 1 AND current_version = 2 AND order_id = $1", sc.Orders["T4"]))

	// [from, to) is half-open: the void is in a range starting at its time
	// and not in one ending there.
	void := rep.Voids[0]
	part := f.Auditor.Shift(void.At, void.At.Add(time.Microsecond))
	require.Len(t, part.Voids, 1)
	require.Equal(t, void.OrderID, part.Voids[0].OrderID)
	require.Empty(t, part.Comps)
	part = f.Auditor.Shift(void.At.Add(-time.Minute), void.At)
	require.Empty(t, part.Voids)
	require.Len(t, part.Comps, 1, "the comp of T1 came before the void")

	// A range with nothing in it has empty lists, not nulls.
	r := f.Manager.Get(apitest.ShiftPath(wideFrom.Add(-48*time.Hour), wideFrom.Add(-24*time.Hour)))
	require.Equal(t, 200, r.Status, string(r.Body))
	empty := r.Map(t)
	for _, k := range []string{"by_staff", "voids", "comps", "forced_overrides"} {
		require.Equal(t, []any{}, empty[k], k)
	}
	for _, k := range []string{"voids_total", "comps_total", "forced_overrides_total"} {
		require.Equal(t, float64(0), empty[k], k)
	}
	require.Equal(t, map[string]any{"total": float64(0), "by_table": []any{}, "by_table_total": float64(0)}, empty["conflicts"])
}

// TestAuditVerifyAPI: the venue's journal verifies, counting exactly the
// venue's events and orders; an edit made behind posd's back is reported
// with the order and version it broke.
func TestAuditVerifyAPI(t *testing.T) {
	f := start(t)
	demo2Noise(t, f, "T1", "T2")
	sc := apitest.ScriptShift(t, f.Stack)

	for _, c := range []*apitest.Client{f.Auditor, f.Manager} {
		res := c.Verify()
		require.True(t, res.OK, "%+v", res)
		require.Nil(t, res.Broken)
		require.EqualValues(t, 26, res.EventsChecked) // T1 5, T2 5, T3 5, T4 3, T6 8
		require.Equal(t, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE venue_id = 'demo'"), res.EventsChecked)
		require.Less(t, res.EventsChecked, f.DB.Count(t, "SELECT count(*) FROM order_events"), "demo2 has events too")
		require.Equal(t, f.DB.Count(t, "SELECT count(*) FROM orders WHERE venue_id = 'demo'"), res.OrdersChecked)
		require.EqualValues(t, 5, res.OrdersChecked)
		require.EqualValues(t, 0, res.SealsChecked)
		require.True(t, res.SignaturesChecked, "the server checks seals with its own key")
		require.EqualValues(t, 26, res.UnsealedEvents, "no sealer ran yet")
		require.Equal(t, audit.DefaultSealInterval.Seconds(), res.SealIntervalSeconds)
	}

	// Sealed with the server's key, every event is covered.
	require.NoError(t, (&audit.Sealer{Journal: f.Stack.Store, Key: f.Stack.SealKey}).SealAll(context.Background()))
	res := f.Auditor.Verify()
	require.True(t, res.OK, "%+v", res)
	require.EqualValues(t, 1, res.SealsChecked)
	require.Zero(t, res.UnsealedEvents)
	require.NotNil(t, res.LastSealAgeSeconds)

	// A superuser edits who voided the fries, with the triggers off.
	err := pgx.BeginFunc(context.Background(), f.DB.Admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "SET LOCAL session_replication_role = replica"); err != nil {
			return err
		}
		_, err := tx.Exec(context.Background(), "UPDATE order_events SET actor_staff = 'Bruno' WHERE venue_id = 'demo' AND order_id = $1 AND version = 4", sc.Orders["T2"])
		return err
	})
	require.NoError(t, err)
	res = f.Auditor.Verify()
	require.False(t, res.OK)
	require.NotNil(t, res.Broken, "%+v", res)
	require.NotNil(t, res.Broken.OrderID, "%+v", res.Broken)
	require.Equal(t, sc.Orders["T2"], *res.Broken.OrderID)
	require.Equal(t, int64(4), res.Broken.Version)
	require.NotNil(t, res.Broken.EventID, "%+v", res.Broken)
	require.NotEqual(t, uuid.Nil, *res.Broken.EventID)
	require.Contains(t, res.Broken.Reason, "hash")
}

// TestAuditShiftBadRange: a missing, unparseable, empty, reversed or too long
// range is a 400 problem naming the field.
func TestAuditShiftBadRange(t *testing.T) {
	f := start(t)
	base := time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC)
	ts := func(t time.Time) string { return url.QueryEscape(t.Format(time.RFC3339)) }
	cases := []struct {
		name, query, field string
	}{
		{"no range", "", "from"},
		{"missing from", "to=" + ts(base), "from"},
		{"missing to", "from=" + ts(base), "to"},
		{"empty from", "from=&to=" + ts(base), "from"},
		{"garbage from", "from=yesterday&to=" + ts(base), "from"},
		{"garbage to", "from=" + ts(base) + "&to=2026-13-01T00:00:00Z", "to"},
		{"date only", "from=2026-11-22&to=" + ts(base.Add(time.Hour)), "from"},
		{"no zone", "from=2026-11-22T17:00:00&to=" + ts(base.Add(time.Hour)), "from"},
		{"reversed", "from=" + ts(base.Add(time.Hour)) + "&to=" + ts(base), "to"},
		{"empty range", "from=" + ts(base) + "&to=" + ts(base), "to"},
		{"over 31 days", "from=" + ts(base) + "&to=" + ts(base.Add(audit.MaxShiftRange+time.Second)), "to"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			apitest.RequireFieldProblem(t, f.As(t, seed.TokenAuditor).Get("/v1/audit/shift?"+c.query), 400, "bad-request", apitest.TopLevel, c.field)
		})
	}

	// Exactly 31 days is allowed; an offset is accepted (also with its "+"
	// left unescaped) and answered in UTC.
	r := f.Auditor.Get("/v1/audit/shift?from=" + ts(base) + "&to=" + ts(base.Add(audit.MaxShiftRange)))
	require.Equal(t, 200, r.Status, string(r.Body))
	r = f.Auditor.Get("/v1/audit/shift?from=2026-11-22T18:00:00+01:00&to=2026-11-23T03:00:00%2B01:00")
	require.Equal(t, 200, r.Status, string(r.Body))
	m := r.Map(t)
	require.Equal(t, "2026-11-22T17:00:00Z", m["from"])
	require.Equal(t, "2026-11-23T02:00:00Z", m["to"])
}

// TestAuditRoles: the audit endpoints are for managers and auditors only.
func TestAuditRoles(t *testing.T) {
	f := start(t)
	now := time.Now().UTC()
	shift := apitest.ShiftPath(now.Add(-time.Hour), now)
	for _, path := range []string{"/v1/audit/verify", shift} {
		apitest.RequireProblem(t, f.As(t, "").Get(path), 401, "unauthorized")
		for _, c := range []*apitest.Client{f.Waiter, f.Waiter2, f.Kitchen, f.Other} {
			apitest.RequireProblem(t, c.Get(path), 403, "forbidden")
		}
		for _, c := range []*apitest.Client{f.Auditor, f.Manager} {
			r := c.Get(path)
			require.Equal(t, 200, r.Status, "%s as %s: %s", path, c.Token, r.Body)
		}
	}
	// The role is checked before the range.
	apitest.RequireProblem(t, f.Waiter.Get("/v1/audit/shift?from=x"), 403, "forbidden")
}

// TestShiftListsBounded: a shift with more voids, comps, forced overrides
// and tables with refused writes than the report lists (1,000 of each)
// lists the first 1,000 of each, in order (the tables with the most refused
// writes), and says how many there are: voids_total, comps_total,
// forced_overrides_total and conflicts.by_table_total, in JSON and in CSV
// (a row per total) alike; the staff's counts and conflicts.total count
// them all (DESIGN.md invariant 12).
func TestShiftListsBounded(t *testing.T) {
	f := start(t)
	const bound = 1000
	sc := apitest.BusyShift(t, f.Stack, bound+2)

	r := f.Auditor.Get(apitest.ShiftPath(sc.From, sc.To))
	require.Equal(t, 200, r.Status, string(r.Body))
	newContract(t, f.Stack).validate("GET", apitest.ShiftPath(sc.From, sc.To), nil, r) // maxItems included
	var rep struct {
		ByStaff              []audit.StaffSummary   `json:"by_staff"`
		Voids                []audit.LineAction     `json:"voids"`
		VoidsTotal           *int64                 `json:"voids_total"`
		Comps                []audit.LineAction     `json:"comps"`
		CompsTotal           *int64                 `json:"comps_total"`
		ForcedOverrides      []audit.ForcedOverride `json:"forced_overrides"`
		ForcedOverridesTotal *int64                 `json:"forced_overrides_total"`
		Conflicts            struct {
			Total        int64              `json:"total"`
			ByTable      []audit.TableCount `json:"by_table"`
			ByTableTotal *int64             `json:"by_table_total"`
		} `json:"conflicts"`
	}
	r.JSON(t, &rep)
	require.Equal(t, []audit.StaffSummary{{Staff: "Maria", Voids: bound + 2, Comps: bound + 2}}, rep.ByStaff,
		"the staff's counts count every void and comp")
	for _, sec := range []struct {
		name  string
		got   []audit.LineAction
		total *int64
		lines []uuid.UUID
	}{{"voids", rep.Voids, rep.VoidsTotal, sc.Voided}, {"comps", rep.Comps, rep.CompsTotal, sc.Comped}} {
		require.Equal(t, bound, len(sec.got), "the report lists at most %d %s", bound, sec.name)
		require.NotNil(t, sec.total, "%s_total says how many the shift has", sec.name)
		require.EqualValues(t, bound+2, *sec.total, sec.name)
		for i, a := range sec.got {
			require.Equal(t, sec.lines[i].String(), a.LineID, "%s[%d]: the first, in order", sec.name, i)
		}
	}
	require.Equal(t, bound, len(rep.ForcedOverrides))
	require.NotNil(t, rep.ForcedOverridesTotal)
	require.EqualValues(t, bound+2, *rep.ForcedOverridesTotal)
	for i, o := range rep.ForcedOverrides {
		require.Equal(t, sc.T1, o.OrderID)
		require.Equal(t, sc.Forced[i], o.Version, "forced_overrides[%d]: the first, in order", i)
	}
	c := rep.Conflicts
	require.EqualValues(t, bound+4, c.Total, "every refused write")
	require.NotNil(t, c.ByTableTotal, "by_table_total says how many tables had refused writes")
	require.EqualValues(t, bound+2, *c.ByTableTotal)
	require.Equal(t, bound, len(c.ByTable))
	require.Equal(t, audit.TableCount{Table: "T1", Count: 3}, c.ByTable[0], "the most first")
	for i, tc := range c.ByTable[1:] {
		require.Equal(t, audit.TableCount{Table: fmt.Sprintf("B%04d", i+1), Count: 1}, tc, "then by table")
	}

	r = f.Auditor.Get(apitest.ShiftPath(sc.From, sc.To) + "&format=csv")
	require.Equal(t, 200, r.Status)
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	require.NoError(t, err)
	count := slices.Index(rows[0], "count")
	sections, totals := map[string]int{}, map[string]string{}
	for _, row := range rows[1:] {
		sections[row[0]]++
		totals[row[0]] = row[count]
	}
	for _, s := range []string{"void", "comp", "forced_override", "conflicts"} {
		require.Equal(t, bound, sections[s], "%s rows: the same as the JSON lists", s)
	}
	for s, want := range map[string]int{"voids": bound + 2, "comps": bound + 2, "forced_overrides": bound + 2,
		"conflicts_total": bound + 4, "conflict_tables": bound + 2} {
		require.Equal(t, 1, sections[s], "one %s row", s)
		require.Equal(t, strconv.Itoa(want), totals[s], "%s count", s)
	}
}
