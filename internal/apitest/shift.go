package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
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
//   - Alice opens T6 for 8 (the service charge), adds 2 steak and a glass of
//     red, sends; Maria gives the table 10 % off ("regulars"); Alice takes
//     card 6053 + tip 600; Maria takes 9.00 off the red ("corked"), which
//     leaves 9.55 owed back, and refunds it from the card payment; Alice
//     closes.
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
	alice, bruno, chloe := s.As(t, seed.TokenWaiter1), s.As(t, seed.TokenWaiter2), s.As(t, seed.TokenWaiter3)
	manager := s.As(t, seed.TokenManager)
	line := func(o order.Order, table, sku string) uuid.UUID {
		t.Helper()
		id := LineOf(o, sku)
		if id == uuid.Nil {
			t.Fatalf("ScriptShift: %s has not one %s line: %+v", table, sku, o.Lines)
		}
		sc.Lines[table+"/"+sku] = id
		return id
	}

	// T1: Alice, a comped beer.
	t1 := d.open(alice, "T1")
	o := d.patch("", alice, t1, 1, 2, AddItem("steak", 2), AddItem("beer", 1))
	beer := line(o, "T1", "beer")
	line(o, "T1", "steak")
	d.patch("", alice, t1, 2, 3, Fire())
	d.patch("", manager, t1, 3, 4, Comp(beer, "birthday"))
	o = d.patch("", alice, t1, 4, 5, Pay("card", 4800, 500), Close())
	d.requireClosed(o, "T1")

	// T2: Bruno, voided fries.
	t2 := d.open(bruno, "T2")
	o = d.patch("", bruno, t2, 1, 2, AddItem("burger", 1), AddItem("fries", 1))
	fries := line(o, "T2", "fries")
	line(o, "T2", "burger")
	d.patch("", bruno, t2, 2, 3, Fire())
	d.patch("", manager, t2, 3, 4, Void(fries, "dropped"))
	o = d.patch("", bruno, t2, 4, 5, Pay("cash", 1600, 200), Close())
	d.requireClosed(o, "T2")

	// T3: Bruno, split payment.
	t3 := d.open(bruno, "T3")
	o = d.patch("", bruno, t3, 1, 2, AddItem("caesar", 1))
	line(o, "T3", "caesar")
	d.patch("", bruno, t3, 2, 3, Fire())
	d.patch("", bruno, t3, 3, 4, Pay("card", 1000, 0))
	o = d.patch("", bruno, t3, 4, 5, Pay("card", 200, 100), Close())
	d.requireClosed(o, "T3")

	// T6: Alice, a party of 8: service charge, discounts, a refund.
	t6 := d.open(alice, "T6")
	o = d.patch("", alice, t6, 1, 2, SetGuests(8), AddItem("steak", 2), AddItem("wine-red", 1))
	wine := line(o, "T6", "wine-red")
	line(o, "T6", "steak")
	d.patch("", alice, t6, 2, 3, Fire())
	d.patch("", manager, t6, 3, 4, PercentOff(1000, "regulars"))
	d.patch("", alice, t6, 4, 5, Pay("card", 6053, 600))
	d.patch("", manager, t6, 5, 6, AmountOff(900, "corked", OnLine(wine)))
	d.patch("", manager, t6, 6, 7, Refund(0, 955, "corked"))
	o = d.patch("", alice, t6, 7, 8, Close())
	d.requireClosed(o, "T6")

	// T4: Chloe; two refused stale writes and a forced override. Stays open.
	t4 := d.open(chloe, "T4")
	o = d.patch("", chloe, t4, 1, 2, AddItem("beer", 1))
	line(o, "T4", "beer")
	d.stale(alice, t4, Patch{ExpectedVersion: 1, Ops: []order.Op{AddItem("fries", 1)}}, nil, 409)
	d.stale(bruno, t4, Patch{Ops: []order.Op{SetNote("window seat")}}, map[string]string{"If-Match": `"1"`}, 412)
	d.patch("force", manager, t4, 0, 3, SetGuests(6))

	sc.To = time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)
	sc.Orders = map[string]uuid.UUID{"T1": t1, "T2": t2, "T3": t3, "T4": t4, "T6": t6}
	sc.Expected = audit.Report{
		From: sc.From, To: sc.To,
		ByStaff: []audit.StaffSummary{
			// Orders, net sales (without voided and comped lines, less
			// discounts) and tips of the orders each server opened that
			// closed in the range. T6: 5700 less 480 + 900 of discounts.
			{Staff: "Alice", OrdersClosed: 2, SalesCents: 2*2400 + (5700 - 1380), TipsCents: 500 + 600},
			{Staff: "Bruno", OrdersClosed: 2, SalesCents: 1600 + 1200, TipsCents: 200 + 0 + 100},
			// Voids and comps count for whoever made them.
			{Staff: "Maria", Voids: 1, Comps: 1},
			// Chloe closed nothing and voided nothing: she is not listed.
		},
		Voids: []audit.LineAction{{OrderID: t2, Version: 4, Table: "T2", LineID: fries.String(), SKU: "fries", Qty: 1,
			AmountCents: 500, Reason: "dropped", By: "Maria"}},
		Comps: []audit.LineAction{{OrderID: t1, Version: 4, Table: "T1", LineID: beer.String(), SKU: "beer", Qty: 1,
			AmountCents: 700, Reason: "birthday", By: "Maria"}},
		VoidsTotal:           1,
		CompsTotal:           1,
		ForcedOverrides:      []audit.ForcedOverride{{OrderID: t4, Table: "T4", Version: 3, OverriddenVersion: 2, By: "Maria"}},
		ForcedOverridesTotal: 1,
		Conflicts:            audit.Conflicts{Total: 2, ByTable: []audit.TableCount{{Table: "T4", Count: 2}}, ByTableTotal: 1},
		// The demo's taxes are inclusive: food 10 %, drinks 20 %; 18 %
		// service (food) from 8 guests. Per order (docs/PRICING.md):
		//   T1 4800 food (the beer comped): tax 4800/11 = 436.4 → 436.
		//   T2 1600 food (the fries voided): 145.5 → 145.
		//   T3 1200 food: 109.1 → 109.
		//   T6 steaks 4800 (food) and red 900 (drinks); the red's 900 off
		//      takes it to 0, 10 % of the 4800 left is 480: net 4320;
		//      service 18 % of 4320 = 777.6 → 778; food tax on 4320 + 778
		//      = 5098: 463.5 → 463; drinks 0. Total 5098; paid 6053 less
		//      the 955 refunded.
		Money: audit.Money{
			OrdersClosed:       4,
			GrossSalesCents:    4800 + 1600 + 1200 + 5700,
			DiscountCents:      480 + 900,
			NetSalesCents:      4800 + 1600 + 1200 + 4320,
			ServiceChargeCents: 778,
			TaxCents:           436 + 145 + 109 + 463,
			TotalCents:         4800 + 1600 + 1200 + 5098,
			PaidCents:          4800 + 1600 + 1200 + 6053 - 955,
			RefundCents:        955,
			Refunds:            1,
			TipCents:           500 + 200 + 100 + 600,
			Taxes: []audit.TaxTotal{
				{TaxClass: "drinks", RateBps: 2000, Inclusive: true, TaxableCents: 0, TaxCents: 0},
				{TaxClass: "food", RateBps: 1000, Inclusive: true, TaxableCents: 4800 + 1600 + 1200 + 5098, TaxCents: 436 + 145 + 109 + 463},
			},
			Tenders: []audit.TenderSum{
				{Tender: "card", PaymentCents: 4800 + 1000 + 200 + 6053, RefundCents: 955, TipCents: 500 + 100 + 600},
				{Tender: "cash", PaymentCents: 1600, TipCents: 200},
			},
		},
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
	for _, c := range []struct {
		field     string
		got, want int64
	}{
		{"voids_total", got.VoidsTotal, want.VoidsTotal}, {"comps_total", got.CompsTotal, want.CompsTotal},
		{"forced_overrides_total", got.ForcedOverridesTotal, want.ForcedOverridesTotal},
		{"conflicts.by_table_total", got.Conflicts.ByTableTotal, want.Conflicts.ByTableTotal},
	} {
		if c.got != c.want {
			fail("%s = %d, want %d", c.field, c.got, c.want)
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
	gm, wm := got.Money, want.Money
	for _, c := range []struct {
		field     string
		got, want int64
	}{
		{"orders_closed", gm.OrdersClosed, wm.OrdersClosed}, {"gross_sales_cents", gm.GrossSalesCents, wm.GrossSalesCents},
		{"discount_cents", gm.DiscountCents, wm.DiscountCents}, {"net_sales_cents", gm.NetSalesCents, wm.NetSalesCents},
		{"service_charge_cents", gm.ServiceChargeCents, wm.ServiceChargeCents}, {"tax_cents", gm.TaxCents, wm.TaxCents},
		{"total_cents", gm.TotalCents, wm.TotalCents}, {"paid_cents", gm.PaidCents, wm.PaidCents},
		{"refund_cents", gm.RefundCents, wm.RefundCents}, {"refunds", gm.Refunds, wm.Refunds}, {"tip_cents", gm.TipCents, wm.TipCents},
	} {
		if c.got != c.want {
			fail("money.%s = %d, want %d", c.field, c.got, c.want)
		}
	}
	if len(gm.Taxes) != len(wm.Taxes) {
		fail("%d money.taxes rows, want %d", len(gm.Taxes), len(wm.Taxes))
	}
	for i, w := range wm.Taxes {
		if g := gm.Taxes[i]; g != w {
			fail("money.taxes[%d] = %+v, want %+v", i, g, w)
		}
	}
	if len(gm.Tenders) != len(wm.Tenders) {
		fail("%d money.tenders rows, want %d", len(gm.Tenders), len(wm.Tenders))
	}
	for i, w := range wm.Tenders {
		if g := gm.Tenders[i]; g != w {
			fail("money.tenders[%d] = %+v, want %+v", i, g, w)
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

type shiftDriver struct {
	t testing.TB
	s *Stack
}

func (d shiftDriver) open(c *Client, table string) uuid.UUID {
	d.t.Helper()
	r := c.TryOpen(table, 2)
	if r.Status != 201 {
		d.t.Fatalf("ScriptShift: open %s as %s: %d %s", table, c.Token, r.Status, r.Body)
	}
	o := r.Order(d.t)
	if o.Version != 1 {
		d.t.Fatalf("ScriptShift: %s opened at version %d", table, o.Version)
	}
	return o.ID
}

// patch sends ops made against expected (none when 0) as c, forced when mode
// is "force", and requires 200 with the order at version want.
func (d shiftDriver) patch(mode string, c *Client, id uuid.UUID, expected, want int64, ops ...order.Op) order.Order {
	d.t.Helper()
	r := c.SendPatch(id, Patch{ExpectedVersion: expected, Force: mode == "force", Ops: ops})
	if r.Status != 200 {
		d.t.Fatalf("ScriptShift: PATCH %+v as %s: %d %s", ops, c.Token, r.Status, r.Body)
	}
	o := r.Order(d.t)
	if o.Version != want {
		d.t.Fatalf("ScriptShift: PATCH %+v as %s left version %d, want %d", ops, c.Token, o.Version, want)
	}
	return o
}

// stale sends a write that must be refused with status as a version conflict.
func (d shiftDriver) stale(c *Client, id uuid.UUID, body Patch, hdr map[string]string, status int) {
	d.t.Helper()
	r := c.SendPatch(id, body, hdr)
	if r.Status != status {
		d.t.Fatalf("ScriptShift: stale PATCH as %s: %d %s, want %d", c.Token, r.Status, r.Body, status)
	}
	p := r.Problem(d.t)
	if !strings.HasSuffix(p.Type, "/version-conflict") || p.CurrentVersion == nil || *p.CurrentVersion != 2 {
		d.t.Fatalf("ScriptShift: stale PATCH answered %s", r.Body)
	}
}

func (d shiftDriver) requireClosed(o order.Order, table string) {
	d.t.Helper()
	if o.Status != "closed" {
		d.t.Fatalf("ScriptShift: %s is %v after close", table, o.Status)
	}
}

// BusyShiftScript is what BusyShift wrote: whole seconds around it, and
// the lines voided and comped and the versions of T1's order the forced
// writes made, each in the order written.
type BusyShiftScript struct {
	From, To       time.Time
	Voided, Comped []uuid.UUID
	T1             uuid.UUID
	Forced         []int64
}

// BusyShift writes to the demo venue n of each list the post-shift report
// bounds (n = 1,002 is more than it lists): n voids, then n comps, of
// beers on orders of T1, T2 … (100 ops a write), and n forced set_guests
// on T1's order, all through the store as Maria (the manager); and refused
// writes on n tables, written straight into order_conflicts as the table
// owner (a venue has at most 500 tables at once: these stand for a month
// of imports): 3 on T1, then one on each of B0001, B0002 … B(n-1).
func BusyShift(t testing.TB, s *Stack, n int) BusyShiftScript {
	t.Helper()
	ctx := context.Background()
	sc := BusyShiftScript{From: time.Now().UTC().Add(-time.Second).Truncate(time.Second)}
	maria := order.Actor{Device: "manager", Staff: "Maria", Role: order.RoleManager}
	patch := func(o order.Order, force bool, ops ...order.Op) order.Order {
		t.Helper()
		p := store.Patch{Expected: &o.Version, Ops: ops}
		if force {
			p = store.Patch{Force: true, Ops: ops}
		}
		next, changed, err := s.Store.Patch(ctx, "demo", o.ID, p, maria)
		if err != nil || !changed {
			t.Fatalf("BusyShift: PATCH %s: changed %t, %v", o.Table, changed, err)
		}
		return next
	}
	type line struct{ order, id uuid.UUID }
	var lines []line
	orders := map[uuid.UUID]order.Order{}
	var t1 uuid.UUID
	for table := 1; len(lines) < 2*n; table++ {
		o, err := s.Store.Open(ctx, "demo", fmt.Sprintf("T%d", table), 2, maria, nil)
		if err != nil {
			t.Fatalf("BusyShift: open T%d: %v", table, err)
		}
		for added := 0; added < order.MaxLinesPerOrder; added += order.MaxOps {
			ops := make([]order.Op, order.MaxOps)
			for i := range ops {
				ops[i] = AddItem("beer", 1)
			}
			o = patch(o, false, ops...)
		}
		o = patch(o, false, Fire())
		for _, l := range o.Lines {
			lines = append(lines, line{o.ID, l.ID})
		}
		orders[o.ID] = o
		if table == 1 {
			t1 = o.ID
		}
	}
	// One write per order and MaxOps lines of it, in line order.
	byOrder := func(lines []line, op func(uuid.UUID) order.Op) {
		t.Helper()
		for len(lines) > 0 {
			k := 0
			for k < len(lines) && k < order.MaxOps && lines[k].order == lines[0].order {
				k++
			}
			ops := make([]order.Op, k)
			for i, l := range lines[:k] {
				ops[i] = op(l.id)
			}
			orders[lines[0].order] = patch(orders[lines[0].order], false, ops...)
			lines = lines[k:]
		}
	}
	byOrder(lines[:n], func(id uuid.UUID) order.Op { return Void(id, "dropped") })
	byOrder(lines[n:2*n], func(id uuid.UUID) order.Op { return Comp(id, "regulars") })
	for _, l := range lines[:n] {
		sc.Voided = append(sc.Voided, l.id)
	}
	for _, l := range lines[n : 2*n] {
		sc.Comped = append(sc.Comped, l.id)
	}
	sc.T1 = t1
	o := orders[t1]
	for i := range n {
		o = patch(o, true, SetGuests(3+i%2))
		sc.Forced = append(sc.Forced, o.Version)
	}
	if _, err := s.DB.Admin.Exec(ctx, `INSERT INTO order_conflicts (venue_id, id, order_id, table_id, device, staff, role,
			expected_version, current_version, via, at)
		SELECT 'demo', gen_random_uuid(), $1, t, 'waiter-1', 'Alice', 'waiter', 1, 2, 'expected_version', now()
		FROM unnest(array['T1', 'T1', 'T1'] || array(SELECT 'B' || lpad(i::text, 4, '0') FROM generate_series(1, $2::int - 1) i)) t`,
		o.ID, n); err != nil {
		t.Fatalf("BusyShift: refused writes: %v", err)
	}
	sc.To = time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)
	return sc
}
