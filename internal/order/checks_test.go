package order_test

import (
	"errors"
	"math/rand"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// Split checks (DESIGN.md section 11): each check priced as an order of its
// own, to the cent, and the order's totals the checks' sums.

// table4 is a four-top on rules (no service charge below six guests):
// seat 1 a burger (1500 food, 10 % on top), seat 2 two beers (700 each,
// 20 % contained), bread for the table on no seat (fries 500, untaxed).
func table4(t *testing.T) (l *pricedLog, burger, beers, fries uuid.UUID) {
	l = openPriced(t, 4, &rules)
	burger, beers, fries = uuid.New(), uuid.New(), uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "burger", LineID: &burger, Seat: intp(1), Options: []order.LineOption{{Group: "temp", Option: "rare"}}},
		order.Op{Op: order.OpAddItem, SKU: "beer", LineID: &beers, Seat: intp(2), Qty: intp(2)},
		order.Op{Op: order.OpAddItem, SKU: "fries", LineID: &fries},
		order.Op{Op: order.OpSend})
	return l, burger, beers, fries
}

func checkTotals(t *testing.T, o order.Order, n int) order.Totals {
	t.Helper()
	tt, ok := o.CheckTotals(n)
	require.True(t, ok, "order has no check %d: %+v", n, o.Checks)
	return tt
}

// requireChecksSum: the order's totals are its checks' sums, field by field.
func requireChecksSum(t *testing.T, o order.Order) {
	t.Helper()
	var sum order.Totals
	for _, c := range o.Checks {
		sum.SubtotalCents += c.Totals.SubtotalCents
		sum.DiscountCents += c.Totals.DiscountCents
		sum.ServiceChargeCents += c.Totals.ServiceChargeCents
		sum.TaxCents += c.Totals.TaxCents
		sum.TotalCents += c.Totals.TotalCents
		sum.PaidCents += c.Totals.PaidCents
		sum.TipCents += c.Totals.TipCents
		sum.DueCents += c.Totals.DueCents
	}
	require.Equal(t, o.Totals, sum)
}

func TestSplitBySeatAndPayEach(t *testing.T) {
	l, burger, beers, fries := table4(t)
	before := l.cur.Totals
	require.Equal(t, []order.Check{{Number: 1, Totals: before}}, l.cur.Checks)
	o := l.must(order.Op{Op: order.OpSplitBySeat})
	require.Equal(t, 1, o.Lines[0].Check)
	require.Equal(t, 2, o.Lines[1].Check)
	require.Equal(t, 0, o.Lines[2].Check)
	require.Equal(t, []int{1, 2}, o.Lines[2].SharedBy, "the bread is shared by the seats' checks")
	// Check 1: burger 1500 + half the bread 250; food tax 150 on top.
	require.Equal(t, order.Totals{SubtotalCents: 1750, TaxCents: 150, TotalCents: 1900, DueCents: 1900}, checkTotals(t, o, 1))
	// Check 2: beers 1400 + 250; drinks tax 1400 × 2000/12000 = 233 contained.
	require.Equal(t, order.Totals{SubtotalCents: 1650, TaxCents: 233, TotalCents: 1650, DueCents: 1650}, checkTotals(t, o, 2))
	require.Equal(t, before, o.Totals, "splitting this order moves no cent")
	requireChecksSum(t, o)

	// Each check pays its own; one cent over its due is refused.
	var over *order.OverpaymentError
	require.True(t, errors.As(l.plan(order.Op{Op: order.OpAddPayment, Tender: "card", Check: intp(2), AmountCents: i64p(1651)}), &over))
	require.Equal(t, int64(1650), over.PayableCents)
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "card", Check: intp(1), AmountCents: i64p(1900), TipCents: i64p(300)})
	require.Equal(t, 1, o.Payments[0].Check)
	require.Zero(t, checkTotals(t, o, 1).DueCents)
	require.Equal(t, int64(300), checkTotals(t, o, 1).TipCents)
	// The order cannot close while check 2 owes.
	requireOpField(t, l.plan(order.Op{Op: order.OpClose}), 0, "op")
	o = l.must(order.Op{Op: order.OpAddPayment, Tender: "cash", Check: intp(2), AmountCents: i64p(1650)})
	require.Equal(t, 2, o.Payments[1].Check)
	requireChecksSum(t, o)
	o = l.must(order.Op{Op: order.OpClose})
	require.Equal(t, order.StatusClosed, o.Status)
	_, _, _ = burger, beers, fries
}

