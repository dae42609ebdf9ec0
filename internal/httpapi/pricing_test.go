package httpapi_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// Pricing through the API (DESIGN.md section 9, docs/PRICING.md) on the demo
// venue: food 10 % and drinks 20 %, both inclusive; 18 % service from 8
// guests, taxed as food; tenders cash, card, voucher, other.

// requireFoldedTotals: the order rebuilt from its log alone (at_version)
// has the stored order's totals, taxes, discounts and payments (invariants
// 3 and 9).
func requireFoldedTotals(t *testing.T, f *apitest.Fixture, o order.Order) {
	t.Helper()
	r := f.Auditor.Get(apitest.OrderPath(o.ID) + "?at_version=" + itoa(o.Version))
	require.Equal(t, 200, r.Status, string(r.Body))
	folded := r.Order(t)
	require.Equal(t, o.Totals, folded.Totals)
	require.Equal(t, o.Taxes, folded.Taxes)
	require.Equal(t, o.Discounts, folded.Discounts)
	require.Equal(t, o.Payments, folded.Payments)
	require.Equal(t, o.ServiceChargeWaiver, folded.ServiceChargeWaiver)
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestOrderTotalsWithServiceChargeAndTax(t *testing.T) {
	f := start(t)
	o := f.Waiter.Open("T5", 8)
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 2), apitest.AddItem("beer", 1))
	// subtotal 2 × 2400 + 700 = 5500; service 18 % = 990 (food);
	// food tax contained in 4800 + 990: 5790 × 1000 / 11000 = 526.36 → 526;
	// drinks: 700 × 2000 / 12000 = 116.67 → 117; nothing is added.
	require.Equal(t, order.Totals{SubtotalCents: 5500, ServiceChargeCents: 990, TaxCents: 643,
		TotalCents: 6490, DueCents: 6490}, o.Totals)
	require.Equal(t, []order.TaxPricing{
		{TaxClass: "food", RateBps: 1000, Inclusive: true, TaxableCents: 5790, TaxCents: 526},
		{TaxClass: "drinks", RateBps: 2000, Inclusive: true, TaxableCents: 700, TaxCents: 117},
	}, o.Taxes)
	requireFoldedTotals(t, f, o)

	// Fewer guests: no service charge.
	o = f.Waiter.Patch(o.ID, 2, apitest.SetGuests(7))
	require.Zero(t, o.Totals.ServiceChargeCents)
	require.Equal(t, int64(5500), o.Totals.TotalCents)
	o = f.Waiter.Patch(o.ID, 3, apitest.SetGuests(8))
	require.Equal(t, int64(990), o.Totals.ServiceChargeCents)

	// The manager waives it, with a reason; a waiter may not.
	before := f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 4, apitest.WaiveServiceCharge("slow")), 403, "forbidden", 0, "op")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.WaiveServiceCharge("")), 422, "validation-failed", 0, "reason")
	require.Equal(t, before, f.Fingerprint())
	o = f.Manager.Patch(o.ID, 4, apitest.WaiveServiceCharge("slow kitchen"))
	require.Zero(t, o.Totals.ServiceChargeCents)
	require.Equal(t, &order.Waiver{Reason: "slow kitchen", By: "Maria"}, o.ServiceChargeWaiver)
	requireFoldedTotals(t, f, o)
	// Waiving again changes nothing: no new version.
	require.EqualValues(t, 5, f.Manager.Patch(o.ID, 5, apitest.WaiveServiceCharge("again")).Version)
}

