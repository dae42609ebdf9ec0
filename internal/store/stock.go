package store

import (
	"context"
	"errors"
	"slices"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// msgItemUnavailable and msgMenuStale are what AssertAvailable raises
// (P0001): an 86'd item, a menu that moved since the write was planned.
const (
	msgItemUnavailable = "item-unavailable"
	msgMenuStale       = "menu-stale"
)

// menuStale reports whether a write failed because the menu it was
// planned with is no longer the venue's (AssertAvailable).
func menuStale(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "P0001" && pgErr.Message == msgMenuStale
}

// queueStock queues, inside a change's write, the database's own checks of
// what it takes from the menu: that the menu is still at menuVersion, the
// version the change was planned with (prices, options, availability), that
// no SKU it adds is 86'd, and the taking (or giving back) of counted
// portions. All are decided in the order's transaction, so concurrent adds
// never oversell and a menu change is seen by the next write on every
// replica, whatever its menu cache holds.
func (s *Store) queueStock(ctx context.Context, b *batch, cur, next order.Order, ev order.Event, menuVersion int64) error {
	if skus := order.AddedSKUs(ev.Ops); len(skus) > 0 {
		p := dbsqlc.AssertAvailableParams{VenueID: next.Venue, MenuVersion: menuVersion, Skus: skus, At: ev.At}
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.AssertAvailable(ctx, db, p) }); err != nil {
			return err
		}
	}
	changes := order.Portions(cur, next)
	if len(changes) == 0 {
		return nil
	}
	p := dbsqlc.TakePortionsParams{VenueID: next.Venue}
	for _, c := range changes {
		p.Skus = append(p.Skus, c.SKU)
		p.Deltas = append(p.Deltas, int32(c.Delta))
	}
	return queueExec(b, func(db dbsqlc.DBTX) error { return s.q.TakePortions(ctx, db, p) })
}

// explainStock completes an *order.UnavailableError or *order.SoldOutError
// that translate made from a refused write (which knows no SKU) from a
// fresh read of the items the change added or took: which SKU, the op of
// the request that asked for it, until when it is 86'd, how many portions
// are left. Any other error comes back as it is.
func (s *Store) explainStock(ctx context.Context, err error, cur, next order.Order, ops []order.Op, applied []order.Op) error {
	var un *order.UnavailableError
	var sold *order.SoldOutError
	if !errors.As(err, &un) && !errors.As(err, &sold) {
		return err
	}
	want := map[string]int{}
	skus := order.AddedSKUs(applied)
	for _, c := range order.Portions(cur, next) {
		if c.Delta > 0 {
			want[c.SKU] = c.Delta
			if !slices.Contains(skus, c.SKU) {
				skus = append(skus, c.SKU)
			}
		}
	}
	rows, rerr := readOne(ctx, s, next.Venue, func(db dbsqlc.DBTX) ([]dbsqlc.ListStockRow, error) {
		return s.q.ListStock(ctx, db, dbsqlc.ListStockParams{VenueID: next.Venue, Skus: skus})
	})
	if rerr != nil {
		return err
	}
	for _, r := range rows {
		switch {
		case un != nil && !r.Available && (r.UnavailableUntil == nil || r.UnavailableUntil.After(next.UpdatedAt)):
			un.SKU, un.Until, un.OpIndex = r.Sku, r.UnavailableUntil, opFor(ops, cur, r.Sku)
			return un
		case sold != nil && r.Remaining != nil && int(*r.Remaining) < want[r.Sku]:
			sold.SKU, sold.Remaining, sold.Wanted, sold.OpIndex = r.Sku, int(*r.Remaining), want[r.Sku], opFor(ops, cur, r.Sku)
			return sold
		}
	}
	return err
}

// opFor is the index of the first request op that asks for sku (an
// add_item of it, or a set_qty of one of its lines), or -1.
func opFor(ops []order.Op, cur order.Order, sku string) int {
	for i, op := range ops {
		switch {
		case op.Op == order.OpAddItem && op.SKU == sku:
			return i
		case op.Op == order.OpSetQty && op.LineID != nil:
			for _, l := range cur.Lines {
				if l.ID == *op.LineID && l.SKU == sku {
					return i
				}
			}
		}
	}
	return -1
}
