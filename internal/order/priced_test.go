package order_test

import (
	"encoding/json"
	"errors"
	"math/rand"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// The pricing engine wired into orders: an order priced with the rules its
// opened event carries, the manager's discounts, waiver and refunds, the
// overpay rule, and Fold reproducing every total from the log alone.

// rules: food 10 % exclusive, drinks 20 % inclusive, 18 % service from 6
// guests taxed as food.
var rules = order.PriceRules{
	TaxClasses:    []order.TaxClass{{ID: "food", Name: "Food", RateBps: 1000}, {ID: "drinks", Name: "Drinks", RateBps: 2000, Inclusive: true}},
	ServiceCharge: &order.ServiceCharge{MinGuests: 6, RateBps: 1800, TaxClass: "food"},
}

// pricedLog is an order's log as the test writes it: each Plan's applied
// ops become the next event, through JSON as the store keeps them.
type pricedLog struct {
	t      *testing.T
	cur    order.Order
	events []order.Event
	at     time.Time
}

func openPriced(t *testing.T, guests int, r *order.PriceRules) *pricedLog {
	at := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	mgr := order.Actor{Device: "m", Staff: "Maria", Role: order.RoleManager}
	ev := order.Event{OrderID: uuid.New(), Venue: "demo", Version: 1, Type: order.EventOpened, At: at, Actor: mgr,
		Ops: []order.Op{order.OpenOp("T1", guests, r)}}
	o, err := order.Fold([]order.Event{ev})
	require.NoError(t, err)
	return &pricedLog{t: t, cur: o, events: []order.Event{ev}, at: at}
}

// plan applies ops as the manager Maria, returning Validate's or Plan's error.
func (l *pricedLog) plan(ops ...order.Op) error {
	l.t.Helper()
	return l.planAs(order.RoleManager, ops...)
}

// planAs applies ops as staff of role (Maria the manager, or Wally the
// waiter), returning Validate's or Plan's error.
func (l *pricedLog) planAs(role string, ops ...order.Op) error {
	l.t.Helper()
	actor := order.Actor{Device: "m", Staff: "Maria", Role: order.RoleManager}
	if role != order.RoleManager {
		actor = order.Actor{Device: "h", Staff: "Wally", Role: role}
	}
	if err := order.Validate(ops, actor.Role); err != nil {
		return err
	}
	e := env()
	e.Actor = actor
	l.at = l.at.Add(time.Minute)
	next, applied, err := order.Plan(l.cur, ops, l.at, e)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		require.Equal(l.t, l.cur, next)
		return nil
	}
	raw, err := json.Marshal(applied)
	require.NoError(l.t, err)
	var stored []order.Op
	require.NoError(l.t, json.Unmarshal(raw, &stored))
	l.events = append(l.events, order.Event{OrderID: l.cur.ID, Venue: "demo", Version: next.Version,
		Type: order.EventPatched, At: l.at, Actor: actor, Ops: stored})
	l.cur = next
	folded, err := order.Fold(l.events)
	require.NoError(l.t, err)
	require.Equal(l.t, next.Totals, folded.Totals, "Fold reproduces the totals")
	require.Equal(l.t, next.Taxes, folded.Taxes)
	require.Equal(l.t, next.Discounts, folded.Discounts)
	require.Equal(l.t, next.Payments, folded.Payments)
	return nil
}

func (l *pricedLog) must(ops ...order.Op) order.Order {
	l.t.Helper()
	require.NoError(l.t, l.plan(ops...))
	return l.cur
}

func requireOpField(t *testing.T, err error, idx int, field string) {
	t.Helper()
	var ve *order.ValidationError
	require.True(t, errors.As(err, &ve), "want a validation error, got %v", err)
	require.Len(t, ve.Problems, 1, "%v", ve)
	require.NotNil(t, ve.Problems[0].OpIndex)
	require.Equal(t, idx, *ve.Problems[0].OpIndex, "%v", ve)
	require.Equal(t, field, ve.Problems[0].Field, "%v", ve)
}