func TestDiscounts(t *testing.T) {
	f := start(t)
	o := f.Waiter.Open("T1", 2)
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 2), apitest.AddItem("wine-red", 1))
	steak, wine := apitest.LineOf(o, "steak"), apitest.LineOf(o, "wine-red")
	require.Equal(t, int64(5700), o.Totals.TotalCents)

	// Managers only, a reason, exactly one of percent and amount, a line
	// of this order.
	ghost := apitest.LineOf(f.Fired("T2", apitest.AddItem("fries", 1)), "fries")
	before := f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 2, apitest.PercentOff(1000, "regulars")), 403, "forbidden", 0, "op")
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 2, apitest.RemoveDiscount("x")), 403, "forbidden", 0, "op")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 2, apitest.SetNote("x"), apitest.PercentOff(1000, " ")), 422, "validation-failed", 1, "reason")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 2, apitest.PercentOff(10001, "r")), 422, "validation-failed", 0, "percent_bps")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 2, apitest.AmountOff(0, "r")), 422, "validation-failed", 0, "amount_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 2, order.Op{Op: order.OpAddDiscount, Reason: "r", PercentBps: ptr(int64(10)), AmountCents: ptr(int64(10))}), 422, "validation-failed", 0, "percent_bps")
	apitest.RequireFieldProblem(t, f.Manager.SendPatch(o.ID, apitest.Raw{"expected_version": 2, "ops": []any{
		map[string]any{"op": "add_discount", "reason": "r", "percent_bps": "ten"}}}), 422, "validation-failed", 0, "percent_bps")
	apitest.RequireFieldProblem(t, f.Manager.SendPatch(o.ID, apitest.Raw{"expected_version": 2, "ops": []any{
		map[string]any{"op": "add_discount", "reason": "r", "amount_cents": 1, "tender": "card"}}}), 422, "validation-failed", 0, "tender")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 2, apitest.AmountOff(100, "r", apitest.OnLine(ghost))), 422, "validation-failed", 0, "line_id")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 2, apitest.RemoveDiscount("none")), 422, "validation-failed", 0, "discount_id")
	require.Equal(t, before, f.Fingerprint())

	// 10 % off the whole order and 9.00 off the wine (a line discount comes
	// first: the order's 10 % is of 5700 − 900 = 4800).
	o = f.Manager.Patch(o.ID, 2, apitest.PercentOff(1000, "regulars", apitest.DiscountID("regulars")),
		apitest.AmountOff(900, "corked", apitest.OnLine(wine)))
	require.Len(t, o.Discounts, 2)
	require.Equal(t, "regulars", o.Discounts[0].ID)
	require.Equal(t, int64(480), o.Discounts[0].AppliedCents)
	require.Equal(t, int64(900), o.Discounts[1].AppliedCents)
	require.NotEmpty(t, o.Discounts[1].ID)
	require.Equal(t, "Maria", o.Discounts[1].By)
	require.Equal(t, order.Totals{SubtotalCents: 5700, DiscountCents: 1380, TaxCents: 393, TotalCents: 4320, DueCents: 4320}, o.Totals)
	requireFoldedTotals(t, f, o)

	// A duplicate id; a discounted line cannot be removed; remove_discount
	// brings the amount back.
	before = f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 3, apitest.AmountOff(1, "r", apitest.DiscountID("regulars"))), 422, "validation-failed", 0, "id")
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 3, apitest.Remove(wine)), 422, "validation-failed", 0, "line_id")
	require.Equal(t, before, f.Fingerprint())
	o = f.Manager.Patch(o.ID, 3, apitest.RemoveDiscount(o.Discounts[1].ID))
	require.Equal(t, int64(570), o.Totals.DiscountCents)
	require.Equal(t, int64(5130), o.Totals.TotalCents)
	o = f.Waiter.Patch(o.ID, 4, apitest.Remove(wine))
	require.Equal(t, int64(480), o.Totals.DiscountCents)
	requireFoldedTotals(t, f, o)
	require.Equal(t, steak, o.Lines[0].ID)
}

func ptr[T any](v T) *T { return &v }

