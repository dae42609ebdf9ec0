package httpapi_test

// Bounds on an order's size and money (issue 8): an order holds at most
// order.MaxLinesPerOrder lines and takes at most order.MaxPaymentsPerOrder
// payments, so no total can overflow int64 and no send can make a kitchen
// message without bound. A request past a bound is a 422 naming the field,
// and nothing is written.

import (
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// fill adds n lines of sku to the order at version v, in PATCHes of at most
// order.MaxOps ops, and returns the new version.
func fill(c *apitest.Client, id uuid.UUID, v int64, n int, sku string) int64 {
	for n > 0 {
		k := min(n, order.MaxOps)
		ops := make([]order.Op, k)
		for i := range ops {
			ops[i] = apitest.AddItem(sku, 1)
		}
		c.Patch(id, v, ops...)
		v++
		n -= k
	}
	return v
}

// TestLinesPerOrderBound: an order takes lines up to MaxLinesPerOrder (a
// banquet of 500 lines is accepted, and sent), and the line past it is
// refused with 422 naming "lines" and the op, writing nothing, also when
// removals in the same order make room first.
func TestLinesPerOrderBound(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	v := fill(f.Waiter, id, 1, order.MaxLinesPerOrder, "steak")
	o := f.Waiter.Patch(id, v, apitest.Fire())
	v++
	require.Len(t, o.Lines, order.MaxLinesPerOrder)

	before := f.Fingerprint()
	r := f.Waiter.TryPatch(id, v, apitest.SetNote("ok"), apitest.AddItem("fries", 1))
	p := apitest.RequireFieldProblem(t, r, 422, "validation-failed", 1, "lines")
	require.Contains(t, p.Detail, fmt.Sprint(order.MaxLinesPerOrder))
	require.Equal(t, before, f.Fingerprint(), "a refused write changes nothing")

	// A new order still takes its lines: the bound is per order.
	other := f.Open("T2").ID
	f.Waiter.Patch(other, 1, apitest.AddItem("fries", 1))
}

// TestOverflowRefused: payments past MaxPaymentsPerOrder and amounts or tips
// over MaxAmountCents are 422 naming the field, and nothing is written; the
// totals of an order with the most payments are exact.
func TestOverflowRefused(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	v := int64(1)
	pay := func(n int, amount int64) []order.Op {
		ops := make([]order.Op, n)
		for i := range ops {
			ops[i] = apitest.PayNoTip("cash", amount)
		}
		return ops
	}
	// A payment may not exceed what is due: one steak (2400) takes
	// MaxPaymentsPerOrder payments of a cent.
	f.Waiter.Patch(id, v, apitest.AddItem("steak", 1))
	v++
	for n := order.MaxPaymentsPerOrder; n > 0; n -= order.MaxOps {
		f.Waiter.Patch(id, v, pay(min(n, order.MaxOps), 1)...)
		v++
	}
	before := f.Fingerprint()
	for _, c := range []struct {
		ops   []order.Op
		idx   int
		field string
	}{
		{pay(1, 1), 0, "payments"},
		{[]order.Op{apitest.PayNoTip("card", 1e17)}, 0, "amount_cents"},
		{[]order.Op{apitest.Pay("card", 100, 1e17)}, 0, "tip_cents"},
		{[]order.Op{apitest.AddItem("steak", 1<<40)}, 0, "qty"},
	} {
		r := f.Waiter.TryPatch(id, v, c.ops...)
		apitest.RequireFieldProblem(t, r, 422, "validation-failed", c.idx, c.field)
		require.Equal(t, before, f.Fingerprint(), "refused %v changed something", c.ops)
	}
	totals := f.Waiter.Order(id).Totals
	require.Equal(t, int64(order.MaxPaymentsPerOrder), totals.PaidCents)
	require.Equal(t, 2400-int64(order.MaxPaymentsPerOrder), totals.DueCents)
}
