package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// TestTransferAndMergeOverHTTP: POST /v1/orders/{id}/transfer and /merge
// answer both orders, replay under their Idempotency-Key, and refuse bad
// requests naming the field, changing nothing.
func TestTransferAndMergeOverHTTP(t *testing.T) {
	f := start(t)
	shiftFrom := time.Now().UTC().Add(-time.Minute)
	a := f.Waiter.Patch(f.Open("T1").ID, 1, apitest.AddItem("beer", 2), apitest.AddItem("steak", 1), apitest.Fire())
	b := f.Waiter2.Patch(f.Waiter2.Open("T2", 2).ID, 1, apitest.AddItem("fries", 1))
	beer := apitest.LineOf(a, "beer")

	before := f.Fingerprint()
	for _, c := range []struct {
		to    map[string]any
		lines []order.LineMove
		field string
	}{
		{apitest.Ref(b), nil, "lines"},
		{nil, []order.LineMove{{LineID: beer}}, "to"},
		{map[string]any{"order_id": b.ID}, []order.LineMove{{LineID: beer}}, "to.expected_version"},
		{map[string]any{"order_id": b.ID, "expected_version": b.Version, "table": "T3"}, []order.LineMove{{LineID: beer}}, "to.table"},
		{map[string]any{"table": "nowhere"}, []order.LineMove{{LineID: beer}}, "to.table"},
		{map[string]any{"table": "T3", "guests": 0}, []order.LineMove{{LineID: beer}}, "to.guests"},
		{apitest.Ref(b), []order.LineMove{{LineID: beer, Qty: ptr(3)}}, "lines[0].qty"},
		{apitest.Ref(b), []order.LineMove{{LineID: uuid.New()}}, "lines[0].line_id"},
		{map[string]any{"order_id": b.ID, "expected_version": b.Version, "check": 100}, []order.LineMove{{LineID: beer}}, "to.check"},
		{apitest.Ref(a), []order.LineMove{{LineID: beer}}, "to.order_id"},
	} {
		r := f.Waiter.TryTransfer(a.ID, a.Version, c.to, c.lines)
		p := apitest.RequireProblem(t, r, 422, "validation-failed")
		require.Equal(t, c.field, p.Errors[0].Field, "%v %v: %s", c.to, c.lines, r.Body)
	}
	r := f.Waiter.Post(apitest.OrderPath(a.ID)+"/transfer", map[string]any{"to": apitest.Ref(b), "lines": []any{}})
	require.Equal(t, "expected_version", apitest.RequireProblem(t, r, 422, "validation-failed").Errors[0].Field)
	r = f.Waiter.Post(apitest.OrderPath(a.ID)+"/transfer", map[string]any{"expected_version": a.Version, "to": apitest.Ref(b), "lines": []any{}, "colour": 1})
	require.Equal(t, "colour", apitest.RequireProblem(t, r, 422, "validation-failed").Errors[0].Field)
	apitest.RequireProblem(t, f.Kitchen.TryTransfer(a.ID, a.Version, apitest.Ref(b), []order.LineMove{{LineID: beer}}), 403, "forbidden")
	require.Equal(t, before, f.Fingerprint(), "refusals change nothing")

	// One beer to T2, twice under one key: one change, the same answer.
	key := apitest.Keyed("move-beer-1")
	move := []order.LineMove{{LineID: beer, Qty: ptr(1)}}
	first := f.Waiter.TryTransfer(a.ID, a.Version, apitest.Ref(b), move, key)
	from, to := first.Pair(t)
	again := f.Waiter.TryTransfer(a.ID, a.Version, apitest.Ref(b), move, key)
	require.Equal(t, 200, again.Status)
	require.JSONEq(t, string(first.Body), string(again.Body))
	require.Equal(t, a.Version+1, from.Version)
	require.Equal(t, b.Version+1, to.Version)
	require.Equal(t, from, f.Waiter.Order(a.ID))
	require.Equal(t, to, f.Waiter.Order(b.ID))
	require.Equal(t, a.Totals.TotalCents+b.Totals.TotalCents, from.Totals.TotalCents+to.Totals.TotalCents)
	// at_version shows the orders as they were, checks included.
	var was order.Order
	f.Manager.Get(fmt.Sprintf("%s?at_version=%d", apitest.OrderPath(a.ID), a.Version)).JSON(t, &was)
	require.Equal(t, a.Lines, was.Lines)
	require.Equal(t, a.Checks, was.Checks)
	split := f.Waiter2.Patch(to.ID, to.Version, apitest.ShareLine(apitest.LineOf(to, "fries"), 1, 2))
	f.Manager.Get(fmt.Sprintf("%s?at_version=%d", apitest.OrderPath(to.ID), split.Version)).JSON(t, &was)
	require.Len(t, was.Checks, 2)
	require.Equal(t, split.Checks, was.Checks)
	to = f.Waiter2.Patch(to.ID, split.Version, apitest.MergeChecks(2, 1))

	// The stale copy of a request is a conflict naming the order that moved.
	r = f.Waiter2.TryTransfer(a.ID, a.Version, apitest.Ref(to), []order.LineMove{{LineID: beer, Qty: ptr(1)}})
	p := apitest.RequireProblem(t, r, 409, "version-conflict")
	require.Len(t, p.Conflicts, 1)
	require.Equal(t, a.ID, p.Conflicts[0].Current.ID)
	require.Equal(t, from.Version, p.Conflicts[0].CurrentVersion)
	require.Len(t, p.Conflicts[0].Changes, 1)
	require.Equal(t, order.OpTransferOut, p.Conflicts[0].Changes[0].Ops[0].Op)

	// Merge T1 into T2: T1 closes, merged into T2, and its table is free.
	r = f.Waiter.TryMerge(to.ID, to.Version, apitest.Ref(from))
	gone, into := r.Pair(t)
	require.Equal(t, order.StatusClosed, gone.Status)
	require.Equal(t, into.ID, *gone.MergedInto)
	require.Len(t, into.Lines, 4)
	require.Equal(t, a.Totals.TotalCents+b.Totals.TotalCents, into.Totals.TotalCents)
	f.Open("T1")
	res := f.Auditor.Verify()
	require.True(t, res.OK, "%+v", res)

	// Bruno's table, with Alice's lines merged in, is paid and closed: the
	// sales are his, and the merged-away order is no order closed.
	into = f.Waiter2.Patch(into.ID, into.Version, apitest.Fire(), apitest.PayNoTip("card", into.Totals.DueCents), apitest.Close())
	rep := f.Auditor.Shift(shiftFrom, time.Now().UTC().Add(time.Minute))
	require.EqualValues(t, 1, rep.Money.OrdersClosed)
	require.Equal(t, into.Totals.TotalCents, rep.Money.TotalCents)
	seen := 0
	for _, s := range rep.ByStaff {
		switch s.Staff {
		case "Bruno":
			seen++
			require.EqualValues(t, 1, s.OrdersClosed)
			require.Equal(t, into.Totals.SubtotalCents, s.SalesCents)
		case "Alice":
			require.Zero(t, s.OrdersClosed)
			require.Zero(t, s.SalesCents)
		}
	}
	require.Equal(t, 1, seen, "Bruno is in the report: %+v", rep.ByStaff)
}