func TestPricedOrderTotals(t *testing.T) {
	l := openPriced(t, 6, &rules)
	s, b := uuid.New(), uuid.New()
	// burger 1500 + truffle 450 (food) and two beers 700 (drinks, inclusive).
	o := l.must(order.Op{Op: order.OpAddItem, SKU: "burger", LineID: &s, Options: []order.LineOption{{Group: "temp", Option: "mr"}, {Group: "sides", Option: "truffle"}}},
		order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &b, Qty: intp(2)})
	// subtotal 3350; service 18 % = 603; food tax (1950 + 603) × 10 % = 255.3 → 255;
	// drinks 1400 × 2000 / 12000 = 233.3 → 233 (contained); total 3350 + 603 + 255.
	require.Equal(t, order.Totals{SubtotalCents: 3350, ServiceChargeCents: 603, TaxCents: 488, TotalCents: 4208, DueCents: 4208}, o.Totals)

	// A line discount and an order discount, then the waiver.
	o = l.must(order.Op{Op: order.OpAddDiscount, ID: "happy", LineID: &b, PercentBps: i64p(5000), Reason: "happy hour"},
		order.Op{Op: order.OpAddDiscount, AmountCents: i64p(250), Reason: "regular"})
	require.Len(t, o.Discounts, 2)
	require.Equal(t, "happy", o.Discounts[0].ID)
	require.Equal(t, int64(700), o.Discounts[0].AppliedCents)
	require.Equal(t, int64(250), o.Discounts[1].AppliedCents)
	require.Equal(t, "Maria", o.Discounts[1].By)
	require.NotEmpty(t, o.Discounts[1].ID, "the server names a discount the client did not")
	require.Equal(t, int64(950), o.Totals.DiscountCents)
	o = l.must(order.Op{Op: order.OpWaiveServiceCharge, Reason: "slow service"})
	require.Zero(t, o.Totals.ServiceChargeCents)
	require.Equal(t, &order.Waiver{Reason: "slow service", By: "Maria"}, o.ServiceChargeWaiver)
	// Waiving twice changes nothing.
	before := len(l.events)
	require.NoError(t, l.plan(order.Op{Op: order.OpWaiveServiceCharge, Reason: "again"}))
	require.Len(t, l.events, before)

	// Removing a discount brings its amount back.
	o = l.must(order.Op{Op: order.OpRemoveDiscount, DiscountID: "happy"})
	require.Equal(t, int64(250), o.Totals.DiscountCents)
	require.Len(t, o.Discounts, 1)
}

func TestPaymentsAndRefunds(t *testing.T) {
	l := openPriced(t, 2, &rules)
	s := uuid.New()
	o := l.must(order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &s, Qty: intp(3)}, order.Op{Op: order.OpSend})
	require.Equal(t, int64(2100), o.Totals.DueCents)

	// The overpay rule: one cent over what is due is refused, naming the op.
	err := l.plan(order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(1000)},
		order.Op{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(1101)})
	var over *order.OverpaymentError
	require.True(t, errors.As(err, &over), "%v", err)
	require.Equal(t, 1, over.OpIndex)
	require.Equal(t, int64(1100), over.PayableCents)
	// A tip is separate.
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(2100), TipCents: i64p(5000)})
	require.NotNil(t, o.Payments[0].ID)
	require.Equal(t, order.Totals{SubtotalCents: 2100, TaxCents: 350, TotalCents: 2100, PaidCents: 2100, TipCents: 5000}, o.Totals)
	// A tender the venue does not take.
	requireOpField(t, l.plan(order.Op{Op: order.OpAddPayment, Tender: "bitcoin", AmountCents: i64p(1)}), 0, "tender")

	// A discount after payment leaves money owed back; a refund settles it.
	o = l.must(order.Op{Op: order.OpAddDiscount, LineID: &s, AmountCents: i64p(700), Reason: "flat beer"})
	require.Equal(t, int64(-700), o.Totals.DueCents)
	requireOpField(t, l.plan(order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(0), AmountCents: i64p(2101), Reason: "x"}), 0, "amount_cents")
	requireOpField(t, l.plan(order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(1), AmountCents: i64p(1), Reason: "x"}), 0, "payment_index")
	missing := uuid.New()
	requireOpField(t, l.plan(order.Op{Op: order.OpRefundPayment, PaymentID: &missing, AmountCents: i64p(1), Reason: "x"}), 0, "payment_id")
	o = l.must(order.Op{Op: order.OpRefundPayment, PaymentID: o.Payments[0].ID, AmountCents: i64p(700), Reason: "flat beer"})
	require.Len(t, o.Payments, 2)
	refund := o.Payments[1]
	require.Equal(t, int64(-700), refund.AmountCents)
	require.Equal(t, "card", refund.Tender)
	require.Equal(t, 0, *refund.RefundOf)
	require.Equal(t, "flat beer", refund.Reason)
	require.Equal(t, int64(1400), o.Totals.PaidCents)
	require.Zero(t, o.Totals.DueCents)
	// What is left of the payment: 2100 − 700; a refund of a refund is refused.
	requireOpField(t, l.plan(order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(0), AmountCents: i64p(1401), Reason: "x"}), 0, "amount_cents")
	requireOpField(t, l.plan(order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(1), AmountCents: i64p(1), Reason: "x"}), 0, "payment_index")
	o = l.must(order.Op{Op: order.OpClose})
	require.Equal(t, order.StatusClosed, o.Status)
}

