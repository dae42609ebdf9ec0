package httpapi_test

import (
	"fmt"
	"testing"

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
	h.press("#splitbtn")
	h.waitFor("the split screen", `document.body.dataset.screen === 'split' && !!document.querySelector('#checks .check[data-check="1"]')`)
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
