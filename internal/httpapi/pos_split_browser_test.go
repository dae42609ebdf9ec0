package httpapi_test

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// The handheld's split screen (a card per check, tap a line then a check)
// and its moves and merges between tables, driven as a waiter does.

// money is cents as the handheld shows them: "12.50".
func money(c int64) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }

// openSplit taps Split on the order screen and waits for the split screen.
func (h *handheld) openSplit() {
	h.t.Helper()
	h.pressUntil("#splitbtn", "the split screen", `document.body.dataset.screen === 'split' && !!document.querySelector('#checks .check[data-check="1"]')`)
}

// checkCard is what check n's card shows.
func (h *handheld) checkCard(n int) string {
	h.t.Helper()
	return h.eval(fmt.Sprintf(`(document.querySelector('#checks .check[data-check="%d"]') || {innerText: ''}).innerText`, n))
}

// waitChecks waits until the split screen shows n checks, settled.
func (h *handheld) waitChecks(n int) {
	h.t.Helper()
	h.waitSent()
	h.waitFor(fmt.Sprintf("%d checks", n), fmt.Sprintf(`document.querySelectorAll('#checks .check[data-check]').length === %d && !document.querySelector('#checks .check[data-updating]')`, n))
}

// requireChecksShown requires each check's card to show the total and
// what is due that posd prices for it.
func (h *handheld) requireChecksShown(o order.Order) {
	h.t.Helper()
	for _, c := range o.Checks {
		card := h.checkCard(c.Number)
		require.Contains(h.t, card, "Total "+money(c.Totals.TotalCents), "check %d", c.Number)
		require.Contains(h.t, card, "Due "+money(c.Totals.DueCents), "check %d", c.Number)
	}
}

// payCheck taps "Pay this check" on check n and takes what the dialog
// offers (what is due on it) by card.
func (h *handheld) payCheck(n int, due int64) {
	h.t.Helper()
	h.press(fmt.Sprintf(`#checks [data-pay="%d"]`, n))
	h.waitFor("the payment dialog", `!document.querySelector('#paybox').hidden`)
	require.Equal(h.t, fmt.Sprintf("Pay check %d", n), h.eval(`document.querySelector('#pay-title').textContent`))
	require.Equal(h.t, money(due), h.eval(`document.querySelector('#pay-amount').value`), "what check %d owes, offered", n)
	h.press(`#tenders button[data-tender="card"]`)
	h.press("#pay-ok")
	h.waitSent()
}

// answer taps OK on the question dialog.
func (h *handheld) answer() {
	h.t.Helper()
	h.waitFor("the question", `!document.querySelector('#askbox').hidden`)
	h.press("#ask-ok")
	h.waitFor("the question answered", `document.querySelector('#askbox').hidden`)
}

// TestPOSSplitBySeatAndPayEachCheck: a four-seat table with a dish on each
// seat and a lemonade for the table. Split → By seat shows four checks,
// each with posd's total and due, the lemonade shared by all four (a
// quarter each, the odd cents on the first checks); each check is paid on
// its own for what it owes, and Close closes the order with every check
// settled.
func TestPOSSplitBySeatAndPayEachCheck(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Waiter.Open("T4", 4)
	f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 1, apitest.Seat(1)), apitest.AddItem("salmon", 1, apitest.Seat(2)),
		apitest.AddItem("burger", 1, apitest.Seat(3)), apitest.AddItem("caesar", 1, apitest.Seat(4)), apitest.AddItem("lemonade", 1), apitest.Fire())
	h := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T4", 2)
	h.openSplit()
	require.Equal(t, "1", h.eval(`String(document.querySelectorAll('#checks .check[data-check]').length)`), "one check before the split")

	h.press("#split-seat")
	h.waitChecks(4)
	got := f.Waiter.Order(o.ID)
	require.Len(t, got.Checks, 4)
	h.requireChecksShown(got)
	first, last := h.checkCard(1), h.checkCard(4)
	require.Contains(t, first, "Steak frites")
	require.NotContains(t, first, "Grilled salmon")
	require.Contains(t, first, "1/4 of 1 × Lemonade")
	require.Contains(t, first, "1.13", "450 cents in four: 113, 113, 112, 112")
	require.Contains(t, last, "Caesar salad")
	require.Contains(t, last, "1.12")

	for _, c := range got.Checks {
		h.payCheck(c.Number, c.Totals.DueCents)
		require.Zero(t, checkOf(t, f.Waiter.Order(o.ID), c.Number).Totals.DueCents, "check %d paid", c.Number)
	}
	h.requireChecksShown(f.Waiter.Order(o.ID))
	h.press("#sclose")
	h.waitFor("back on the floor, T4 free", `document.body.dataset.screen === 'floor' && document.querySelector('#tables button[data-table="T4"]').dataset.state === 'free'`)
	got = f.Waiter.Order(o.ID)
	require.Equal(t, "closed", got.Status)
	require.Len(t, got.Checks, 4)
	for _, c := range got.Checks {
		require.Zero(t, c.Totals.DueCents, "check %d", c.Number)
		require.Positive(t, c.Totals.PaidCents, "check %d", c.Number)
	}
	h.noExceptions()
}