// TestTipAfterSettlement: a card tip is often added after the card payment
// settled the check. add_payment takes amount_cents 0 with a tip of at
// least a cent (from a waiter too); the amount stays capped by what is due,
// and a payment moves some money.
func TestTipAfterSettlement(t *testing.T) {
	l := openPriced(t, 2, &rules)
	s := uuid.New()
	o := l.must(order.Op{Op: order.OpAddItem, SKU: "steak", LineID: &s}, order.Op{Op: order.OpSend})
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(o.Totals.DueCents)})
	require.Zero(t, o.Totals.DueCents)

	require.NoError(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(0), TipCents: i64p(500)}))
	o = l.cur
	require.Len(t, o.Payments, 2)
	require.Equal(t, int64(0), o.Payments[1].AmountCents)
	require.Equal(t, int64(500), o.Payments[1].TipCents)
	require.NotNil(t, o.Payments[1].ID)
	require.Equal(t, int64(500), o.Totals.TipCents)
	require.Zero(t, o.Totals.DueCents)

	// The amount is still capped by what is due, tip or not.
	var over *order.OverpaymentError
	err := l.plan(order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(1), TipCents: i64p(500)})
	require.True(t, errors.As(err, &over), "%v", err)
	require.Zero(t, over.PayableCents)
	// Nothing at all, or a negative amount or tip, is no payment.
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(0)}}, order.RoleWaiter), 0, "amount_cents")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(0), TipCents: i64p(0)}}, order.RoleWaiter), 0, "amount_cents")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(-1), TipCents: i64p(500)}}, order.RoleWaiter), 0, "amount_cents")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(0), TipCents: i64p(-1)}}, order.RoleWaiter), 0, "tip_cents")
	// A tip alone has no amount to refund; its tip can be given back
	// (TestRefundATip).
	requireOpField(t, l.plan(order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(1), AmountCents: i64p(1), Reason: "x"}), 0, "amount_cents")

	// A tip before the check is settled, without settling any of it.
	o = l.must(order.Op{Op: order.OpAddItem, SKU: "beer"}, order.Op{Op: order.OpSend},
		order.Op{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(0), TipCents: i64p(100)})
	require.Equal(t, int64(700), o.Totals.DueCents)
	require.Equal(t, int64(600), o.Totals.TipCents)
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(700)}, order.Op{Op: order.OpClose})
	require.Equal(t, order.StatusClosed, o.Status)
}