func TestSplitEvenRemainderCents(t *testing.T) {
	l := openPriced(t, 3, &rules)
	steak, fries := uuid.New(), uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "steak", LineID: &steak}, order.Op{Op: order.OpAddItem, SKU: "fries", LineID: &fries})
	o := l.must(order.Op{Op: order.OpSplitEven, Split: 3})
	// Steak 2400 → 800 each; fries 500 → 167, 167, 166 (the odd cents to
	// the lowest checks).
	for n, want := range map[int]int64{1: 967, 2: 967, 3: 966} {
		require.Equal(t, want, checkTotals(t, o, n).TotalCents, "check %d", n)
	}
	require.Equal(t, int64(2900), o.Totals.TotalCents)
	requireChecksSum(t, o)
	// Splitting the same way again changes nothing; into two is a new split.
	n := len(l.events)
	l.must(order.Op{Op: order.OpSplitEven, Split: 3})
	require.Len(t, l.events, n)
	o = l.must(order.Op{Op: order.OpSplitEven, Split: 2})
	require.Equal(t, []int{1, 2}, o.Lines[0].SharedBy)
	require.Len(t, o.Checks, 2)

	// Pay check 2, then a split into one fewer check than is paid is refused.
	l.must(order.Op{Op: order.OpSplitEven, Split: 3})
	l.must(order.Op{Op: order.OpAddPayment, Tender: "cash", Check: intp(3), AmountCents: i64p(966)})
	requireOpField(t, l.plan(order.Op{Op: order.OpSplitEven, Split: 2}), 0, "checks")
}

func TestOrderDiscountSplitsByCheckAmount(t *testing.T) {
	l := openPriced(t, 2, &rules)
	steak, fries := uuid.New(), uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "steak", LineID: &steak, Seat: intp(1)},
		order.Op{Op: order.OpAddItem, SKU: "fries", LineID: &fries, Seat: intp(2)},
		order.Op{Op: order.OpAddDiscount, PercentBps: i64p(1000), Reason: "regulars"},
		order.Op{Op: order.OpSplitBySeat})
	o := l.cur
	// 10 % of 2900 = 290, split 2400 : 500 → 240 and 50.
	require.Equal(t, order.Totals{SubtotalCents: 2400, DiscountCents: 240, TotalCents: 2160, DueCents: 2160}, checkTotals(t, o, 1))
	require.Equal(t, order.Totals{SubtotalCents: 500, DiscountCents: 50, TotalCents: 450, DueCents: 450}, checkTotals(t, o, 2))
	require.Equal(t, int64(290), o.Discounts[0].AppliedCents)
	requireChecksSum(t, o)

	// A fixed 100 off over 2400 : 500 is 82.76 and 17.24: 83 and 17.
	l.must(order.Op{Op: order.OpRemoveDiscount, DiscountID: o.Discounts[0].ID},
		order.Op{Op: order.OpAddDiscount, AmountCents: i64p(100), Reason: "sorry"})
	require.Equal(t, int64(83), checkTotals(t, l.cur, 1).DiscountCents)
	require.Equal(t, int64(17), checkTotals(t, l.cur, 2).DiscountCents)
	requireChecksSum(t, l.cur)
}

func TestSharedLineDiscounts(t *testing.T) {
	l := openPriced(t, 2, &rules)
	steak := uuid.New()
	l.must(order.Op{Op: order.OpAddItem, SKU: "steak", LineID: &steak, Qty: intp(1)},
		order.Op{Op: order.OpShareLine, LineID: &steak, Checks: []int{3, 1, 2}})
	require.Equal(t, []int{1, 2, 3}, l.cur.Lines[0].SharedBy, "the checks are kept ascending")
	// A 101-cent discount on the shared steak: 34, 34, 33 of it per share.
	o := l.must(order.Op{Op: order.OpAddDiscount, LineID: &steak, AmountCents: i64p(101), Reason: "burnt"})
	for n, want := range map[int]int64{1: 766, 2: 766, 3: 767} {
		require.Equal(t, want, checkTotals(t, o, n).TotalCents, "check %d", n)
	}
	require.Equal(t, int64(101), o.Discounts[0].AppliedCents)
	requireChecksSum(t, o)
}