func TestPaymentsTendersAndRefunds(t *testing.T) {
	f := start(t)
	o := f.Fired("T3", apitest.AddItem("burger", 1), apitest.AddItem("beer", 2))
	require.Equal(t, int64(3000), o.Totals.DueCents)

	// The tender must be the venue's; a payment may not exceed what is due
	// (after the earlier ops of the same PATCH); nothing is written.
	before := f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 2, apitest.Pay("bitcoin", 100, 0)), 422, "validation-failed", 0, "tender")
	p := apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 2, apitest.Pay("card", 2000, 0), apitest.Pay("cash", 1001, 0)), 422, "overpayment", 1, "amount_cents")
	require.NotNil(t, p.PayableCents)
	require.Equal(t, int64(1000), *p.PayableCents)
	require.Equal(t, before, f.Fingerprint())

	// A tip is separate from what settles the check.
	o = f.Waiter.Patch(o.ID, 2, apitest.Pay("card", 2000, 300), apitest.Pay("cash", 1000, 5000))
	require.Equal(t, order.Totals{SubtotalCents: 3000, TaxCents: 378, TotalCents: 3000, PaidCents: 3000, TipCents: 5300}, o.Totals)
	require.NotNil(t, o.Payments[0].ID)
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 3, apitest.Pay("card", 1, 0)), 422, "overpayment", 0, "amount_cents")

	// A beer was flat: 7.00 off its line leaves 7.00 owed back; a refund
	// settles it. Refunds are the manager's, with a reason, at most what is
	// left of the payment.
	beer := apitest.LineOf(o, "beer")
	o = f.Manager.Patch(o.ID, 3, apitest.AmountOff(700, "flat beer", apitest.OnLine(beer)))
	require.Equal(t, int64(-700), o.Totals.DueCents)
	before = f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 4, apitest.Refund(1, 700, "flat")), 403, "forbidden", 0, "op")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.Refund(1, 700, "")), 422, "validation-failed", 0, "reason")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.Refund(1, 1001, "flat")), 422, "validation-failed", 0, "amount_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.Refund(2, 1, "flat")), 422, "validation-failed", 0, "payment_index")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.RefundID(o.ID, 1, "flat")), 422, "validation-failed", 0, "payment_id")
	apitest.RequireFieldProblem(t, f.Manager.SendPatch(o.ID, apitest.Raw{"expected_version": 4, "ops": []any{
		map[string]any{"op": "refund_payment", "payment_index": 0, "payment_id": o.Payments[0].ID.String(), "amount_cents": 1, "reason": "r"}}}),
		422, "validation-failed", 0, "payment_index")
	require.Equal(t, before, f.Fingerprint())
	o = f.Manager.Patch(o.ID, 4, apitest.RefundID(*o.Payments[1].ID, 700, "flat beer"))
	require.Len(t, o.Payments, 3)
	refund := o.Payments[2]
	require.Equal(t, int64(-700), refund.AmountCents)
	require.Equal(t, "cash", refund.Tender)
	require.Equal(t, 1, *refund.RefundOf)
	require.Equal(t, "flat beer", refund.Reason)
	require.Zero(t, o.Totals.DueCents)
	require.Equal(t, int64(2300), o.Totals.PaidCents)
	// What is left of the cash payment is 300; a refund cannot be refunded.
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 5, apitest.Refund(1, 301, "x")), 422, "validation-failed", 0, "amount_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 5, apitest.Refund(2, 1, "x")), 422, "validation-failed", 0, "payment_index")
	requireFoldedTotals(t, f, o)

	// Refunding more leaves money due again, and close needs due_cents <= 0.
	o = f.Manager.Patch(o.ID, 5, apitest.Refund(0, 100, "goodwill"))
	require.Equal(t, int64(100), o.Totals.DueCents)
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 6, apitest.Close()), 422, "validation-failed", 0, "op")
	o = f.Waiter.Patch(o.ID, 6, apitest.Pay("voucher", 100, 0), apitest.Close())
	require.Equal(t, "closed", o.Status)
	requireFoldedTotals(t, f, o)

	// audit verify replays every op with the rules posd wrote them by.
	res := f.Auditor.Verify()
	require.True(t, res.OK, "%+v", res.Broken)
}

