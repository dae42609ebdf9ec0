package order_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// paidParty is a party of six (the service charge applies from six guests)
// with two steaks sent and three beers still pending, paid in full by
// card: due 0. It returns the log and the two lines.
func paidParty(t *testing.T) (l *pricedLog, steaks, beers uuid.UUID) {
	t.Helper()
	l = openPriced(t, 6, &rules)
	steaks, beers = uuid.New(), uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "steak", LineID: &steaks, Qty: intp(2)}, order.Op{Op: order.OpSend})
	o := l.must(order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &beers, Qty: intp(3)})
	require.NotZero(t, o.Totals.ServiceChargeCents)
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(o.Totals.DueCents)})
	require.Zero(t, o.Totals.DueCents)
	return l, steaks, beers
}

// requireRefundRequired: err is the refund-required refusal of op idx,
// naming field.
func requireRefundRequired(t *testing.T, err error, idx int, field string) *order.RefundRequiredError {
	t.Helper()
	var rr *order.RefundRequiredError
	require.True(t, errors.As(err, &rr), "want a refund-required refusal, got %v", err)
	require.Equal(t, idx, rr.OpIndex, "%v", rr)
	require.Equal(t, field, rr.Field, "%v", rr)
	require.Less(t, rr.TotalCents, rr.PaidCents, "%v", rr)
	return rr
}

// TestWaiterCannotLeaveMoneyOwedBack: waive_service_charge, a discount, a
// void and a comp are a manager's, with a reason; a waiter's set_guests,
// set_qty or remove_item may not take the same money off an order once it
// is paid. A change by anyone but a manager that leaves the total lower
// than it was and below what has been paid (due_cents < 0: money owed back,
// which only a manager's refund_payment gives back) is refused, naming the
// last op that lowered the total, and changes nothing. Lowering what is
// still unpaid, raising the total, or a change that ends no lower (a swap)
// is the waiter's to do; a manager may do all of it, and refunds.
func TestWaiterCannotLeaveMoneyOwedBack(t *testing.T) {
	for _, c := range []struct {
		name  string
		ops   func(steaks, beers uuid.UUID) []order.Op
		idx   int    // -1: accepted
		field string // the field named
	}{
		{"fewer guests drop the service charge", func(_, _ uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetGuests, Guests: intp(5)}}
		}, 0, "guests"},
		{"fewer beers", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetQty, LineID: &b, Qty: intp(2)}}
		}, 0, "qty"},
		{"the beers removed", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpRemoveItem, LineID: &b}}
		}, 0, "line_id"},
		{"after another op", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetNote, Note: strp("window")}, {Op: order.OpRemoveItem, LineID: &b}}
		}, 1, "line_id"},
		{"a cheaper replacement", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpRemoveItem, LineID: &b}, {Op: order.OpAddItem, SKU: "fries"}}
		}, 0, "line_id"},
		{"the last op that lowered it is named", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetQty, LineID: &b, Qty: intp(2)}, {Op: order.OpAddItem, SKU: "fries"},
				{Op: order.OpSetGuests, Guests: intp(5)}, {Op: order.OpSetNote, Note: strp("x")}}
		}, 2, "guests"},
		{"paid and then lowered in one change", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpAddItem, SKU: "fries"}, {Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(500)},
				{Op: order.OpRemoveItem, LineID: &b}}
		}, 2, "line_id"},

		{"a swap at the same price", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpRemoveItem, LineID: &b}, {Op: order.OpAddItem, SKU: "beer", Qty: intp(3)}}
		}, -1, ""},
		{"a dearer replacement", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpRemoveItem, LineID: &b}, {Op: order.OpAddItem, SKU: "steak"}}
		}, -1, ""},
		{"lowered, then raised above it", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetGuests, Guests: intp(5)}, {Op: order.OpSetQty, LineID: &b, Qty: intp(9)}}
		}, -1, ""},
		{"more guests", func(_, _ uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetGuests, Guests: intp(9)}}
		}, -1, ""},
		{"more beers", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpSetQty, LineID: &b, Qty: intp(4)}}
		}, -1, ""},
		{"a tip alone", func(_, _ uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(0), TipCents: i64p(300)}}
		}, -1, ""},
		{"lowered with a new item unpaid", func(_, b uuid.UUID) []order.Op {
			return []order.Op{{Op: order.OpAddItem, SKU: "steak", Qty: intp(2)}, {Op: order.OpSetQty, LineID: &b, Qty: intp(1)}}
		}, -1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, steaks, beers := paidParty(t)
			before, events := l.cur.Clone(), len(l.events)
			err := l.planAs(order.RoleWaiter, c.ops(steaks, beers)...)
			if c.idx < 0 {
				require.NoError(t, err)
				require.GreaterOrEqual(t, l.cur.Totals.DueCents, int64(0))
				return
			}
			rr := requireRefundRequired(t, err, c.idx, c.field)
			require.Equal(t, c.ops(steaks, beers)[c.idx].Op, rr.Op)
			require.Equal(t, before, l.cur, "a refused change changes nothing")
			require.Len(t, l.events, events)

			// The manager may make the same change, and refunds what is
			// owed back; then the order closes settled.
			o := l.must(c.ops(steaks, beers)...)
			require.Negative(t, o.Totals.DueCents)
			require.Equal(t, rr.TotalCents, o.Totals.TotalCents, "the refusal says what the total would have been")
			o = l.must(order.Op{Op: order.OpRefundPayment, PaymentIndex: intp(0), AmountCents: i64p(-o.Totals.DueCents), Reason: "fewer than ordered"})
			require.Zero(t, o.Totals.DueCents)
			o = l.must(order.Op{Op: order.OpSend}, order.Op{Op: order.OpClose})
			require.Equal(t, order.StatusClosed, o.Status)
		})
	}
}

