package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// Changes between two orders (DESIGN.md section 11): one transaction, one
// event in each order's log, each version +1, or nothing.

// tableWith opens an order on table with one line per sku (qty 2 each)
// and returns it with the lines' ids.
func tableWith(t *testing.T, s *store.Store, table string, skus ...string) (order.Order, []uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", table, 2, alice, nil)
	require.NoError(t, err)
	ids := make([]uuid.UUID, len(skus))
	ops := make([]order.Op, len(skus))
	for i, sku := range skus {
		ids[i] = uuid.New()
		ops[i] = order.Op{Op: order.OpAddItem, SKU: sku, LineID: &ids[i], Qty: one(2)}
	}
	o, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: ops}, alice)
	require.NoError(t, err)
	return o, ids
}

// requireStoredIsFolded: the order as stored is its log folded, cent for
// cent, at every version as At shows it.
func requireStoredIsFolded(t *testing.T, s *store.Store, o order.Order) {
	t.Helper()
	ctx := context.Background()
	got, err := s.Get(ctx, "demo", o.ID)
	require.NoError(t, err)
	evs, err := s.Events(ctx, "demo", o.ID, 0, 1000)
	require.NoError(t, err)
	require.Len(t, evs, int(got.Version), "one event per version")
	folded, err := order.Fold(evs)
	require.NoError(t, err)
	folded.ChainHead = got.ChainHead
	require.Equal(t, folded, got)
	require.Equal(t, o.Totals, got.Totals)
	require.Equal(t, o.Checks, got.Checks)
}

func TestTransferMovesLinesBetweenOrders(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	a, aLines := tableWith(t, s, "T1", "steak", "beer")
	b, _ := tableWith(t, s, "T2", "fries")
	sum := a.Totals.TotalCents + b.Totals.TotalCents

	// One of the two beers and both steaks to T2, onto its check 2.
	part := uuid.New()
	from, to, err := s.Transfer(ctx, "demo", store.Transfer{From: a.ID, Expected: a.Version,
		To:    store.OrderRef{OrderID: &b.ID, Expected: b.Version},
		Lines: []order.LineMove{{LineID: aLines[1], Qty: one(1), NewLineID: &part}, {LineID: aLines[0]}}, ToCheck: 2}, bob)
	require.NoError(t, err)
	require.Equal(t, a.Version+1, from.Version)
	require.Equal(t, b.Version+1, to.Version)
	require.Len(t, from.Lines, 1)
	require.Equal(t, 1, from.Lines[0].Qty)
	require.Len(t, to.Lines, 3)
	require.Equal(t, aLines[0], to.Lines[2].ID, "a whole line keeps its id")
	require.Equal(t, part, to.Lines[1].ID)
	require.Equal(t, 2, to.Lines[2].Check)
	require.Equal(t, sum, from.Totals.TotalCents+to.Totals.TotalCents, "a transfer keeps the sum of the orders")
	requireStoredIsFolded(t, s, from)
	requireStoredIsFolded(t, s, to)
	require.EqualValues(t, 1, db.Count(t, `SELECT count(DISTINCT xmin::text) FROM order_events
		WHERE (order_id = $1 AND version = $2) OR (order_id = $3 AND version = $4)`, a.ID, from.Version, b.ID, to.Version),
		"both events come from one transaction")

	// At shows the order as it was before the lines left.
	was, err := s.At(ctx, "demo", a.ID, a.Version)
	require.NoError(t, err)
	require.Len(t, was.Lines, 2)

	// To a free table: the transfer opens its order, at version 1.
	from2, opened, err := s.Transfer(ctx, "demo", store.Transfer{From: a.ID, Expected: from.Version,
		To: store.OrderRef{Table: "T3", Guests: 1}, Lines: []order.LineMove{{LineID: aLines[1]}}, ToCheck: 1}, bob)
	require.NoError(t, err)
	require.EqualValues(t, 1, opened.Version)
	require.Equal(t, "T3", opened.Table)
	require.Equal(t, "Bob", opened.Server)
	require.Empty(t, from2.Lines)
	requireStoredIsFolded(t, s, opened)
	requireStoredIsFolded(t, s, from2)

	// A table that is not free is refused with the order on it named.
	_, _, err = s.Transfer(ctx, "demo", store.Transfer{From: b.ID, Expected: to.Version,
		To: store.OrderRef{Table: "T3", Guests: 1}, Lines: []order.LineMove{{LineID: part}}, ToCheck: 1}, bob)
	var occ *order.TableOccupiedError
	require.ErrorAs(t, err, &occ)
	require.Equal(t, opened.ID, *occ.OccupiedBy)
}