func TestMoveToCheck(t *testing.T) {
	l, burger, beers, fries := table4(t)
	// One of the two beers to check 2, as a line of its own.
	part := uuid.New()
	o := l.must(order.Op{Op: order.OpMoveToCheck, LineID: &beers, Check: intp(2), Qty: intp(1), NewLineID: &part})
	require.Len(t, o.Lines, 4)
	require.Equal(t, 1, o.Lines[1].Qty)
	require.Equal(t, 1, o.Lines[1].Check)
	require.Equal(t, part, o.Lines[3].ID)
	require.Equal(t, 1, o.Lines[3].Qty)
	require.Equal(t, 2, o.Lines[3].Check)
	require.Equal(t, order.LineSent, o.Lines[3].Status, "the part keeps the line's kitchen state")
	require.Equal(t, int64(700), checkTotals(t, o, 2).TotalCents)
	requireChecksSum(t, o)

	// Moving more than the line has, to a check beyond the bound, or part
	// of a shared line is refused.
	requireOpField(t, l.plan(order.Op{Op: order.OpMoveToCheck, LineID: &burger, Check: intp(2), Qty: intp(2)}), 0, "qty")
	requireOpField(t, l.plan(order.Op{Op: order.OpMoveToCheck, LineID: &burger, Check: intp(order.MaxChecks + 1)}), 0, "check")
	requireOpField(t, l.plan(order.Op{Op: order.OpMoveToCheck, LineID: &fries, Check: intp(0)}), 0, "check")
	l.must(order.Op{Op: order.OpShareLine, LineID: &fries, Checks: []int{1, 2}})
	shared := uuid.New()
	requireOpField(t, l.plan(order.Op{Op: order.OpAddItem, SKU: "fries", LineID: &shared, Qty: intp(2)},
		order.Op{Op: order.OpShareLine, LineID: &shared, Checks: []int{1, 2}},
		order.Op{Op: order.OpMoveToCheck, LineID: &shared, Check: intp(1), Qty: intp(1)}), 2, "qty")
	// A whole shared line moves back onto one check.
	o = l.must(order.Op{Op: order.OpMoveToCheck, LineID: &fries, Check: intp(1)})
	require.Equal(t, 1, o.Lines[2].Check)
	require.Nil(t, o.Lines[2].SharedBy)
}

func TestPaidCheckCannotBeLeftOwing(t *testing.T) {
	l, _, beers, _ := table4(t)
	l.must(order.Op{Op: order.OpSplitBySeat},
		order.Op{Op: order.OpAddPayment, Tender: "card", Check: intp(2), AmountCents: i64p(1650)})
	// Moving the paid beers off check 2 would leave it owed money back.
	requireOpField(t, l.plan(order.Op{Op: order.OpMoveToCheck, LineID: &beers, Check: intp(1)}), 0, "check")
	// Merging check 2 into 1 carries its payment along: nothing is owed.
	o := l.must(order.Op{Op: order.OpMergeChecks, From: intp(2), Into: intp(1)})
	require.Len(t, o.Checks, 1)
	require.Equal(t, 1, o.Payments[0].Check)
	require.Nil(t, o.Lines[2].SharedBy, "a share of 1 and 2 merged is check 1's")
	require.Equal(t, 1, o.Lines[2].Check)
	require.Equal(t, int64(1900), o.Totals.DueCents)
	requireChecksSum(t, o)
	requireOpField(t, l.plan(order.Op{Op: order.OpMergeChecks, From: intp(5), Into: intp(1)}), 0, "from")
}

func TestSplitBySeatNeedsSeats(t *testing.T) {
	l := openPriced(t, 2, &rules)
	requireOpField(t, l.plan(order.Op{Op: order.OpSplitBySeat}), 0, "op")
	l.must(order.Op{Op: order.OpAddItem, SKU: "fries"})
	requireOpField(t, l.plan(order.Op{Op: order.OpSplitBySeat}), 0, "op")
}

