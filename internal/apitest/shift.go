package apitest

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/audit"
)

// ShiftScript is what ScriptShift did to the demo venue: the range that
// covers it, the orders and lines it wrote and the post-shift report those
// must produce.
type ShiftScript struct {
	// From and To are whole seconds around the script: every event and
	// refused write of it lies in [From, To).
	From, To time.Time
	// Orders are the order ids by table (T1…T4).
	Orders map[string]uuid.UUID
	// Lines are the line ids by "table/sku", e.g. "T1/beer".
	Lines map[string]uuid.UUID
	// Expected is the report for [From, To) of the demo venue when nothing
	// else was written in the range. The At fields are zero: the times are
	// the server's; RequireReport checks them against the range.
	Expected audit.Report
}

// Query is the query string of the report over the script's range.
func (sc ShiftScript) Query() string {
	return "from=" + url.QueryEscape(sc.From.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(sc.To.Format(time.RFC3339Nano))
}

// ScriptShift drives a short shift of the demo venue through the HTTP API:
//
//   - Alice opens T1, adds 2 steak and 1 beer, sends; the manager (Maria)
//     comps the beer ("birthday"); Alice takes card 4800 + tip 500 and closes.
//   - Bruno opens T2, adds a burger and fries, sends; Maria voids the fries
//     ("dropped"); Bruno takes cash 1600 + tip 200 and closes.
//   - Bruno opens T3, adds a caesar, sends; takes card 1000 (no tip), then
//     card 200 + tip 100 and closes.
//   - Chloe opens T4 and adds a beer (version 2); Alice's PATCH made against
//     version 1 is refused with 409, a PATCH with If-Match "1" (Bruno's
//     handheld) with 412; Maria forces set_guests (version 3, overriding 2).
//     T4 stays open.
//
// It fails the test at the first answer that is not the expected one.
func ScriptShift(t testing.TB, s *Stack) ShiftScript {
	t.Helper()
	d := shiftDriver{t: t, s: s}
	sc := ShiftScript{
		From:   time.Now().UTC().Add(-time.Second).Truncate(time.Second),
		Orders: map[string]uuid.UUID{},
		Lines:  map[string]uuid.UUID{},
	}
	const (
		alice   = "demo-waiter-1"
		bruno   = "demo-waiter-2"
		chloe   = "demo-waiter-3"
		manager = "demo-manager"
	)
	line := func(o map[string]any, table, sku string) string {
		t.Helper()
		for _, l := range o["lines"].([]any) {
			m := l.(map[string]any)
			if m["sku"] == sku {
				id := m["id"].(string)
				sc.Lines[table+"/"+sku] = uuid.MustParse(id)
				return id
			}
		}
		t.Fatalf("ScriptShift: %s has no %s line: %v", table, sku, o["lines"])
		return ""
	}

	// T1: Alice, a comped beer.
	t1 := d.open(alice, "T1")
	o := d.patch(alice, t1, 1, 2, nil, op("add_item", "sku", "steak", "qty", 2), op("add_item", "sku", "beer"))
	beer := line(o, "T1", "beer")
	line(o, "T1", "steak")
	d.patch(alice, t1, 2, 3, nil, op("send"))
	d.patch(manager, t1, 3, 4, nil, op("comp_item", "line_id", beer, "reason", "birthday"))
	o = d.patch(alice, t1, 4, 5, nil, op("add_payment", "tender", "card", "amount_cents", 4800, "tip_cents", 500), op("close"))
	d.requireClosed(o, "T1")

	// T2: Bruno, voided fries.
	t2 := d.open(bruno, "T2")
	o = d.patch(bruno, t2, 1, 2, nil, op("add_item", "sku", "burger"), op("add_item", "sku", "fries"))
	fries := line(o, "T2", "fries")
	line(o, "T2", "burger")
	d.patch(bruno, t2, 2, 3, nil, op("send"))
	d.patch(manager, t2, 3, 4, nil, op("void_item", "line_id", fries, "reason", "dropped"))
	o = d.patch(bruno, t2, 4, 5, nil, op("add_payment", "tender", "cash", "amount_cents", 1600, "tip_cents", 200), op("close"))
	d.requireClosed(o, "T2")

	// T3: Bruno, split payment.
	t3 := d.open(bruno, "T3")
	o = d.patch(bruno, t3, 1, 2, nil, op("add_item", "sku", "caesar"))
	line(o, "T3", "caesar")
	d.patch(bruno, t3, 2, 3, nil, op("send"))
	d.patch(bruno, t3, 3, 4, nil, op("add_payment", "tender", "card", "amount_cents", 1000, "tip_cents", 0))
	o = d.patch(bruno, t3, 4, 5, nil, op("add_payment", "tender", "card", "amount_cents", 200, "tip_cents", 100), op("close"))
	d.requireClosed(o, "T3")

	// T4: Chloe; two refused stale writes and a forced override. Stays open.
	t4 := d.open(chloe, "T4")
	o = d.patch(chloe, t4, 1, 2, nil, op("add_item", "sku", "beer"))
	line(o, "T4", "beer")
	d.stale(alice, t4, map[string]any{"expected_version": 1, "ops": []any{op("add_item", "sku", "fries")}}, nil, 409)
	d.stale(bruno, t4, map[string]any{"ops": []any{op("set_note", "note", "window seat")}}, map[string]string{"If-Match": `"1"`}, 412)
	d.patch(manager, t4, 0, 3, map[string]any{"force": true}, op("set_guests", "guests", 6))

	sc.To = time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)
	sc.Orders = map[string]uuid.UUID{"T1": t1, "T2": t2, "T3": t3, "T4": t4}
	sc.Expected = audit.Report{
		From: sc.From, To: sc.To,
		ByStaff: []audit.StaffSummary{
			// Orders, sales (without voided and comped lines) and tips of the
			// orders each server opened that closed in the range.
			{Staff: "Alice", OrdersClosed: 1, SalesCents: 2 * 2400, TipsCents: 500},
			{Staff: "Bruno", OrdersClosed: 2, SalesCents: 1600 + 1200, TipsCents: 200 + 0 + 100},
			// Voids and comps count for whoever made them.
			{Staff: "Maria", Voids: 1, Comps: 1},
			// Chloe closed nothing and voided nothing: she is not listed.
		},
		Voids: []audit.LineAction{{OrderID: t2, Version: 4, Table: "T2", LineID: fries, SKU: "fries", Qty: 1,
			AmountCents: 500, Reason: "dropped", By: "Maria"}},
		Comps: []audit.LineAction{{OrderID: t1, Version: 4, Table: "T1", LineID: beer, SKU: "beer", Qty: 1,
			AmountCents: 700, Reason: "birthday", By: "Maria"}},
		ForcedOverrides: []audit.ForcedOverride{{OrderID: t4, Table: "T4", Version: 3, OverriddenVersion: 2, By: "Maria"}},
		Conflicts:       audit.Conflicts{Total: 2, ByTable: []audit.TableCount{{Table: "T4", Count: 2}}},
	}
	return sc
}