// TestPOSSplitMoveShareMerge: two beers on one check; the waiter taps the
// beers, then New check, and moves one of the two; shares the fries with
// both checks; then merges check 2 back into check 1. Each tap is one
// PATCH and posd's order shows it.
func TestPOSSplitMoveShareMerge(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T14")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("beer", 2), apitest.AddItem("fries", 1))
	beer, fries := apitest.LineOf(o, "beer"), apitest.LineOf(o, "fries")
	h := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T14", 2)
	h.openSplit()

	h.press(fmt.Sprintf(`#checks .sline[data-line-id=%q]`, beer))
	h.press(`#checks .check.new [data-move-to="2"]`)
	h.waitFor("how many", `!document.querySelector('#askbox').hidden`)
	h.press(`#ask-body [data-step="-1"]`)
	h.answer()
	h.waitChecks(2)
	got := f.Waiter.Order(o.ID)
	require.EqualValues(t, 3, got.Version, "one PATCH")
	beers := apitest.Lines(got, "beer")
	require.Len(t, beers, 2, "the line split in two")
	for _, l := range got.Lines {
		if l.SKU == "beer" {
			require.Equal(t, 1, l.Qty)
			require.Equal(t, map[bool]int{true: 1, false: 2}[l.ID == beer], l.Check, "the moved part is a new line on check 2")
		}
	}
	require.Contains(t, h.checkCard(2), "1 × Draft beer")
	h.requireChecksShown(got)

	h.press(fmt.Sprintf(`#checks .sline[data-line-id=%q]`, fries))
	h.press("#split-share")
	h.waitFor("the checks to share with", `!document.querySelector('#askbox').hidden`)
	h.press(`#ask-body [data-choice="2"]`)
	h.answer()
	h.waitChecks(2)
	got = f.Waiter.Order(o.ID)
	for _, l := range got.Lines {
		if l.ID == fries {
			require.Equal(t, []int{1, 2}, l.SharedBy)
		}
	}
	require.Contains(t, h.checkCard(2), "1/2 of 1 × Fries")
	h.requireChecksShown(got)

	h.press(`#checks [data-merge-check="2"]`)
	h.waitFor("the check to merge into", `!document.querySelector('#askbox').hidden`)
	h.press(`#ask-body [data-choice="1"]`)
	h.answer()
	h.waitChecks(1)
	got = f.Waiter.Order(o.ID)
	require.Len(t, got.Checks, 1)
	require.EqualValues(t, 5, got.Version)
	h.requireChecksShown(got)
	h.noExceptions()
}

// checkOf is check n of o.
func checkOf(t *testing.T, o order.Order, n int) order.Check {
	t.Helper()
	for _, c := range o.Checks {
		if c.Number == n {
			return c
		}
	}
	t.Fatalf("order %s has no check %d: %+v", o.ID, n, o.Checks)
	return order.Check{}
}

// pickLinesAndTable taps "Move lines to table…", the lines (by id), then
// the table on the floor, and waits for the question that confirms it.
func (h *handheld) pickLinesAndTable(table string, lines ...uuid.UUID) string {
	h.t.Helper()
	h.pressUntil("#movebtn", "the lines to pick", `!document.querySelector('#askbox').hidden`)
	for _, l := range lines {
		h.press(fmt.Sprintf(`#ask-body button[data-line-id=%q]`, l))
	}
	h.press("#ask-ok")
	return h.pickTable("transfer", table)
}

// pickTable taps table on the floor in pick mode and answers the
// confirming question's text.
func (h *handheld) pickTable(kind, table string) string {
	h.t.Helper()
	h.waitFor("the floor to pick from", fmt.Sprintf(`document.body.dataset.screen === 'floor' && document.querySelector('#floor').dataset.pick === %q`, kind))
	h.press(fmt.Sprintf(`#tables button[data-table=%q]`, table))
	h.waitFor("the confirmation", `!document.querySelector('#askbox').hidden`)
	return h.eval(`document.querySelector('#askbox').innerText`)
}