// randomCheckOp is randomPricedOp with the check ops mixed in, and
// payments and items on random checks.
func randomCheckOp(r *rand.Rand, o order.Order) order.Op {
	var line *uuid.UUID
	if len(o.Lines) > 0 {
		id := o.Lines[r.Intn(len(o.Lines))].ID
		line = &id
	}
	check := 1 + r.Intn(4)
	switch r.Intn(12) {
	case 0:
		op := order.Op{Op: order.OpMoveToCheck, LineID: line, Check: &check}
		if r.Intn(2) == 0 {
			op.Qty = intp(1 + r.Intn(2))
		}
		return op
	case 1:
		checks := []int{1 + r.Intn(2), 3 + r.Intn(2)}
		if r.Intn(2) == 0 {
			checks = append(checks, 5)
		}
		return order.Op{Op: order.OpShareLine, LineID: line, Checks: checks}
	case 2:
		return order.Op{Op: order.OpSplitEven, Split: 2 + r.Intn(4)}
	case 3:
		return order.Op{Op: order.OpSplitBySeat}
	case 4:
		return order.Op{Op: order.OpMergeChecks, From: intp(1 + r.Intn(5)), Into: &check}
	case 5:
		amount := max(o.Totals.DueCents/2, 1)
		return order.Op{Op: order.OpAddPayment, Tender: "card", Check: &check, AmountCents: &amount}
	case 6:
		return order.Op{Op: order.OpAddItem, SKU: []string{"steak", "beer", "burger"}[r.Intn(3)], Qty: intp(1 + r.Intn(3)),
			Seat: intp(r.Intn(4)), Check: &check, Options: randomOptions(r)}
	}
	return randomPricedOp(r, o)
}

// TestChecksProperty drives random PATCHes, check ops among them, on
// orders with a service charge, both kinds of tax and discounts: after
// every change the checks sum to the order, every line's cents sit on its
// check or are split over its sharers exactly, a check never pays more
// than it costs by a payment, and the log folds to the same order.
func TestChecksProperty(t *testing.T) {
	var splits, unsplit, shared, multiPaid, closed int
	driveRandom(t, 2, randomCheckOp, func(seed int64, step int, o order.Order) {
		requireChecksSum(t, o)
		requireLinesOnChecks(t, o)
		if len(o.Checks) > 1 {
			splits++
		} else {
			// Not split: pricing check by check must be the plain order
			// pricing, cent for cent.
			whole, err := order.PriceOrder(&o)
			require.NoError(t, err)
			perCheck, err := order.PriceChecks(&o)
			require.NoError(t, err)
			require.Equal(t, whole, perCheck, "seed %d step %d", seed, step)
			unsplit++
		}
		for _, ln := range o.Lines {
			if ln.SharedBy != nil {
				shared++
				break
			}
		}
	}, func(last order.Order) {
		checksPaid := map[int]bool{}
		for _, p := range last.Payments {
			checksPaid[p.Check] = true
		}
		if len(checksPaid) > 1 {
			multiPaid++
		}
		if last.Status == order.StatusClosed {
			closed++
		}
	})
	t.Logf("split states %d, unsplit %d, with a shared line %d, orders paid on several checks %d, closed %d", splits, unsplit, shared, multiPaid, closed)
	require.Greater(t, splits, 500)
	require.Greater(t, unsplit, 500)
	require.Greater(t, shared, 200)
	require.Greater(t, multiPaid, 20)
	require.Greater(t, closed, 5)
}

// requireLinesOnChecks: each check's subtotal is the amounts of its lines
// plus its shares of shared lines, computed here from the lines alone.
func requireLinesOnChecks(t *testing.T, o order.Order) {
	t.Helper()
	want := map[int]int64{}
	for _, ln := range o.Lines {
		if ln.Status == order.LineVoided || ln.Comped {
			continue
		}
		amount := int64(ln.Qty) * ln.UnitPriceCents
		if ln.SharedBy == nil {
			require.GreaterOrEqual(t, ln.Check, 1)
			want[ln.Check] += amount
			continue
		}
		require.Zero(t, ln.Check)
		require.GreaterOrEqual(t, len(ln.SharedBy), 2)
		for k, c := range ln.SharedBy {
			want[c] += order.ShareOf(amount, len(ln.SharedBy), k)
		}
	}
	for _, c := range o.Checks {
		require.Equal(t, want[c.Number], c.Totals.SubtotalCents, "check %d of %+v", c.Number, o.Lines)
	}
}
