package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// queueLines queues the line changes from cur to next: one INSERT of the new
// lines, one UPDATE of the changed ones, one DELETE of the removed ones,
// each only when there is something to do.
func (s *Store) queueLines(ctx context.Context, b *batch, cur, next order.Order) error {
	old := make(map[uuid.UUID]order.Line, len(cur.Lines))
	for _, l := range cur.Lines {
		old[l.ID] = l
	}
	var ins dbsqlc.InsertLinesParams
	var upd dbsqlc.UpdateLinesParams
	for _, l := range next.Lines {
		prev, ok := old[l.ID]
		delete(old, l.ID)
		switch {
		case !ok:
			mods, err := json.Marshal(l.Modifiers)
			if err != nil {
				return fmt.Errorf("encode modifiers: %w", err)
			}
			opts, err := json.Marshal(l.Options)
			if err != nil {
				return fmt.Errorf("encode options: %w", err)
			}
			if l.Options == nil {
				opts = []byte("[]")
			}
			ins.Options = append(ins.Options, opts)
			ins.TaxClasses = append(ins.TaxClasses, l.TaxClass)
			ins.Ids = append(ins.Ids, l.ID)
			ins.Positions = append(ins.Positions, int32(l.Position))
			ins.Skus = append(ins.Skus, l.SKU)
			ins.Names = append(ins.Names, l.Name)
			ins.Qtys = append(ins.Qtys, int32(l.Qty))
			ins.UnitPrices = append(ins.UnitPrices, l.UnitPriceCents)
			ins.Seats = append(ins.Seats, int32(l.Seat))
			ins.Courses = append(ins.Courses, int32(l.Course))
			ins.Modifiers = append(ins.Modifiers, mods)
			ins.Notes = append(ins.Notes, l.Note)
			ins.Stations = append(ins.Stations, l.Station)
			ins.Statuses = append(ins.Statuses, l.Status)
			ins.Compeds = append(ins.Compeds, l.Comped)
			ins.Portions = append(ins.Portions, int32(l.Portions))
			ins.Checks = append(ins.Checks, int32(l.Check))
			ins.SharedBys = append(ins.SharedBys, sharedByLiteral(l.SharedBy))
		case prev.Qty != l.Qty || prev.Status != l.Status || prev.Comped != l.Comped || prev.Portions != l.Portions ||
			prev.Check != l.Check || !slices.Equal(prev.SharedBy, l.SharedBy):
			upd.Ids = append(upd.Ids, l.ID)
			upd.Qtys = append(upd.Qtys, int32(l.Qty))
			upd.Statuses = append(upd.Statuses, l.Status)
			upd.Compeds = append(upd.Compeds, l.Comped)
			upd.Portions = append(upd.Portions, int32(l.Portions))
			upd.Checks = append(upd.Checks, int32(l.Check))
			upd.SharedBys = append(upd.SharedBys, sharedByLiteral(l.SharedBy))
		}
	}
	if len(ins.Ids) > 0 {
		ins.VenueID, ins.OrderID = next.Venue, next.ID
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertLines(ctx, db, ins) }); err != nil {
			return err
		}
	}
	if len(upd.Ids) > 0 {
		upd.VenueID, upd.OrderID = next.Venue, next.ID
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.UpdateLines(ctx, db, upd) }); err != nil {
			return err
		}
	}
	if len(old) > 0 {
		ids := make([]uuid.UUID, 0, len(old))
		for id := range old {
			ids = append(ids, id)
		}
		del := dbsqlc.DeleteLinesParams{VenueID: next.Venue, OrderID: next.ID, Ids: ids}
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.DeleteLines(ctx, db, del) }); err != nil {
			return err
		}
	}
	return nil
}

// sharedByLiteral renders a shared line's checks as a Postgres int[]
// literal for InsertLines and UpdateLines ("": not shared, NULL).
func sharedByLiteral(checks []int) string {
	if checks == nil {
		return ""
	}
	parts := make([]string, len(checks))
	for i, c := range checks {
		parts[i] = strconv.Itoa(c)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// queuePayments queues the payments next has beyond cur's (payments are
// only ever appended), and the checks of those merge_checks moved.
func (s *Store) queuePayments(ctx context.Context, b *batch, cur, next order.Order) error {
	var moved dbsqlc.UpdatePaymentChecksParams
	for i := range cur.Payments {
		if c := next.Payments[i].Check; c != cur.Payments[i].Check {
			moved.Positions = append(moved.Positions, int32(i))
			moved.Checks = append(moved.Checks, int32(c))
		}
	}
	if len(moved.Positions) > 0 {
		moved.VenueID, moved.OrderID = next.Venue, next.ID
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.UpdatePaymentChecks(ctx, db, moved) }); err != nil {
			return err
		}
	}
	if len(next.Payments) == len(cur.Payments) {
		return nil
	}
	p := dbsqlc.InsertPaymentsParams{VenueID: next.Venue, OrderID: next.ID}
	for i := len(cur.Payments); i < len(next.Payments); i++ {
		pay := next.Payments[i]
		if pay.ID == nil {
			return fmt.Errorf("payment %d of order %s has no id", i, next.ID)
		}
		refundOf := int32(-1)
		if pay.RefundOf != nil {
			refundOf = int32(*pay.RefundOf)
		}
		p.Positions = append(p.Positions, int32(i))
		p.Ids = append(p.Ids, *pay.ID)
		p.Tenders = append(p.Tenders, pay.Tender)
		p.Amounts = append(p.Amounts, pay.AmountCents)
		p.Tips = append(p.Tips, pay.TipCents)
		p.RefundOfs = append(p.RefundOfs, refundOf)
		p.Reasons = append(p.Reasons, pay.Reason)
		p.Checks = append(p.Checks, int32(pay.Check))
	}
	return queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertPayments(ctx, db, p) })
}

// encodeDiscounts renders the order's discounts (without their computed
// amounts) and its service charge waiver (nil: none) for the order row.
func encodeDiscounts(o order.Order) (discounts, waiver []byte, err error) {
	ds := make([]order.Discount, len(o.Discounts))
	for i, d := range o.Discounts {
		ds[i] = d.Discount
	}
	if discounts, err = json.Marshal(ds); err != nil {
		return nil, nil, fmt.Errorf("encode discounts: %w", err)
	}
	if o.ServiceChargeWaiver != nil {
		if waiver, err = json.Marshal(o.ServiceChargeWaiver); err != nil {
			return nil, nil, fmt.Errorf("encode service charge waiver: %w", err)
		}
	}
	return discounts, waiver, nil
}