func TestTransferConflictNamesEachOrderThatMoved(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	a, aLines := tableWith(t, s, "T1", "steak")
	b, _ := tableWith(t, s, "T2", "fries")
	// A colleague changes T2 after the waiter looked at it.
	b2, _, err := s.Patch(ctx, "demo", b.ID, store.Patch{Expected: &b.Version, Ops: guests(4)}, bob)
	require.NoError(t, err)
	before := fmt.Sprint(db.Count(t, "SELECT count(*) FROM order_events"), db.Count(t, "SELECT count(*) FROM order_lines"))
	_, _, err = s.Transfer(ctx, "demo", store.Transfer{From: a.ID, Expected: a.Version,
		To: store.OrderRef{OrderID: &b.ID, Expected: b.Version}, Lines: []order.LineMove{{LineID: aLines[0]}}, ToCheck: 1}, alice)
	var ce *order.ConflictsError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Conflicts, 1, "only the order that moved")
	require.Equal(t, b.ID, ce.Conflicts[0].Current.ID)
	require.Equal(t, b2.Version, ce.Conflicts[0].Current.Version)
	require.Equal(t, b.Version, ce.Conflicts[0].Expected)
	require.Len(t, ce.Conflicts[0].Changes, 1)
	require.Equal(t, before, fmt.Sprint(db.Count(t, "SELECT count(*) FROM order_events"), db.Count(t, "SELECT count(*) FROM order_lines")),
		"nothing written")
	// Both moved: both named.
	a2, _, err := s.Patch(ctx, "demo", a.ID, store.Patch{Expected: &a.Version, Ops: guests(3)}, bob)
	require.NoError(t, err)
	_, _, err = s.Merge(ctx, "demo", store.Merge{Into: b.ID, Expected: b.Version,
		From: store.OrderRef{OrderID: &a.ID, Expected: a.Version}}, alice)
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Conflicts, 2)
	require.ElementsMatch(t, []int64{a2.Version, b2.Version}, []int64{ce.Conflicts[0].Current.Version, ce.Conflicts[1].Current.Version})
}

func TestMergeClosesTheOtherOrderAndFreesItsTable(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	a, _ := tableWith(t, s, "T1", "steak", "beer")
	b, _ := tableWith(t, s, "T2", "fries")
	sum := a.Totals.TotalCents + b.Totals.TotalCents
	from, into, err := s.Merge(ctx, "demo", store.Merge{Into: b.ID, Expected: b.Version,
		From: store.OrderRef{OrderID: &a.ID, Expected: a.Version}}, bob)
	require.NoError(t, err)
	require.Equal(t, order.StatusClosed, from.Status)
	require.Equal(t, b.ID, *from.MergedInto)
	require.Empty(t, from.Lines)
	require.Len(t, into.Lines, 3)
	require.Equal(t, 4, into.Guests)
	require.Equal(t, sum, into.Totals.TotalCents)
	requireStoredIsFolded(t, s, from)
	requireStoredIsFolded(t, s, into)
	// T1 is free again.
	_, err = s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
}

