package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/orderrow"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// Table is a dining table and the order open on it, if any.
type Table struct {
	ID          string     `json:"id"`
	Label       string     `json:"label"`
	Seats       int        `json:"seats"`
	OpenOrderID *uuid.UUID `json:"open_order_id"`
}

// Tables lists the venue's tables with the id of the order open on each.
func (s *Store) Tables(ctx context.Context, venue string) ([]Table, error) {
	rows, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) ([]dbsqlc.ListTablesWithOpenOrderRow, error) {
		return s.q.ListTablesWithOpenOrder(ctx, db, venue)
	})
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables := make([]Table, len(rows))
	for i, r := range rows {
		tables[i] = Table{ID: r.ID, Label: r.Label, Seats: int(r.Seats), OpenOrderID: r.OpenOrderID}
	}
	return tables, nil
}

// Get reads one order with its lines and payments from a single snapshot.
func (s *Store) Get(ctx context.Context, venue string, id uuid.UUID) (order.Order, error) {
	row, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (dbsqlc.OrdersFull, error) {
		return s.q.GetOrderFull(ctx, db, dbsqlc.GetOrderFullParams{VenueID: venue, ID: id})
	})
	if err != nil {
		return order.Order{}, translate(err, errContext{})
	}
	o, err := orderrow.FromRow(orderrow.Row(row))
	if err == nil {
		s.orders.remember(o)
	}
	return o, err
}

// ListFilter narrows List; empty fields do not filter.
type ListFilter struct {
	Status string
	Table  string
	Limit  int
	// After, when set, asks for the orders listed after that one (older).
	After *uuid.UUID
}

// List returns the venue's orders, newest first.
func (s *Store) List(ctx context.Context, venue string, f ListFilter) ([]order.Order, error) {
	p := dbsqlc.ListOrdersFullParams{VenueID: venue, RowLimit: int32(f.Limit), AfterID: f.After}
	if f.Status != "" {
		p.Status = &f.Status
	}
	if f.Table != "" {
		p.TableID = &f.Table
	}
	rows, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) ([]dbsqlc.OrdersFull, error) {
		return s.q.ListOrdersFull(ctx, db, p)
	})
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	orders := make([]order.Order, 0, len(rows))
	for _, r := range rows {
		o, err := orderrow.FromRow(orderrow.Row(r))
		if err != nil {
			return nil, err
		}
		orders = append(orders, o)
	}
	return orders, nil
}

// Events returns the order's events with a version above after, oldest
// first, at most limit of them. A missing order is order.ErrNotFound, not an empty list.
func (s *Store) Events(ctx context.Context, venue string, id uuid.UUID, after, limit int64) ([]order.Event, error) {
	evs, err := s.events(ctx, venue, id, after, after+limit)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		// Either the order does not exist or nothing happened after "after".
		if _, err := s.Get(ctx, venue, id); err != nil {
			return nil, err
		}
	}
	return evs, nil
}

// At rebuilds the order as it was at version by folding its log. A version
// the order never had is a *order.ValidationError on at_version.
func (s *Store) At(ctx context.Context, venue string, id uuid.UUID, version int64) (order.Order, error) {
	evs, err := s.events(ctx, venue, id, 0, version)
	if err != nil {
		return order.Order{}, err
	}
	if len(evs) == 0 {
		if _, err := s.Get(ctx, venue, id); err != nil {
			return order.Order{}, err
		}
	}
	if int64(len(evs)) < version || version < 1 {
		return order.Order{}, &order.ValidationError{Problems: []order.FieldProblem{{
			Field: "at_version", Detail: fmt.Sprintf("the order has versions 1 to %d", len(evs)),
		}}}
	}
	return order.Fold(evs)
}

// env loads what planning and writing the ops needs: the venue's menu (from
// the cache) when an op adds a line or changes its quantity, which is when
// the write may assert availability or take portions, the existence
// of tables moved to, the venue's tenders for a payment, and the actor. It
// returns the menu version the menu was read at (0: not read), which the
// write asserts. Nothing is read for ops that need nothing.
func (s *Store) env(ctx context.Context, venue string, ops []order.Op, actor order.Actor) (order.Env, int64, error) {
	env := order.Env{Menu: map[string]order.MenuItem{}, Tables: map[string]bool{}, NewID: s.newID, Actor: actor}
	needMenu := false
	for _, op := range ops {
		switch op.Op {
		case order.OpAddPayment:
			if env.Tenders != nil {
				continue
			}
			vp, err := s.venuePricing(ctx, venue)
			if err != nil {
				return env, 0, err
			}
			env.Tenders = vp.Tenders
		case order.OpAddItem, order.OpSetQty:
			needMenu = true
		case order.OpMoveTable:
			ok, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (bool, error) {
				return s.q.TableExists(ctx, db, dbsqlc.TableExistsParams{VenueID: venue, TableID: op.Table})
			})
			if err != nil {
				return env, 0, fmt.Errorf("check table: %w", err)
			}
			env.Tables[op.Table] = ok
		}
	}
	if !needMenu {
		return env, 0, nil
	}
	menu, groups, version, err := s.menu(ctx, venue)
	if err != nil {
		return env, 0, err
	}
	env.Menu, env.Groups = menu, groups
	return env, version, nil
}

// events reads the order's events with a version in (after, until].
func (s *Store) events(ctx context.Context, venue string, id uuid.UUID, after, until int64) ([]order.Event, error) {
	rows, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) ([]dbsqlc.ListEventsRow, error) {
		return s.q.ListEvents(ctx, db, dbsqlc.ListEventsParams{
			VenueID: venue, OrderID: id, AfterVersion: after, UntilVersion: until,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	evs := make([]order.Event, len(rows))
	for i, r := range rows {
		evs[i] = order.Event{
			ID: r.ID, Venue: r.VenueID, OrderID: r.OrderID, Version: r.Version, Type: r.Type, At: r.At.UTC(),
			Actor:  order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole},
			Forced: r.Forced, OverriddenVersion: r.OverriddenVersion,
		}
		evs[i].SetHash(r.Hash)
		if err := json.Unmarshal(r.Ops, &evs[i].Ops); err != nil {
			return nil, fmt.Errorf("decode ops of event %s: %w", r.ID, err)
		}
	}
	return evs, nil
}
