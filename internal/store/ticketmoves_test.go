package store_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// bruno is the demo venue's second waiter, as its devices name him (the
// verifier holds each event's actor against them).
var bruno = order.Actor{Device: "waiter-2", Staff: "Bruno", Role: order.RoleWaiter}

// Sent lines that move to another table keep their kitchen tickets, and
// the kitchen sees the new table on them (DESIGN.md section 11).

// sentTable opens an order on table with one line per sku (qty 2 each),
// sends them, and returns it with the lines' ids.
func sentTable(t *testing.T, s *store.Store, table string, skus ...string) (order.Order, []uuid.UUID) {
	t.Helper()
	o, ids := tableWith(t, s, table, skus...)
	o, _, err := s.Patch(context.Background(), "demo", o.ID, store.Patch{Expected: &o.Version, Ops: []order.Op{{Op: order.OpSend}}}, alice)
	require.NoError(t, err)
	return o, ids
}

// where is each open ticket of station's pieces as "qty@table", by line
// name, with the number of tickets.
func where(t *testing.T, s *store.Store, station string) (map[string][]string, int) {
	t.Helper()
	tickets, err := s.OpenTickets(context.Background(), "demo", station)
	require.NoError(t, err)
	out := map[string][]string{}
	for _, tk := range tickets {
		pieces, err := tk.Pieces()
		require.NoError(t, err)
		for _, p := range pieces {
			name := tk.Lines[p.Index].Name
			out[name] = append(out[name], fmt.Sprintf("%d@%s", p.Qty, p.Table))
		}
	}
	return out, len(tickets)
}

func requireVerified(t *testing.T, s *store.Store, key ed25519.PrivateKey) {
	t.Helper()
	res, err := s.Verify(context.Background(), "demo", audit.VerifyOptions{PublicKey: key.Public().(ed25519.PublicKey)})
	require.NoError(t, err)
	require.True(t, res.OK, "%+v", res.Broken)
}

func TestSentLinesTicketsFollowThem(t *testing.T) {
	t.Parallel()
	db, s, key := signedStore(t)
	ctx := context.Background()
	a, aLines := sentTable(t, s, "T11", "steak", "beer")
	b, _ := tableWith(t, s, "T12", "fries") // not sent: no ticket
	grillBefore, _ := where(t, s, "grill")

	// A check split of the sent beers (1 to check 2, a new line the
	// ticket never saw), then that beer and one of the two steaks to T12.
	split := uuid.New()
	a, _, err := s.Patch(ctx, "demo", a.ID, store.Patch{Expected: &a.Version, Ops: []order.Op{
		{Op: order.OpMoveToCheck, LineID: &aLines[1], Qty: one(1), Check: one(2), NewLineID: &split}}}, alice)
	require.NoError(t, err)
	part := uuid.New()
	a, b, err = s.Transfer(ctx, "demo", store.Transfer{From: a.ID, Expected: a.Version,
		To:    store.OrderRef{OrderID: &b.ID, Expected: b.Version},
		Lines: []order.LineMove{{LineID: aLines[0], Qty: one(1), NewLineID: &part}, {LineID: split}}}, bruno)
	require.NoError(t, err)

	grill, n := where(t, s, "grill")
	require.Equal(t, 1, n, "the steak ticket is not fired again")
	require.Equal(t, []string{"1@T11", "1@T12"}, grill["Steak frites"], "before: %v", grillBefore)
	bar, n := where(t, s, "bar")
	require.Equal(t, 1, n)
	require.Equal(t, []string{"1@T11", "1@T12"}, bar["Draft beer"])

	// T12 merges into T13 (whose order has nothing sent): T12's sent parts
	// follow, the fries (never sent) make no move.
	c, _ := tableWith(t, s, "T13", "burger")
	_, c, err = s.Merge(ctx, "demo", store.Merge{Into: c.ID, Expected: c.Version,
		From: store.OrderRef{OrderID: &b.ID, Expected: b.Version}}, alice)
	require.NoError(t, err)
	grill, _ = where(t, s, "grill")
	require.Equal(t, []string{"1@T11", "1@T13"}, grill["Steak frites"])
	bar, _ = where(t, s, "bar")
	require.Equal(t, []string{"1@T11", "1@T13"}, bar["Draft beer"])

	// And back, whole: the piece on T11 grows to 2 again.
	_, _, err = s.Transfer(ctx, "demo", store.Transfer{From: c.ID, Expected: c.Version,
		To: store.OrderRef{OrderID: &a.ID, Expected: a.Version}, Lines: []order.LineMove{{LineID: part}}}, bruno)
	require.NoError(t, err)
	grill, _ = where(t, s, "grill")
	require.Equal(t, []string{"1@T11", "1@T11"}, grill["Steak frites"], "the part keeps its own line id")

	// Each append is a signed 'moved' row of the ticket's log and one
	// ticket.moved message, under the ticket's own order.
	require.EqualValues(t, 5, db.Count(t, `SELECT count(*) FROM kitchen_ticket_events WHERE action = 'moved'`))
	require.EqualValues(t, 5, db.Count(t, `SELECT count(*) FROM outbox o
		JOIN kitchen_ticket_events e ON e.id::text = o.msg_id AND e.action = 'moved'
		JOIN kitchen_tickets k ON k.id = e.ticket_id AND k.order_id = o.order_id
		WHERE o.msg_type = 'ticket.moved'`))
	requireVerified(t, s, key)
}

