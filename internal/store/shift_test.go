package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// TestShiftListsBound: the journal lists a range's first voids and comps
// (by time, order, version and place in the change; an op of the other
// name is not listed), forced writes (by time, order and version) and
// tables with refused writes (most first, then by table), at most maxRows
// of each, and counts them all: voids and comps per staff member who made
// them and op, the forced writes, the tables and their refused writes.
func TestShiftListsBound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, s, _ := signedStore(t)
	maria := order.Actor{Device: "manager", Staff: "Maria", Role: order.RoleManager}
	noor := order.Actor{Device: "manager-2", Staff: "Noor", Role: order.RoleManager}
	from := time.Now()
	patch := func(o order.Order, by order.Actor, force bool, ops ...order.Op) order.Order {
		t.Helper()
		p := store.Patch{Expected: &o.Version, Force: force, Ops: ops}
		if force {
			p.Expected = nil
		}
		next, changed, err := s.Patch(ctx, "demo", o.ID, p, by)
		require.NoError(t, err)
		require.True(t, changed)
		return next
	}
	void := func(l uuid.UUID) order.Op { return order.Op{Op: order.OpVoidItem, LineID: &l, Reason: "dropped"} }
	comp := func(l uuid.UUID) order.Op { return order.Op{Op: order.OpCompItem, LineID: &l, Reason: "regulars"} }

	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	beer := order.Op{Op: order.OpAddItem, SKU: "beer", Qty: one(1)}
	o = patch(o, alice, false, beer, beer, beer, beer, beer)
	o = patch(o, alice, false, order.Op{Op: order.OpSend})
	l := make([]uuid.UUID, len(o.Lines))
	for i, line := range o.Lines {
		l[i] = line.ID
	}
	o = patch(o, maria, false, void(l[3]), comp(l[0]), void(l[1])) // version 4
	o = patch(o, noor, false, void(l[2]), comp(l[4]))              // version 5
	for range 3 {
		o = patch(o, maria, true, order.Op{Op: order.OpSetGuests, Guests: one(3 + int(o.Version%2))})
	}
	stale := func(o order.Order) {
		t.Helper()
		v := o.Version - 1
		_, _, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &v, Ops: []order.Op{{Op: order.OpSetGuests, Guests: one(9)}}}, alice)
		var conflict *order.ConflictError
		require.ErrorAs(t, err, &conflict)
	}
	stale(o)
	stale(o)
	o2, err := s.Open(ctx, "demo", "T2", 2, alice, nil)
	require.NoError(t, err)
	stale(patch(o2, alice, false, beer))
	to := time.Now().Add(time.Minute)

	in := func(f func(j store.Journal) error) {
		t.Helper()
		require.NoError(t, s.InVenue(ctx, "demo", func(tx pgx.Tx) error { return f(store.JournalOn(tx)) }))
	}
	listed := func(op string, maxRows int) (got []string) {
		t.Helper()
		in(func(j store.Journal) error {
			ops, err := j.LineActions(ctx, "demo", from, to, op, maxRows)
			for _, x := range ops {
				var a order.Op
				require.NoError(t, json.Unmarshal([]byte(x.Op), &a))
				require.Equal(t, op, a.Op)
				require.Equal(t, o.ID, x.OrderID)
				require.Equal(t, "T1", x.Table)
				got = append(got, a.LineID.String()+"@"+x.Staff)
			}
			return err
		})
		return got
	}
	at := func(i int, by string) string { return l[i].String() + "@" + by }
	require.Equal(t, []string{at(3, "Maria"), at(1, "Maria"), at(2, "Noor")}, listed(order.OpVoidItem, 10),
		"by version, then place in the change")
	require.Equal(t, []string{at(3, "Maria"), at(1, "Maria")}, listed(order.OpVoidItem, 2), "the first two")
	require.Equal(t, []string{at(0, "Maria"), at(4, "Noor")}, listed(order.OpCompItem, 10))
	require.Equal(t, []string{at(0, "Maria")}, listed(order.OpCompItem, 1))

	in(func(j store.Journal) error {
		counts, err := j.LineActionCounts(ctx, "demo", from, to, []string{order.OpVoidItem, order.OpCompItem})
		require.Equal(t, []audit.StaffOpCount{
			{Staff: "Maria", Op: order.OpCompItem, Count: 1}, {Staff: "Maria", Op: order.OpVoidItem, Count: 2},
			{Staff: "Noor", Op: order.OpCompItem, Count: 1}, {Staff: "Noor", Op: order.OpVoidItem, Count: 1},
		}, counts)
		return err
	})

	in(func(j store.Journal) error {
		forced, total, err := j.ForcedOverrides(ctx, "demo", from, to, 2)
		require.NoError(t, err)
		require.EqualValues(t, 3, total, "the range's forced writes, listed or not")
		require.Len(t, forced, 2)
		require.Equal(t, []int64{6, 7}, []int64{forced[0].Version, forced[1].Version}, "the first two")

		c, err := j.Conflicts(ctx, "demo", from, to, 1)
		require.NoError(t, err)
		require.Equal(t, audit.Conflicts{Total: 3, ByTable: []audit.TableCount{{Table: "T1", Count: 2}}, ByTableTotal: 2}, c,
			"the table with the most; all the tables and refused writes counted")
		c, err = j.Conflicts(ctx, "demo", from, to, 10)
		require.NoError(t, err)
		require.Equal(t, []audit.TableCount{{Table: "T1", Count: 2}, {Table: "T2", Count: 1}}, c.ByTable)
		return nil
	})

	// A range without any.
	later := to.Add(time.Hour)
	in(func(j store.Journal) error {
		ops, err := j.LineActions(ctx, "demo", to, later, order.OpVoidItem, 10)
		require.NoError(t, err)
		require.Empty(t, ops)
		counts, err := j.LineActionCounts(ctx, "demo", to, later, []string{order.OpVoidItem, order.OpCompItem})
		require.NoError(t, err)
		require.Empty(t, counts)
		forced, total, err := j.ForcedOverrides(ctx, "demo", to, later, 10)
		require.NoError(t, err)
		require.Empty(t, forced)
		require.Zero(t, total)
		c, err := j.Conflicts(ctx, "demo", to, later, 10)
		require.NoError(t, err)
		require.Equal(t, audit.Conflicts{ByTable: []audit.TableCount{}}, c)
		return nil
	})
}