// TestPOSMoveDrinkToBarTab: a drink moves from a table to a free table
// used as the bar tab: "Move lines to table…", the drink, the free table
// on the floor, Move. The drink is gone from the table and on the bar
// tab's new order.
func TestPOSMoveDrinkToBarTab(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T2")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 1, apitest.Seat(1)), apitest.AddItem("beer", 1, apitest.Seat(1)))
	h := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T2", 2)
	q := h.pickLinesAndTable("T30", apitest.LineOf(o, "beer"))
	require.Contains(t, q, "1 × Draft beer from table T2 to table T30")
	h.answer()
	h.waitSent()
	h.waitFor("T2 without the beer", `document.body.dataset.screen === 'order' && !document.querySelector('.line[data-sku="beer"]') && !!document.querySelector('.line[data-sku="steak"]')`)
	require.Equal(t, []string{"1×steak"}, linesOf(f.Waiter.Order(o.ID)))
	tab := f.Waiter.Orders("?status=open&table=T30").Orders
	require.Len(t, tab, 1)
	require.Equal(t, []string{"1×beer"}, linesOf(f.Waiter.Order(tab[0].ID)))
	h.noExceptions()
}

// TestPOSMergeTwoTables: Bruno's T7 merges into Alice's T6 from her
// handheld: T7 shows free on the floor, and T6's order holds every line.
func TestPOSMergeTwoTables(t *testing.T) {
	needChromium(t)
	f := start(t)
	a := f.Open("T6")
	f.Waiter.Patch(a.ID, 1, apitest.AddItem("steak", 1))
	b := f.Waiter2.Open("T7", 2)
	f.Waiter2.Patch(b.ID, 1, apitest.AddItem("beer", 2), apitest.AddItem("fries", 1))
	h := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T6", 2)
	h.pressUntil("#mergebtn", "the floor to merge from", `document.querySelector('#floor').dataset.pick === 'merge'`)
	require.Contains(t, h.pickTable("merge", "T7"), "Merge table T7 into table T6")
	h.answer()
	h.waitSent()
	h.waitFor("every line on T6", `document.body.dataset.screen === 'order' && document.querySelectorAll('.line').length === 3`)
	h.press("#back")
	h.waitFor("T7 free on the floor", `document.querySelector('#tables button[data-table="T7"]').dataset.state === 'free'`)
	gone := f.Waiter.Order(b.ID)
	require.Equal(t, "closed", gone.Status)
	require.NotNil(t, gone.MergedInto)
	require.Equal(t, a.ID, *gone.MergedInto)
	require.Equal(t, []string{"1×fries", "1×steak", "2×beer"}, linesOf(f.Waiter.Order(a.ID)))
	h.noExceptions()
}

// TestPOSMoveConflictOnOtherTable: Bruno adds to T9 after Alice's handheld
// picked T9 as the table her beer moves to. Her Move is refused with a
// version conflict: the merge screen names T9 and Bruno's change, nothing
// is written on either order until she taps Apply; then the beer moves.
func TestPOSMoveConflictOnOtherTable(t *testing.T) {
	needChromium(t)
	f := start(t)
	o := f.Open("T8")
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("beer", 1))
	other := f.Waiter2.Open("T9", 2)
	other = f.Waiter2.Patch(other.ID, 1, apitest.AddItem("steak", 1))
	h := openPOS(t, f, f.BaseURL, seed.TokenWaiter1, phoneW, phoneH)
	h.openOrder("T8", 2)
	require.Contains(t, h.pickLinesAndTable("T9", apitest.LineOf(o, "beer")), "to table T9")
	f.Waiter2.Patch(other.ID, 2, apitest.AddItem("fries", 1))
	h.press("#ask-ok")
	h.waitFor("the merge screen", `!document.querySelector('#merge').hidden`)
	require.Equal(t, "T9", h.eval(`document.querySelector('#merge').dataset.tables`))
	require.Contains(t, h.eval(`document.querySelector('#merge-theirs').innerText`), "Table T9: +1 Fries, the table (Bruno, ")
	require.Contains(t, h.eval(`document.querySelector('#merge-mine').innerText`), "moved 1 × Draft beer to table T9")
	require.EqualValues(t, 2, f.Waiter.Order(o.ID).Version, "nothing written on T8")
	require.EqualValues(t, 3, f.Waiter.Order(other.ID).Version, "nothing written on T9")
	require.Equal(t, []string{"1×beer"}, linesOf(f.Waiter.Order(o.ID)))
	h.press("#merge-apply")
	h.waitSent()
	require.Empty(t, linesOf(f.Waiter.Order(o.ID)))
	require.Equal(t, []string{"1×beer", "1×fries", "1×steak"}, linesOf(f.Waiter.Order(other.ID)))
	require.Equal(t, "1", h.merges())
	h.noExceptions()
}