// TestOwedBackRuleBounds: the rule is about money already paid. Before
// any payment, or while the change leaves what was paid covered, a waiter
// lowers the total freely; once a manager's discount left money owed back,
// a waiter may add to the order but not take more off it, and may still
// close it (close takes due_cents ≤ 0, DESIGN.md section 4). An order
// opened before posd priced orders (no rules) is not bound, like the
// overpay cap: its payments could exceed the check.
func TestOwedBackRuleBounds(t *testing.T) {
	// Unpaid: the waiter corrects the party size and the beers.
	l := openPriced(t, 6, &rules)
	beers := uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &beers, Qty: intp(3)})
	require.NoError(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpSetGuests, Guests: intp(5)}, order.Op{Op: order.OpSetQty, LineID: &beers, Qty: intp(2)}))

	// Partly paid: lowering what is unpaid is fine, below what is paid not.
	o := l.must(order.Op{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(700)})
	require.Equal(t, int64(700), o.Totals.DueCents)
	requireRefundRequired(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpRemoveItem, LineID: &beers}), 0, "line_id")
	require.NoError(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpSetQty, LineID: &beers, Qty: intp(1)}))
	require.Zero(t, l.cur.Totals.DueCents)

	// A manager's discount after payment leaves money owed back: the
	// waiter adds to the order, cannot take more off, and may close.
	l.must(order.Op{Op: order.OpSend}, order.Op{Op: order.OpAddDiscount, LineID: &beers, AmountCents: i64p(200), Reason: "warm"})
	require.Equal(t, int64(-200), l.cur.Totals.DueCents)
	fries := uuid.New()
	require.NoError(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpAddItem, SKU: "fries", LineID: &fries}))
	require.Equal(t, int64(300), l.cur.Totals.DueCents)
	require.NoError(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpSetQty, LineID: &fries, Qty: intp(2)}))
	l.must(order.Op{Op: order.OpAddDiscount, AmountCents: i64p(1000), Reason: "birthday"})
	require.Equal(t, int64(-200), l.cur.Totals.DueCents)
	requireRefundRequired(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpSetQty, LineID: &fries, Qty: intp(1)}), 0, "qty")
	require.NoError(t, l.planAs(order.RoleWaiter, order.Op{Op: order.OpSend}, order.Op{Op: order.OpClose}))
	require.Equal(t, order.StatusClosed, l.cur.Status)
	require.Equal(t, int64(-200), l.cur.Totals.DueCents)

	// Legacy: no rules, no cap, no refund rule.
	legacy := openPriced(t, 2, nil)
	legacy.must(order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &beers, Qty: intp(2)},
		order.Op{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(1400)})
	require.NoError(t, legacy.planAs(order.RoleWaiter, order.Op{Op: order.OpRemoveItem, LineID: &beers}))
	require.Equal(t, int64(-1400), legacy.cur.Totals.DueCents)
}

// TestOwedBackRuleIsForNewWrites: the rule binds changes as posd plans them;
// replaying a logged change (Env.Replay, audit verify) accepts the ones
// posd wrote before it had the rule.
func TestOwedBackRuleIsForNewWrites(t *testing.T) {
	l, _, _ := paidParty(t)
	waiter := order.Actor{Device: "h", Staff: "Wally", Role: order.RoleWaiter}
	e := env()
	e.Actor = waiter
	ops := []order.Op{{Op: order.OpSetGuests, Guests: intp(5)}}
	_, _, err := order.Plan(l.cur, ops, l.at, e)
	requireRefundRequired(t, err, 0, "guests")
	e.Replay = true
	next, applied, err := order.Plan(l.cur, ops, l.at, e)
	require.NoError(t, err)
	require.Len(t, applied, 1)
	require.Negative(t, next.Totals.DueCents)
}