// TestTipAloneAfterSettlement: the card tip added after the card payment
// settled the check is an add_payment of amount_cents 0 with the tip, from
// the waiter; the amount stays capped by what is due; a payment of nothing
// is refused naming amount_cents, and each refusal writes nothing. A
// manager gives back a mistyped tip with refund_payment's tip_cents. The
// tips count, net, in the order's and the shift's, and audit verify
// replays it all.
func TestTipAloneAfterSettlement(t *testing.T) {
	f := start(t)
	from := time.Now().UTC().Add(-time.Minute)
	o := f.Fired("T6", apitest.AddItem("burger", 1))
	o = f.Waiter.Patch(o.ID, 2, apitest.Pay("card", o.Totals.DueCents, 0))
	require.Zero(t, o.Totals.DueCents)

	before := f.Fingerprint()
	for _, c := range []struct {
		op     order.Op
		status int
		kind   string
		field  string
	}{
		{apitest.Pay("card", 0, 0), 422, "validation-failed", "amount_cents"},
		{apitest.PayNoTip("card", 0), 422, "validation-failed", "amount_cents"},
		{apitest.Pay("card", -1, 500), 422, "validation-failed", "amount_cents"},
		{apitest.Pay("card", 0, -1), 422, "validation-failed", "tip_cents"},
		{apitest.Pay("card", 1, 500), 422, "overpayment", "amount_cents"},
		{apitest.Pay("bitcoin", 0, 500), 422, "validation-failed", "tender"},
	} {
		apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 3, apitest.SetNote("tip"), c.op), c.status, c.kind, 1, c.field)
	}
	require.Equal(t, before, f.Fingerprint())

	o = f.Waiter.Patch(o.ID, 3, apitest.Pay("card", 0, 400))
	require.Len(t, o.Payments, 2)
	require.Equal(t, int64(0), o.Payments[1].AmountCents)
	require.Equal(t, int64(400), o.Payments[1].TipCents)
	require.Equal(t, int64(400), o.Totals.TipCents)
	require.Zero(t, o.Totals.DueCents)
	requireFoldedTotals(t, f, o)
	// It has no amount to refund; a manager gives back (some of) its tip,
	// at most what is left of it, with a reason.
	before = f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.Refund(1, 1, "x")), 422, "validation-failed", 0, "amount_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.RefundTip(1, 0, 401, "x")), 422, "validation-failed", 0, "tip_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.RefundTip(0, 0, 1, "x")), 422, "validation-failed", 0, "tip_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.RefundTip(1, 0, 0, "x")), 422, "validation-failed", 0, "amount_cents")
	apitest.RequireFieldProblem(t, f.Manager.TryPatch(o.ID, 4, apitest.RefundTip(1, 0, 100, "")), 422, "validation-failed", 0, "reason")
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 4, apitest.RefundTip(1, 0, 100, "x")), 403, "forbidden", 0, "op")
	require.Equal(t, before, f.Fingerprint())
	o = f.Manager.Patch(o.ID, 4, apitest.RefundTip(1, 0, 100, "meant 3.00"))
	require.Equal(t, order.Payment{ID: o.Payments[2].ID, Tender: "card", TipCents: -100, RefundOf: ptr(1), Reason: "meant 3.00", Check: 1}, o.Payments[2])
	require.Equal(t, int64(300), o.Totals.TipCents)
	require.Zero(t, o.Totals.DueCents)
	requireFoldedTotals(t, f, o)
	o = f.Waiter.Patch(o.ID, 5, apitest.Close())

	rep := f.Auditor.Shift(from, time.Now().UTC().Add(time.Minute))
	require.Equal(t, int64(300), rep.Money.TipCents)
	require.Equal(t, int64(1), rep.Money.Refunds)
	res := f.Auditor.Verify()
	require.True(t, res.OK, "%+v", res.Broken)
}

// TestWaiterCannotLeaveMoneyOwedBackOverHTTP: once a party of eight paid
// the service charge, the waiter cannot take it off with set_guests (nor
// fewer or removed pending beers): 409 refund-required naming the op and
// its field, and nothing is written. The manager makes the change and
// refunds; audit verify replays it all.
func TestWaiterCannotLeaveMoneyOwedBackOverHTTP(t *testing.T) {
	f := start(t)
	o := f.Waiter.Open("T8", 8)
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 2), apitest.Fire(), apitest.AddItem("beer", 2))
	require.NotZero(t, o.Totals.ServiceChargeCents)
	o = f.Waiter.Patch(o.ID, 2, apitest.Pay("card", o.Totals.DueCents, 0))
	require.Zero(t, o.Totals.DueCents)
	beer := apitest.LineOf(o, "beer")

	before := f.Fingerprint()
	for _, c := range []struct {
		ops   []order.Op
		idx   int
		field string
	}{
		{[]order.Op{apitest.SetGuests(7)}, 0, "guests"},
		{[]order.Op{apitest.SetQty(beer, 1)}, 0, "qty"},
		{[]order.Op{apitest.Remove(beer)}, 0, "line_id"},
		{[]order.Op{apitest.SetNote("window"), apitest.Remove(beer), apitest.AddItem("fries", 1)}, 1, "line_id"},
		{[]order.Op{apitest.SetGuests(7), apitest.Fire(), apitest.Close()}, 0, "guests"},
	} {
		p := apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 3, c.ops...), 409, "refund-required", c.idx, c.field)
		require.Contains(t, p.Detail, "refund_payment")
	}
	require.Equal(t, before, f.Fingerprint())

	// More guests, more beers, a swap at the same price: the waiter's.
	o = f.Waiter.Patch(o.ID, 3, apitest.SetGuests(9))
	o = f.Waiter.Patch(o.ID, 4, apitest.Remove(beer), apitest.AddItem("beer", 2))
	require.Zero(t, o.Totals.DueCents)

	// The manager takes the service charge off and refunds it.
	o = f.Manager.Patch(o.ID, 5, apitest.SetGuests(7))
	require.Zero(t, o.Totals.ServiceChargeCents)
	owed := -o.Totals.DueCents
	require.Positive(t, owed)
	o = f.Manager.Patch(o.ID, 6, apitest.Refund(0, owed, "party of seven"), apitest.Fire())
	require.Zero(t, o.Totals.DueCents)
	o = f.Waiter.Patch(o.ID, 7, apitest.Close())
	require.Equal(t, "closed", o.Status)
	requireFoldedTotals(t, f, o)
	res := f.Auditor.Verify()
	require.True(t, res.OK, "%+v", res.Broken)
}