// TestRefundATip: a manager gives back some or all of a payment's tip with
// refund_payment's tip_cents (a mistyped tip; a card charge refunded
// whole), alone or with the amount, at most what is left of the payment's
// tip; a refund moves some money. Fold reproduces every cent, and the
// net tips never go below zero.
func TestRefundATip(t *testing.T) {
	l := openPriced(t, 2, &rules)
	s := uuid.New()
	o := l.must(order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &s, Qty: intp(3)}, order.Op{Op: order.OpSend})
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(o.Totals.DueCents), TipCents: i64p(5000)},
		order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(0), TipCents: i64p(400)})
	require.Equal(t, int64(5400), o.Totals.TipCents)
	refund := func(idx int, amount, tip int64) order.Op {
		return order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(idx), AmountCents: i64p(amount), TipCents: i64p(tip), Reason: "mistyped"}
	}

	// 50.00 was meant as 5.00: 45.00 of the tip back, nothing of the amount.
	o = l.must(refund(0, 0, 4500))
	require.Equal(t, order.Payment{ID: o.Payments[2].ID, Tender: "card", AmountCents: 0, TipCents: -4500, RefundOf: intp(0), Reason: "mistyped", Check: 1}, o.Payments[2])
	require.NotNil(t, o.Payments[2].ID)
	require.Equal(t, int64(900), o.Totals.TipCents)
	require.Equal(t, int64(2100), o.Totals.PaidCents)
	require.Zero(t, o.Totals.DueCents)

	// At most what is left of the payment's tip; a refund moves something.
	requireOpField(t, l.plan(refund(0, 0, 501)), 0, "tip_cents")
	requireOpField(t, l.plan(refund(0, 0, 300), refund(0, 0, 201)), 1, "tip_cents")
	requireOpField(t, l.plan(refund(1, 1, 0)), 0, "amount_cents")
	requireOpField(t, l.plan(refund(2, 0, 1)), 0, "payment_index")
	requireOpField(t, order.Validate([]order.Op{refund(0, 0, 0)}, order.RoleManager), 0, "amount_cents")
	requireOpField(t, order.Validate([]order.Op{refund(0, -1, 1)}, order.RoleManager), 0, "amount_cents")
	requireOpField(t, order.Validate([]order.Op{refund(0, 1, -1)}, order.RoleManager), 0, "tip_cents")
	requireOpField(t, order.Validate([]order.Op{refund(0, 1, order.MaxAmountCents+1)}, order.RoleManager), 0, "tip_cents")
	var fe *order.ForbiddenOpError
	require.True(t, errors.As(order.Validate([]order.Op{refund(0, 0, 1)}, order.RoleWaiter), &fe))

	// The tip alone given back whole, and the card charge refunded whole
	// (amount and what is left of its tip) in one refund.
	o = l.must(refund(1, 0, 400), refund(0, 2100, 500))
	require.Equal(t, int64(-2100), o.Payments[4].AmountCents)
	require.Equal(t, int64(-500), o.Payments[4].TipCents)
	require.Zero(t, o.Totals.TipCents)
	require.Zero(t, o.Totals.PaidCents)
	require.Equal(t, int64(2100), o.Totals.DueCents)
	requireOpField(t, l.plan(refund(0, 0, 1)), 0, "tip_cents")
}

func TestPricingOpRules(t *testing.T) {
	l := openPriced(t, 2, &rules)
	s := uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "steak", LineID: &s})

	// Role: a waiter gets the role refusal for every pricing op.
	for _, op := range []order.Op{
		{Op: order.OpAddDiscount, AmountCents: i64p(1), Reason: "r"},
		{Op: order.OpRemoveDiscount, DiscountID: "d"},
		{Op: order.OpWaiveServiceCharge, Reason: "r"},
		{Op: order.OpRefundPayment, PaymentIndex: intp(0), AmountCents: i64p(1), Reason: "r"},
	} {
		var fe *order.ForbiddenOpError
		require.True(t, errors.As(order.Validate([]order.Op{op}, order.RoleWaiter), &fe), op.Op)
	}
	// Validation: reason required, exactly one of percent and amount.
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddDiscount, AmountCents: i64p(1)}}, order.RoleManager), 0, "reason")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddDiscount, Reason: "r"}}, order.RoleManager), 0, "percent_bps")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddDiscount, Reason: "r", AmountCents: i64p(1), PercentBps: i64p(1)}}, order.RoleManager), 0, "percent_bps")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpAddDiscount, Reason: "r", PercentBps: i64p(10001)}}, order.RoleManager), 0, "percent_bps")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpWaiveServiceCharge}}, order.RoleManager), 0, "reason")
	requireOpField(t, order.Validate([]order.Op{{Op: order.OpRefundPayment, AmountCents: i64p(1), Reason: "r"}}, order.RoleManager), 0, "payment_index")

	// State: an unknown line or discount, a duplicate id, a discounted line
	// removed, a waiver without a service charge.
	ghost := uuid.New()
	requireOpField(t, l.plan(order.Op{Op: order.OpAddDiscount, LineID: &ghost, AmountCents: i64p(1), Reason: "r"}), 0, "line_id")
	requireOpField(t, l.plan(order.Op{Op: order.OpRemoveDiscount, DiscountID: "nope"}), 0, "discount_id")
	l.must(order.Op{Op: order.OpAddDiscount, ID: "d1", LineID: &s, AmountCents: i64p(100), Reason: "r"})
	requireOpField(t, l.plan(order.Op{Op: order.OpAddDiscount, ID: "d1", AmountCents: i64p(1), Reason: "r"}), 0, "id")
	requireOpField(t, l.plan(order.Op{Op: order.OpRemoveItem, LineID: &s}), 0, "line_id")
	none := openPriced(t, 9, &order.PriceRules{TaxClasses: rules.TaxClasses})
	requireOpField(t, none.plan(order.Op{Op: order.OpWaiveServiceCharge, Reason: "r"}), 0, "op")
	// An item taxed in a class the order's rules lack: the rates are the
	// ones the order opened with.
	foodOnly := openPriced(t, 2, &order.PriceRules{TaxClasses: rules.TaxClasses[:1]})
	requireOpField(t, foodOnly.plan(order.Op{Op: order.OpSetNote, Note: strp("x")},
		order.Op{Op: order.OpAddItem, SKU: "beer"}), 1, "sku")
}