// bigSentTable opens an order on table with one steak line of qty and
// sends it.
func bigSentTable(t *testing.T, s *store.Store, table string, qty int) order.Order {
	t.Helper()
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", table, 2, alice, nil)
	require.NoError(t, err)
	o, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: []order.Op{
		{Op: order.OpAddItem, SKU: "steak", Qty: one(qty)}, {Op: order.OpSend}}}, alice)
	require.NoError(t, err)
	return o
}

// oneOfLargest moves one of o's largest line to the order to.
func oneOfLargest(o, to order.Order) store.Transfer {
	l := o.Lines[0]
	for _, x := range o.Lines {
		if x.Qty > l.Qty {
			l = x
		}
	}
	id := uuid.New()
	return store.Transfer{From: o.ID, Expected: o.Version, To: store.OrderRef{OrderID: &to.ID, Expected: to.Version},
		Lines: []order.LineMove{{LineID: l.ID, Qty: one(1), NewLineID: &id}}}
}

// TestTicketsFollowRacingTransfers: two waiters move sent steaks between
// the same two tables in opposite directions at once, many times. Exactly
// one of each pair lands, the other is a conflict; after every round each
// line's part of the tickets is on the table whose order holds the line,
// with its quantity, no ticket is fired again, and the whole log verifies.
func TestTicketsFollowRacingTransfers(t *testing.T) {
	t.Parallel()
	db, s, key := signedStore(t)
	ctx := context.Background()
	a := bigSentTable(t, s, "T21", 40)
	b := bigSentTable(t, s, "T22", 40)
	const rounds = 40
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, tr := range []store.Transfer{oneOfLargest(a, b), oneOfLargest(b, a)} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = s.Transfer(ctx, "demo", tr, []order.Actor{alice, bruno}[i])
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			var ce *order.ConflictsError
			require.ErrorAs(t, err, &ce, "round %d", round)
		}
		require.Equal(t, 1, ok, "round %d: exactly one of two opposite transfers lands", round)
		var err error
		a, err = s.Get(ctx, "demo", a.ID)
		require.NoError(t, err)
		b, err = s.Get(ctx, "demo", b.ID)
		require.NoError(t, err)
		// The model: each line is where its order says, with its qty.
		want := map[uuid.UUID]string{}
		for _, o := range []order.Order{a, b} {
			for _, l := range o.Lines {
				want[l.ID] = fmt.Sprintf("%d@%s", l.Qty, o.Table)
			}
		}
		tickets, err := s.OpenTickets(ctx, "demo", "grill")
		require.NoError(t, err)
		require.Len(t, tickets, 2, "round %d: no ticket is fired again", round)
		got := map[uuid.UUID]string{}
		for _, tk := range tickets {
			pieces, err := tk.Pieces()
			require.NoError(t, err)
			for _, p := range pieces {
				got[p.LineID] = fmt.Sprintf("%d@%s", p.Qty, p.Table)
			}
		}
		require.Equal(t, want, got, "round %d", round)
	}
	require.EqualValues(t, rounds, db.Count(t, `SELECT count(*) FROM kitchen_ticket_events WHERE action = 'moved'`))
	requireVerified(t, s, key)
}

// TestTicketMovesBound: a ticket records at most kitchen.MaxTicketMoves
// moves. A line sent and moved back and forth that often is refused the
// next move with a problem naming "lines", and nothing is written.
func TestTicketMovesBound(t *testing.T) {
	t.Parallel()
	_, s, key := signedStore(t)
	ctx := context.Background()
	a := bigSentTable(t, s, "T24", 1)
	b, _ := tableWith(t, s, "T25", "fries")
	line := []order.LineMove{{LineID: a.Lines[0].ID}}
	for i := 0; i < kitchen.MaxTicketMoves; i++ {
		var err error
		if i%2 == 0 {
			a, b, err = s.Transfer(ctx, "demo", store.Transfer{From: a.ID, Expected: a.Version,
				To: store.OrderRef{OrderID: &b.ID, Expected: b.Version}, Lines: line}, alice)
		} else {
			b, a, err = s.Transfer(ctx, "demo", store.Transfer{From: b.ID, Expected: b.Version,
				To: store.OrderRef{OrderID: &a.ID, Expected: a.Version}, Lines: line}, alice)
		}
		require.NoError(t, err, "move %d", i)
	}
	// 500 moves: the steak is back on T24.
	require.Len(t, a.Lines, 1)
	_, _, err := s.Transfer(ctx, "demo", store.Transfer{From: a.ID, Expected: a.Version,
		To: store.OrderRef{OrderID: &b.ID, Expected: b.Version}, Lines: line}, alice)
	var ve *order.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, "lines", ve.Problems[0].Field)
	require.Contains(t, ve.Problems[0].Detail, "at most 500")
	still, err := s.Get(ctx, "demo", a.ID)
	require.NoError(t, err)
	require.Equal(t, a.Version, still.Version, "nothing written")
	tickets, err := s.OpenTickets(ctx, "demo", "grill")
	require.NoError(t, err)
	require.Len(t, tickets, 1)
	require.Len(t, tickets[0].Moves, kitchen.MaxTicketMoves)
	requireVerified(t, s, key)
}