// RequireReport checks got against the expected report field by field: every
// time lies in [From, To) and everything else is equal.
func (sc ShiftScript) RequireReport(t testing.TB, got audit.Report) {
	t.Helper()
	want := sc.Expected
	fail := func(format string, args ...any) {
		t.Helper()
		g, _ := json.MarshalIndent(got, "", "  ")
		t.Fatalf("report: "+format+"\ngot report:\n%s", append(args, g)...)
	}
	if !got.From.Equal(want.From) || !got.To.Equal(want.To) {
		fail("range %s–%s, want %s–%s", got.From, got.To, want.From, want.To)
	}
	if len(got.ByStaff) != len(want.ByStaff) {
		fail("%d by_staff rows, want %d", len(got.ByStaff), len(want.ByStaff))
	}
	for i, w := range want.ByStaff {
		g := got.ByStaff[i]
		for _, c := range []struct {
			field     string
			got, want any
		}{
			{"staff", g.Staff, w.Staff}, {"orders_closed", g.OrdersClosed, w.OrdersClosed},
			{"sales_cents", g.SalesCents, w.SalesCents}, {"tips_cents", g.TipsCents, w.TipsCents},
			{"voids", g.Voids, w.Voids}, {"comps", g.Comps, w.Comps},
		} {
			if c.got != c.want {
				fail("by_staff[%d] (%s) %s = %v, want %v", i, w.Staff, c.field, c.got, c.want)
			}
		}
	}
	inRange := func(what string, at time.Time) {
		t.Helper()
		if at.Before(sc.From) || !at.Before(sc.To) {
			fail("%s at %s is outside [%s, %s)", what, at, sc.From, sc.To)
		}
		if at.Location() != time.UTC {
			fail("%s at %s is not UTC", what, at)
		}
	}
	for _, sec := range []struct {
		name      string
		got, want []audit.LineAction
	}{{"voids", got.Voids, want.Voids}, {"comps", got.Comps, want.Comps}} {
		if len(sec.got) != len(sec.want) {
			fail("%d %s, want %d", len(sec.got), sec.name, len(sec.want))
		}
		for i, w := range sec.want {
			g := sec.got[i]
			inRange(fmt.Sprintf("%s[%d]", sec.name, i), g.At)
			g.At = time.Time{}
			if g != w {
				fail("%s[%d] = %+v, want %+v", sec.name, i, g, w)
			}
		}
	}
	if len(got.ForcedOverrides) != len(want.ForcedOverrides) {
		fail("%d forced_overrides, want %d", len(got.ForcedOverrides), len(want.ForcedOverrides))
	}
	for i, w := range want.ForcedOverrides {
		g := got.ForcedOverrides[i]
		inRange(fmt.Sprintf("forced_overrides[%d]", i), g.At)
		g.At = time.Time{}
		if g != w {
			fail("forced_overrides[%d] = %+v, want %+v", i, g, w)
		}
	}
	if got.Conflicts.Total != want.Conflicts.Total {
		fail("conflicts.total = %d, want %d", got.Conflicts.Total, want.Conflicts.Total)
	}
	if len(got.Conflicts.ByTable) != len(want.Conflicts.ByTable) {
		fail("%d conflicts.by_table rows, want %d", len(got.Conflicts.ByTable), len(want.Conflicts.ByTable))
	}
	for i, w := range want.Conflicts.ByTable {
		if g := got.Conflicts.ByTable[i]; g != w {
			fail("conflicts.by_table[%d] = %+v, want %+v", i, g, w)
		}
	}
}