// TestOppositeTransfersRace: two waiters move lines between the same two
// tables in opposite directions at once, many times. Every attempt either
// lands whole or is a conflict naming an order that moved; no line is
// lost or doubled, no deadlock, and the model of where each line is
// matches the database.
func TestOppositeTransfersRace(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	a, aLines := tableWith(t, s, "T1", "steak", "beer", "fries")
	b, bLines := tableWith(t, s, "T2", "burger", "beer")
	all := append(append([]uuid.UUID{}, aLines...), bLines...)
	total := a.Totals.TotalCents + b.Totals.TotalCents
	var landed, refused int
	for iter := 0; iter < 60; iter++ {
		curA, err := s.Get(ctx, "demo", a.ID)
		require.NoError(t, err)
		curB, err := s.Get(ctx, "demo", b.ID)
		require.NoError(t, err)
		type result struct {
			err    error
			moved  uuid.UUID
			toward uuid.UUID
		}
		results := make([]result, 2)
		var wg sync.WaitGroup
		for w, pair := range [][2]order.Order{{curA, curB}, {curB, curA}} {
			src, dst := pair[0], pair[1]
			if len(src.Lines) == 0 {
				continue
			}
			line := src.Lines[iter%len(src.Lines)].ID
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := s.Transfer(ctx, "demo", store.Transfer{From: src.ID, Expected: src.Version,
					To: store.OrderRef{OrderID: &dst.ID, Expected: dst.Version}, Lines: []order.LineMove{{LineID: line}}, ToCheck: 1},
					[]order.Actor{alice, bob}[w])
				results[w] = result{err: err, moved: line, toward: dst.ID}
			}()
		}
		wg.Wait()
		for _, r := range results {
			var ce *order.ConflictsError
			switch {
			case r.err == nil && r.moved != uuid.Nil:
				landed++
			case errors.As(r.err, &ce):
				refused++
				require.NotEmpty(t, ce.Conflicts)
				for _, c := range ce.Conflicts {
					require.Contains(t, []uuid.UUID{a.ID, b.ID}, c.Current.ID)
					require.NotEqual(t, c.Expected, c.Current.Version, "a conflict names an order that moved")
				}
			default:
				require.NoError(t, r.err)
			}
		}
		gotA, err := s.Get(ctx, "demo", a.ID)
		require.NoError(t, err)
		gotB, err := s.Get(ctx, "demo", b.ID)
		require.NoError(t, err)
		var ids []uuid.UUID
		for _, l := range append(append([]order.Line{}, gotA.Lines...), gotB.Lines...) {
			ids = append(ids, l.ID)
		}
		require.ElementsMatch(t, all, ids, "iteration %d: every line on exactly one order", iter)
		require.Equal(t, total, gotA.Totals.TotalCents+gotB.Totals.TotalCents)
		require.Equal(t, int64(len(all)), db.Count(t, "SELECT count(*) FROM order_lines WHERE order_id IN ($1, $2)", a.ID, b.ID))
	}
	t.Logf("%d transfers landed, %d refused as conflicts", landed, refused)
	require.Positive(t, refused, "the race was never lost: the test proves nothing")
	require.Equal(t, 60, landed, "both writes touch both orders at the versions read: exactly one lands per round")
	for _, o := range []order.Order{a, b} {
		got, err := s.Get(ctx, "demo", o.ID)
		require.NoError(t, err)
		requireStoredIsFolded(t, s, got)
	}
}

// TestMergeRacingAnAdd: a merge of T1 into T2 and an add on T1 at the same
// version race; exactly one lands, and the add never lands on a closed,
// merged order.
func TestMergeRacingAnAdd(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	var merges, adds int
	for iter := 0; iter < 30; iter++ {
		a, _ := tableWith(t, s, "T1", "steak")
		b, _ := tableWith(t, s, "T2", "fries")
		var wg sync.WaitGroup
		var mergeErr, addErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, mergeErr = s.Merge(ctx, "demo", store.Merge{Into: b.ID, Expected: b.Version,
				From: store.OrderRef{OrderID: &a.ID, Expected: a.Version}}, alice)
		}()
		go func() {
			defer wg.Done()
			if iter%2 == 1 {
				// Give the merge, which reads more, a head start on
				// every other round, so that both sides win some.
				time.Sleep(time.Duration(iter%5) * time.Millisecond)
			}
			_, _, addErr = s.Patch(ctx, "demo", a.ID, store.Patch{Expected: &a.Version,
				Ops: []order.Op{{Op: order.OpAddItem, SKU: "beer"}}}, bob)
		}()
		wg.Wait()
		var ce *order.ConflictsError
		var c *order.ConflictError
		switch {
		case mergeErr == nil:
			merges++
			require.ErrorAs(t, addErr, &c, "the add lost: a conflict, never a line on a merged order")
			require.Equal(t, order.StatusClosed, c.Current.Status)
		case addErr == nil:
			adds++
			require.ErrorAs(t, mergeErr, &ce)
			require.Equal(t, a.ID, ce.Conflicts[0].Current.ID)
		default:
			t.Fatalf("both failed: %v; %v", mergeErr, addErr)
		}
		gotA, err := s.Get(ctx, "demo", a.ID)
		require.NoError(t, err)
		gotB, err := s.Get(ctx, "demo", b.ID)
		require.NoError(t, err)
		requireStoredIsFolded(t, s, gotA)
		requireStoredIsFolded(t, s, gotB)
		if mergeErr == nil {
			require.Empty(t, gotA.Lines)
			require.Len(t, gotB.Lines, 2)
		} else {
			require.Len(t, gotA.Lines, 2)
		}
		// Clear both tables for the next round.
		for _, o := range []order.Order{gotA, gotB} {
			if o.Status == order.StatusOpen {
				ops := []order.Op{{Op: order.OpSend}, {Op: order.OpAddPayment, Tender: "cash", AmountCents: &o.Totals.DueCents}, {Op: order.OpClose}}
				_, _, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: ops}, alice)
				require.NoError(t, err)
			}
		}
	}
	t.Logf("%d merges and %d adds won", merges, adds)
	require.Positive(t, merges)
	require.Positive(t, adds)
}