// TestTendersAreTheVenues: add_payment takes the venue's own tenders, and a
// pricing op on a closed order is order-closed like any other.
func TestTendersAreTheVenues(t *testing.T) {
	f := start(t)
	_, err := f.DB.Admin.Exec(context.Background(), "UPDATE venues SET tenders = '{cash,gift}' WHERE id = 'demo'")
	require.NoError(t, err)
	o := f.Fired("T4", apitest.AddItem("fries", 1))
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(o.ID, 2, apitest.Pay("card", 500, 0)), 422, "validation-failed", 0, "tender")
	o = f.Waiter.Patch(o.ID, 2, apitest.Pay("gift", 500, 0), apitest.Close())
	apitest.RequireProblem(t, f.Manager.TryPatch(o.ID, 3, apitest.Refund(0, 500, "x")), 409, "order-closed")
}

// TestPricingOpsDecodeStrictly: the new ops take exactly their fields, each
// of its type; the ids the server assigns (a payment's, a refund's) cannot
// be sent. Each refusal names the op and the field and writes nothing.
func TestPricingOpsDecodeStrictly(t *testing.T) {
	f := start(t)
	o := f.Fired("T7", apitest.AddItem("steak", 1))
	o = f.Waiter.Patch(o.ID, 2, apitest.Pay("card", 1000, 0))
	pid := o.Payments[0].ID.String()
	before := f.Fingerprint()
	for _, c := range []struct {
		op    map[string]any
		field string
	}{
		{map[string]any{"op": "add_payment", "tender": "card", "amount_cents": 1, "payment_id": pid}, "payment_id"},
		{map[string]any{"op": "add_payment", "tender": "card", "amount_cents": 1, "id": "mine"}, "id"},
		{map[string]any{"op": "add_discount", "amount_cents": 1, "reason": "r", "by": "Maria"}, "by"},
		{map[string]any{"op": "add_discount", "amount_cents": 1, "reason": "r", "id": 7}, "id"},
		{map[string]any{"op": "add_discount", "amount_cents": 1.5, "reason": "r"}, "amount_cents"},
		{map[string]any{"op": "add_discount", "amount_cents": 1, "reason": "r", "id": "no spaces"}, "id"},
		{map[string]any{"op": "add_discount", "amount_cents": 1, "reason": "r", "line_id": "steak"}, "line_id"},
		{map[string]any{"op": "remove_discount", "discount_id": 3}, "discount_id"},
		{map[string]any{"op": "remove_discount"}, "discount_id"},
		{map[string]any{"op": "waive_service_charge", "reason": "r", "percent_bps": 0}, "percent_bps"},
		{map[string]any{"op": "refund_payment", "payment_index": "0", "amount_cents": 1, "reason": "r"}, "payment_index"},
		{map[string]any{"op": "refund_payment", "payment_id": "nope", "amount_cents": 1, "reason": "r"}, "payment_id"},
		{map[string]any{"op": "refund_payment", "payment_index": -1, "amount_cents": 1, "reason": "r"}, "payment_index"},
		{map[string]any{"op": "refund_payment", "payment_index": 0, "amount_cents": 1, "reason": "r", "tip_cents": "1"}, "tip_cents"},
		{map[string]any{"op": "refund_payment", "payment_index": 0, "amount_cents": 1, "reason": "r", "tip_cents": -1}, "tip_cents"},
		{map[string]any{"op": "refund_payment", "payment_index": 0, "amount_cents": 1, "reason": "r", "refund_id": pid}, "refund_id"},
		{map[string]any{"op": "refund_payment", "payment_index": 0, "reason": "r"}, "amount_cents"},
	} {
		r := f.Manager.SendPatch(o.ID, apitest.Raw{"expected_version": 3, "ops": []any{map[string]any{"op": "set_note", "note": "x"}, c.op}})
		apitest.RequireFieldProblem(t, r, 422, "validation-failed", 1, c.field)
	}
	require.Equal(t, before, f.Fingerprint())
}