// op builds one PATCH op from key/value pairs.
func op(kind string, kv ...any) map[string]any {
	m := map[string]any{"op": kind}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

type shiftDriver struct {
	t testing.TB
	s *Stack
}

func (d shiftDriver) open(token, table string) uuid.UUID {
	d.t.Helper()
	r := d.s.Do(d.t, Req{Method: "POST", Path: "/v1/orders", Token: token, Body: map[string]any{"table": table, "guests": 2}})
	if r.Status != 201 {
		d.t.Fatalf("ScriptShift: open %s as %s: %d %s", table, token, r.Status, r.Body)
	}
	var o struct {
		ID      uuid.UUID `json:"id"`
		Version int64     `json:"version"`
	}
	r.JSON(d.t, &o)
	if o.Version != 1 {
		d.t.Fatalf("ScriptShift: %s opened at version %d", table, o.Version)
	}
	return o.ID
}

// patch sends ops made against expected (none when 0: a forced write; extra
// adds body members) and requires 200 with the order at version want.
func (d shiftDriver) patch(token string, id uuid.UUID, expected, want int64, extra map[string]any, ops ...map[string]any) map[string]any {
	d.t.Helper()
	body := map[string]any{"ops": ops}
	if expected > 0 {
		body["expected_version"] = expected
	}
	for k, v := range extra {
		body[k] = v
	}
	r := d.s.Do(d.t, Req{Method: "PATCH", Path: "/v1/orders/" + id.String(), Token: token, Body: body})
	if r.Status != 200 {
		d.t.Fatalf("ScriptShift: PATCH %v as %s: %d %s", ops, token, r.Status, r.Body)
	}
	o := r.Map(d.t)
	if v, _ := o["version"].(float64); int64(v) != want {
		d.t.Fatalf("ScriptShift: PATCH %v as %s left version %v, want %d", ops, token, o["version"], want)
	}
	return o
}

// stale sends a write that must be refused with status as a version conflict.
func (d shiftDriver) stale(token string, id uuid.UUID, body map[string]any, hdr map[string]string, status int) {
	d.t.Helper()
	r := d.s.Do(d.t, Req{Method: "PATCH", Path: "/v1/orders/" + id.String(), Token: token, Body: body, Header: hdr})
	if r.Status != status {
		d.t.Fatalf("ScriptShift: stale PATCH as %s: %d %s, want %d", token, r.Status, r.Body, status)
	}
	var p struct {
		Type           string `json:"type"`
		CurrentVersion int64  `json:"current_version"`
	}
	r.JSON(d.t, &p)
	if !strings.HasSuffix(p.Type, "/version-conflict") || p.CurrentVersion != 2 {
		d.t.Fatalf("ScriptShift: stale PATCH answered %s", r.Body)
	}
}

func (d shiftDriver) requireClosed(o map[string]any, table string) {
	d.t.Helper()
	if o["status"] != "closed" {
		d.t.Fatalf("ScriptShift: %s is %v after close", table, o["status"])
	}
}