// TestLegacyOrderCarriesNoTax: an order opened before posd priced orders
// (its opened event has no rules) prices its lines untaxed, also those
// whose items have a tax class, and has no service charge.
func TestLegacyOrderCarriesNoTax(t *testing.T) {
	l := openPriced(t, 12, nil)
	o := l.must(order.Op{Op: order.OpAddItem, SKU: "beer", Qty: intp(2)}, order.Op{Op: order.OpAddItem, SKU: "steak"})
	require.Equal(t, "drinks", o.Lines[0].TaxClass)
	require.Equal(t, order.Totals{SubtotalCents: 3800, TotalCents: 3800, DueCents: 3800}, o.Totals)
	require.Empty(t, o.Taxes)
	o = l.must(order.Op{Op: order.OpSend}, order.Op{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(3800)}, order.Op{Op: order.OpClose})
	require.Equal(t, order.StatusClosed, o.Status)
}

// randomPricedOp is randomOp with the pricing ops mixed in: discounts of
// lines and of the order, their removal, the waiver, payments near what is
// due, tips alone and refunds of earlier payments (of their tips too).
func randomPricedOp(r *rand.Rand, o order.Order) order.Op {
	switch r.Intn(8) {
	case 0:
		op := order.Op{Op: order.OpAddDiscount, Reason: "r"}
		if r.Intn(2) == 0 {
			op.PercentBps = i64p(int64(1 + r.Intn(order.MaxRateBps)))
		} else {
			op.AmountCents = i64p(int64(1 + r.Intn(3000)))
		}
		if len(o.Lines) > 0 && r.Intn(2) == 0 {
			id := o.Lines[r.Intn(len(o.Lines))].ID
			op.LineID = &id
		}
		return op
	case 1:
		if len(o.Discounts) > 0 && r.Intn(4) > 0 {
			return order.Op{Op: order.OpRemoveDiscount, DiscountID: o.Discounts[r.Intn(len(o.Discounts))].ID}
		}
		return order.Op{Op: order.OpRemoveDiscount, DiscountID: "nope"}
	case 2:
		return order.Op{Op: order.OpWaiveServiceCharge, Reason: "r"}
	case 3:
		amount := max(o.Totals.DueCents, 1)
		switch r.Intn(4) {
		case 0:
			amount = int64(1 + r.Intn(int(amount)))
		case 1:
			amount = 0 // a tip alone, or (tip 0) no payment at all
		}
		return order.Op{Op: order.OpAddPayment, Tender: []string{"card", "cash"}[r.Intn(2)], AmountCents: &amount, TipCents: i64p(int64(r.Intn(500)))}
	case 4:
		idx := 0
		if len(o.Payments) > 0 {
			idx = r.Intn(len(o.Payments))
		}
		op := order.Op{Op: order.OpRefundPayment, PaymentIndex: &idx, AmountCents: i64p(int64(1 + r.Intn(2000))), Reason: "r"}
		switch r.Intn(3) {
		case 0:
			op.TipCents = i64p(int64(r.Intn(400))) // some of the tip back too
		case 1:
			op.AmountCents, op.TipCents = i64p(0), i64p(int64(r.Intn(400))) // the tip alone back
		}
		return op
	}
	return randomOp(r, o)
}

