package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// TestReads: the venue's menu, tables, orders, an order's log and its state
// at a version, each from its own venue only.
func TestReads(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()

	menu, err := s.Catalog(ctx, "demo")
	require.NoError(t, err)
	require.EqualValues(t, db.Count(t, "SELECT count(*) FROM menu_items WHERE venue_id = 'demo'"), len(menu.Catalog.Items))
	tables, err := s.Tables(ctx, "demo2")
	require.NoError(t, err)
	require.Len(t, tables, 5)
	for _, tb := range tables {
		require.Nil(t, tb.OpenOrderID)
	}

	a, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	b, err := s.Open(ctx, "demo", "T2", 3, alice, nil)
	require.NoError(t, err)
	_, err = s.Open(ctx, "demo2", "T1", 1, alice, nil)
	require.NoError(t, err)
	_, _, err = s.Patch(ctx, "demo", a.ID, store.Patch{Expected: &a.Version, Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak", Qty: one(2)}}}, alice)
	require.NoError(t, err)

	tables, err = s.Tables(ctx, "demo")
	require.NoError(t, err)
	open := map[string]uuid.UUID{}
	for _, tb := range tables {
		if tb.OpenOrderID != nil {
			open[tb.ID] = *tb.OpenOrderID
		}
	}
	require.Equal(t, map[string]uuid.UUID{"T1": a.ID, "T2": b.ID}, open)

	all, err := s.List(ctx, "demo", store.ListFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, b.ID, all[0].ID, "newest first")
	page, err := s.List(ctx, "demo", store.ListFilter{Limit: 10, After: &all[0].ID})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, a.ID, page[0].ID)
	onT1, err := s.List(ctx, "demo", store.ListFilter{Limit: 10, Table: "T1", Status: order.StatusOpen})
	require.NoError(t, err)
	require.Len(t, onT1, 1)
	require.Len(t, onT1[0].Lines, 1)
	require.EqualValues(t, 4800, onT1[0].Lines[0].UnitPriceCents*int64(onT1[0].Lines[0].Qty))
	none, err := s.List(ctx, "demo", store.ListFilter{Limit: 10, Status: order.StatusClosed})
	require.NoError(t, err)
	require.Empty(t, none)

	evs, err := s.Events(ctx, "demo", a.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, evs, 2)
	require.Equal(t, order.EventOpened, evs[0].Type)
	evs, err = s.Events(ctx, "demo", a.ID, 2, 10)
	require.NoError(t, err)
	require.Empty(t, evs, "nothing after the last version, and the order exists")

	at1, err := s.At(ctx, "demo", a.ID, 1)
	require.NoError(t, err)
	require.Empty(t, at1.Lines)
	at2, err := s.At(ctx, "demo", a.ID, 2)
	require.NoError(t, err)
	require.Len(t, at2.Lines, 1)
	for _, v := range []int64{0, 3} {
		_, err = s.At(ctx, "demo", a.ID, v)
		var verr *order.ValidationError
		require.True(t, errors.As(err, &verr), "version %d: %v", v, err)
		require.Equal(t, "at_version", verr.Problems[0].Field)
	}

	// Moving to a table that does not exist is refused before writing.
	_, _, err = s.Patch(ctx, "demo", b.ID, store.Patch{Expected: &b.Version, Ops: []order.Op{{Op: order.OpMoveTable, Table: "T404"}}}, alice)
	var verr *order.ValidationError
	require.True(t, errors.As(err, &verr), "got %v", err)
	moved, changed, err := s.Patch(ctx, "demo", b.ID, store.Patch{Expected: &b.Version, Ops: []order.Op{{Op: order.OpMoveTable, Table: "T3"}}}, alice)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, "T3", moved.Table)
}

// TestTickets: sending creates the station's ticket with its kitchen
// message; bump and recall move it with a conditional update, record the
// move and queue its message; a move from the wrong status is refused with
// the ticket as it is, and nothing is recorded for it.
func TestTickets(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	commits := 0
	s.OnCommit(func() { commits++ })

	stations, err := s.Stations(ctx, "demo")
	require.NoError(t, err)
	require.Contains(t, stations, "grill")

	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak"}, {Op: order.OpSend}}}, alice)
	require.NoError(t, err)
	require.Equal(t, 2, commits)
	open, err := s.OpenTickets(ctx, "demo", "grill")
	require.NoError(t, err)
	require.Len(t, open, 1)
	tk := open[0]
	require.Equal(t, kitchen.StatusNew, tk.Status)
	require.Equal(t, o.ID, tk.OrderID)
	require.Len(t, tk.Lines, 1)
	none, err := s.OpenTickets(ctx, "demo2", "grill")
	require.NoError(t, err)
	require.Empty(t, none)

	outbox := db.Count(t, "SELECT count(*) FROM outbox")
	kitchenChecks := db.Count(t, "SELECT count(*) FROM kitchen_ticket_events")
	bumped, err := s.MoveTicket(ctx, "demo", tk.ID, "bump", order.Actor{Device: "kitchen", Staff: "Kitchen", Role: order.RoleKitchen})
	require.NoError(t, err)
	require.Equal(t, kitchen.StatusReady, bumped.Status)
	require.NotNil(t, bumped.BumpedAt)
	require.Equal(t, 3, commits)
	require.Equal(t, outbox+1, db.Count(t, "SELECT count(*) FROM outbox"))
	require.Equal(t, kitchenChecks+1, db.Count(t, "SELECT count(*) FROM kitchen_ticket_events"))
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM outbox WHERE msg_type = $1 AND subject = $2", kitchen.MsgBumped, kitchen.Subject("demo", "grill")))
	open, err = s.OpenTickets(ctx, "demo", "grill")
	require.NoError(t, err)
	require.Empty(t, open)
	ready, err := s.RecentReady(ctx, "demo", "grill")
	require.NoError(t, err)
	require.Len(t, ready, 1)
	require.Equal(t, tk.ID, ready[0].ID)

	_, err = s.MoveTicket(ctx, "demo", tk.ID, "bump", alice)
	var state *kitchen.StateError
	require.True(t, errors.As(err, &state), "got %v", err)
	require.Equal(t, kitchen.StatusReady, state.Current.Status)
	require.Equal(t, outbox+1, db.Count(t, "SELECT count(*) FROM outbox"), "a refused move queues nothing")
	require.Equal(t, 3, commits)

	recalled, err := s.MoveTicket(ctx, "demo", tk.ID, "recall", alice)
	require.NoError(t, err)
	require.Equal(t, kitchen.StatusNew, recalled.Status)
	require.Equal(t, outbox+2, db.Count(t, "SELECT count(*) FROM outbox"))

	_, err = s.MoveTicket(ctx, "demo", uuid.New(), "bump", alice)
	require.ErrorIs(t, err, kitchen.ErrNotFound)
	_, err = s.MoveTicket(ctx, "demo2", tk.ID, "bump", alice)
	require.ErrorIs(t, err, kitchen.ErrNotFound, "another venue's ticket is not found")
	_, err = s.MoveTicket(ctx, "demo", tk.ID, "fire", alice)
	require.Error(t, err)
}
