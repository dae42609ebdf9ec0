package apitest

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// Changes between two orders, and the check ops (DESIGN.md section 11).

// Ref names an open order at a version (the "to" of a transfer, the
// "from" of a merge).
func Ref(o order.Order) map[string]any {
	return map[string]any{"order_id": o.ID, "expected_version": o.Version}
}

// TryTransfer sends POST /v1/orders/{id}/transfer: lines of the order at
// version move to "to" (Ref, or {"table": …}).
func (c *Client) TryTransfer(id uuid.UUID, version int64, to map[string]any, lines []order.LineMove, header ...map[string]string) Response {
	c.t.Helper()
	return c.Post(OrderPath(id)+"/transfer", map[string]any{"expected_version": version, "to": to, "lines": lines}, header...)
}

// TryMerge sends POST /v1/orders/{id}/merge: the order from (Ref) merges
// into the order at version.
func (c *Client) TryMerge(id uuid.UUID, version int64, from map[string]any, header ...map[string]string) Response {
	c.t.Helper()
	return c.Post(OrderPath(id)+"/merge", map[string]any{"expected_version": version, "from": from}, header...)
}

// Pair decodes a transfer's or merge's answer, requiring a 200.
func (r Response) Pair(t testing.TB) (from, to order.Order) {
	t.Helper()
	require.Equal(t, 200, r.Status, string(r.Body))
	var body struct{ From, To order.Order }
	r.JSON(t, &body)
	return body.From, body.To
}

// MoveToCheck moves a line (qty 0: all of it) to check n.
func MoveToCheck(line uuid.UUID, n, qty int) order.Op {
	op := order.Op{Op: order.OpMoveToCheck, LineID: &line, Check: &n}
	if qty > 0 {
		op.Qty = &qty
	}
	return op
}

// SplitBySeat puts each seat's lines on the check of its number.
func SplitBySeat() order.Op { return order.Op{Op: order.OpSplitBySeat} }

// ShareLine shares a line evenly by checks.
func ShareLine(line uuid.UUID, checks ...int) order.Op {
	return order.Op{Op: order.OpShareLine, LineID: &line, Checks: checks}
}

// MergeChecks merges check from into check into.
func MergeChecks(from, into int) order.Op {
	return order.Op{Op: order.OpMergeChecks, From: &from, Into: &into}
}

// PayCheck pays amount on check n, without tip.
func PayCheck(n int, tender string, amount int64) order.Op {
	op := PayNoTip(tender, amount)
	op.Check = &n
	return op
}