// TestPricedFoldProperty drives random PATCHes of every op kind through
// Plan on orders priced with rules (inclusive and exclusive tax, a service
// charge from 3 guests): folding the log always reproduces the planned
// order, every cent included (invariant 9), and the totals keep their
// identities; a refusal is a validation, overpayment or closed error,
// never anything else.
func TestPricedFoldProperty(t *testing.T) {
	var refunds, tipRefunds, discounts, waived, closed int
	driveRandom(t, 3, randomPricedOp, func(_ int64, _ int, o order.Order) {
		tt := o.Totals
		var exclusive int64
		for _, tx := range o.Taxes {
			if !tx.Inclusive {
				exclusive += tx.TaxCents
			}
		}
		require.Equal(t, tt.SubtotalCents-tt.DiscountCents+tt.ServiceChargeCents+exclusive, tt.TotalCents)
		require.Equal(t, tt.TotalCents-tt.PaidCents, tt.DueCents)
		require.GreaterOrEqual(t, tt.PaidCents, int64(0))
		require.GreaterOrEqual(t, tt.TipCents, int64(0))
		require.LessOrEqual(t, tt.DiscountCents, tt.SubtotalCents)
	}, func(last order.Order) {
		for _, p := range last.Payments {
			if p.RefundOf != nil {
				refunds++
			}
			if p.TipCents < 0 {
				tipRefunds++
			}
		}
		discounts += len(last.Discounts)
		if last.ServiceChargeWaiver != nil {
			waived++
		}
		if last.Status == order.StatusClosed {
			closed++
		}
	})
	t.Logf("%d refunds (%d of tips), %d discounts, %d waivers, %d closed", refunds, tipRefunds, discounts, waived, closed)
	require.Positive(t, refunds)
	require.Positive(t, tipRefunds)
	require.Positive(t, discounts)
	require.Positive(t, waived)
	require.Positive(t, closed)
}

// driveRandom runs 300 seeded random orders priced with a service charge
// from 3 guests and both kinds of tax, each up to 40 PATCHes of 1 to maxOps
// ops from gen. Every accepted change must fold from the log to the
// planned order (l.plan checks it) and is handed to after; a refusal must
// be a client's error and change nothing. done sees each order's last
// state.
func driveRandom(t *testing.T, maxOps int, gen func(*rand.Rand, order.Order) order.Op, after func(seed int64, step int, o order.Order), done func(last order.Order)) {
	t.Helper()
	priced := order.PriceRules{TaxClasses: rules.TaxClasses,
		ServiceCharge: &order.ServiceCharge{MinGuests: 3, RateBps: 1250, TaxClass: "drinks"}}
	for seed := int64(0); seed < 300; seed++ {
		r := rand.New(rand.NewSource(seed))
		l := openPriced(t, 1+r.Intn(4), &priced)
		for step := 0; step < 40 && l.cur.Status == order.StatusOpen; step++ {
			ops := make([]order.Op, 1+r.Intn(maxOps))
			for i := range ops {
				ops[i] = gen(r, l.cur)
			}
			before := l.cur.Clone()
			if err := l.plan(ops...); err != nil {
				var ve *order.ValidationError
				var ce *order.ClosedError
				var oe *order.OverpaymentError
				var rr *order.RefundRequiredError
				require.True(t, errors.As(err, &ve) || errors.As(err, &ce) || errors.As(err, &oe) || errors.As(err, &rr),
					"seed %d step %d: %v", seed, step, err)
				require.Equal(t, before, l.cur)
				continue
			}
			after(seed, step, l.cur)
		}
		done(l.cur)
	}
}
