package order_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

func requireField(t *testing.T, err error, idx int, field string) {
	t.Helper()
	var verr *order.ValidationError
	require.True(t, errors.As(err, &verr), "want a validation error on %s, got %v", field, err)
	require.Len(t, verr.Problems, 1)
	require.Equal(t, field, verr.Problems[0].Field)
	require.NotNil(t, verr.Problems[0].OpIndex)
	require.Equal(t, idx, *verr.Problems[0].OpIndex)
}

func openOrder() order.Order {
	return order.Order{Status: order.StatusOpen, Version: 1, Table: "T1", Lines: []order.Line{}, Payments: []order.Payment{}}
}

// TestPlanLinesPerOrderBound: MaxLinesPerOrder lines are accepted, the op
// that would add one more is refused naming "lines" and its index, and an
// order at the bound may still shrink and then grow again.
func TestPlanLinesPerOrderBound(t *testing.T) {
	at := time.Now()
	o := openOrder()
	ops := make([]order.Op, order.MaxLinesPerOrder)
	for i := range ops {
		ops[i] = order.Op{Op: order.OpAddItem, SKU: "steak"}
	}
	full, _, err := order.Plan(o, ops, at, env())
	require.NoError(t, err)
	require.Len(t, full.Lines, order.MaxLinesPerOrder)

	_, _, err = order.Plan(full, []order.Op{{Op: order.OpSetGuests, Guests: intp(3)}, {Op: order.OpAddItem, SKU: "beer"}}, at, env())
	requireField(t, err, 1, "lines")

	id := full.Lines[0].ID
	next, _, err := order.Plan(full, []order.Op{{Op: order.OpRemoveItem, LineID: &id}, {Op: order.OpAddItem, SKU: "beer"}}, at, env())
	require.NoError(t, err)
	require.Len(t, next.Lines, order.MaxLinesPerOrder)
}

// TestPlanOverflowRefused: a menu price past MaxPriceCents (the database
// refuses it too) cannot reach a line, and the payment past
// MaxPaymentsPerOrder is refused; at the bounds the totals are exact.
func TestPlanOverflowRefused(t *testing.T) {
	at := time.Now()
	e := env()
	e.Menu = map[string]order.MenuItem{
		"gold": {SKU: "gold", Name: "Gold", PriceCents: 100_000_000_000_000_000, Station: "bar"},
		"max":  {SKU: "max", Name: "Max", PriceCents: order.MaxPriceCents, Station: "bar"},
	}
	_, _, err := order.Plan(openOrder(), []order.Op{{Op: order.OpAddItem, SKU: "gold", Qty: intp(order.MaxQty)}}, at, e)
	requireField(t, err, 0, "sku")

	ops := make([]order.Op, order.MaxLinesPerOrder)
	for i := range ops {
		ops[i] = order.Op{Op: order.OpAddItem, SKU: "max", Qty: intp(order.MaxQty)}
	}
	big, _, err := order.Plan(openOrder(), ops, at, e)
	require.NoError(t, err)
	want := int64(order.MaxLinesPerOrder) * order.MaxQty * order.MaxPriceCents
	require.Equal(t, want, big.Totals.SubtotalCents)

	pays := make([]order.Op, order.MaxPaymentsPerOrder)
	for i := range pays {
		pays[i] = order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(order.MaxAmountCents), TipCents: i64p(order.MaxAmountCents)}
	}
	paid, _, err := order.Plan(big, pays, at, e)
	require.NoError(t, err)
	require.Equal(t, int64(order.MaxPaymentsPerOrder)*order.MaxAmountCents, paid.Totals.PaidCents)
	require.Equal(t, want-paid.Totals.PaidCents, paid.Totals.DueCents)

	_, _, err = order.Plan(paid, pays[:1], at, e)
	requireField(t, err, 0, "payments")
}
