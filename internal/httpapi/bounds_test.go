package httpapi_test

// Bounds on an order's size and money (issue 8): an order holds at most
// order.MaxLinesPerOrder lines and takes at most order.MaxPaymentsPerOrder
// payments, so no total can overflow int64 and no send can make a kitchen
// message without bound. A request past a bound is a 422 naming the field,
// and nothing is written.

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// fill adds n lines of sku to the order at version v, in PATCHes of at most
// order.MaxOps ops, and returns the new version.
func (f fixture) fill(id string, v, n int, sku string) int {
	f.t.Helper()
	for n > 0 {
		k := min(n, order.MaxOps)
		ops := make([]map[string]any, k)
		for i := range ops {
			ops[i] = addItem(sku)
		}
		f.mustPatch(waiter, id, v, ops...)
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
	f := setup(t)
	id := f.open("T1")
	v := f.fill(id, 1, order.MaxLinesPerOrder, "steak")
	o := f.mustPatch(waiter, id, v, map[string]any{"op": "send"})
	v++
	require.Len(t, o["lines"], order.MaxLinesPerOrder)

	before := f.state()
	r := f.patch(waiter, id, v, map[string]any{"op": "set_note", "note": "ok"}, addItem("fries"))
	p := requireProblem(t, r, 422, "validation-failed")
	requireFieldError(t, p, 1, "lines")
	require.Contains(t, p["detail"], fmt.Sprint(order.MaxLinesPerOrder))
	require.Equal(t, before, f.state(), "a refused write changes nothing")

	// A new order still takes its lines: the bound is per order.
	other := f.open("T2")
	f.mustPatch(waiter, other, 1, addItem("fries"))
}

// TestOverflowRefused: payments past MaxPaymentsPerOrder and amounts or tips
// over MaxAmountCents are 422 naming the field, and nothing is written; the
// totals of the largest order the bounds allow are exact.
func TestOverflowRefused(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	v := 1
	pay := func(n int, amount int64) []map[string]any {
		ops := make([]map[string]any, n)
		for i := range ops {
			ops[i] = map[string]any{"op": "add_payment", "tender": "cash", "amount_cents": amount}
		}
		return ops
	}
	for n := order.MaxPaymentsPerOrder; n > 0; n -= order.MaxOps {
		f.mustPatch(waiter, id, v, pay(min(n, order.MaxOps), order.MaxAmountCents)...)
		v++
	}
	before := f.state()
	for _, c := range []struct {
		ops   []map[string]any
		idx   int
		field string
	}{
		{pay(1, 1), 0, "payments"},
		{[]map[string]any{{"op": "add_payment", "tender": "card", "amount_cents": int64(1e17)}}, 0, "amount_cents"},
		{[]map[string]any{{"op": "add_payment", "tender": "card", "amount_cents": 100, "tip_cents": int64(1e17)}}, 0, "tip_cents"},
		{[]map[string]any{{"op": "add_item", "sku": "steak", "qty": 1 << 40}}, 0, "qty"},
	} {
		r := f.patch(waiter, id, v, c.ops...)
		p := requireProblem(t, r, 422, "validation-failed")
		requireFieldError(t, p, c.idx, c.field)
		require.Equal(t, before, f.state(), "refused %v changed something", c.ops)
	}
	o := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + id, Token: waiter}).Map(t)
	totals := o["totals"].(map[string]any)
	require.EqualValues(t, int64(order.MaxPaymentsPerOrder)*order.MaxAmountCents, totals["paid_cents"])
	require.EqualValues(t, -int64(order.MaxPaymentsPerOrder)*order.MaxAmountCents, totals["due_cents"])
}
