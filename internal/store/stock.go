package store

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// msgItemUnavailable is what AssertAvailable raises (P0001).
const msgItemUnavailable = "item-unavailable"

// msgMenuStale is what AssertOrderHead raises (P0001) when the menu moved
// on after the change was planned on the cached menu.
const msgMenuStale = "menu-stale"

// msgDeviceChanged is what AssertOrderHead raises when the device of a
// write authenticated from a cache is no longer its actor.
const msgDeviceChanged = "device-changed"

// errMenuStale is a write refused by AssertOrderHead's menu check: nothing
// was kept, and the change is planned again on a fresh menu.
var errMenuStale = errors.New("menu moved on since the change was planned")

// stockPlan is what a change's write asks the database about the menu. The
// cached menu it was planned on says which SKUs can be refused or counted;
// the write asserts that menu's version (AssertOrderHead), so the database
// decides on the menu as it is at commit, and a change needs no statement
// for plain items: an item becomes 86'd or counted only by a menu change,
// which moves the version.
type stockPlan struct {
	// menuVersion is the version of the menu the change was planned on, 0
	// when the change does not depend on the menu.
	menuVersion int64
	// assert are the SKUs the change sells more of (adds, or raises a
	// line of) that the menu has 86'd (possibly only until a time that has
	// passed by commit): the database checks them at commit.
	assert []string
	// portions are the changes of the portions the change's lines hold:
	// taken from items the menu counts, given back by lines that took them.
	portions []order.PortionChange
}

// planStock decides the stock statements of a change from the menu it was
// planned on.
func planStock(menu map[string]order.MenuItem, version int64, cur, next order.Order, applied []order.Op) stockPlan {
	sp := stockPlan{menuVersion: version}
	for _, sku := range soldMore(cur, next, applied) {
		if it, ok := menu[sku]; !ok || !it.Available {
			sp.assert = append(sp.assert, sku)
		}
	}
	// Portions change only for lines that hold some, which took them from
	// a count; the database gives them back only to an item still counted.
	sp.portions = order.Portions(cur, next)
	return sp
}

// soldMore are the SKUs the change sells more of: those it adds, and those
// whose live quantity grows (a set_qty raising a line).
func soldMore(cur, next order.Order, applied []order.Op) []string {
	more := order.AddedSKUs(applied)
	for _, sku := range order.SoldMore(cur, next) {
		if !slices.Contains(more, sku) {
			more = append(more, sku)
		}
	}
	return more
}

// queueStock queues, inside a change's write, the database's own checks of
// what it takes from the menu: that no SKU it adds is 86'd, and the taking
// (or giving back) of counted portions. Both are decided at commit time in
// the order's transaction, so concurrent adds never oversell and an
// availability change is seen by the next write on every replica.
func (s *Store) queueStock(ctx context.Context, b *batch, venue string, at time.Time, sp stockPlan) error {
	if len(sp.assert) > 0 {
		p := dbsqlc.AssertAvailableParams{VenueID: venue, Skus: sp.assert, At: at}
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.AssertAvailable(ctx, db, p) }); err != nil {
			return err
		}
	}
	if len(sp.portions) == 0 {
		return nil
	}
	p := dbsqlc.TakePortionsParams{VenueID: venue}
	for _, c := range sp.portions {
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
	for _, c := range order.Portions(cur, next) {
		if c.Delta > 0 {
			want[c.SKU] = c.Delta
		}
	}
	skus := soldMore(cur, next, applied)
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
