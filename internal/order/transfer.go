package order

// Changes between two orders (DESIGN.md section 11): moving lines to
// another table's order, and merging one table's order into another's.
// Each is planned here on both orders at once and written by the store in
// one transaction, as one event in each order's log: the source's event
// says where the lines went (transfer_out, merge_into), the destination's
// carries the lines whole as they arrived (transfer_in, merge_from), so
// each log folds on its own.

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Transfer is the plan of a change between two orders: each order's next
// state and the one op its event holds.
type Transfer struct {
	From, To    Order
	OutOp, InOp Op
}

// transferProblem is a refusal of a transfer or merge request, naming the
// request's field ("lines[2].qty", "from.order_id").
func transferProblem(field, detail string) *ValidationError {
	return &ValidationError{Problems: []FieldProblem{{Field: field, Detail: detail}}}
}

// PlanTransfer moves lines of src to dst (arriving on dst's check toCheck,
// 1 to MaxChecks), all or nothing. A line moves whole (its id with it) or,
// with a smaller qty, in part: the part becomes a new line (the move's
// NewLineID, or a new id) and the line keeps the rest. Voided lines and
// lines with a discount stay; a shared line moves whole. dst may be an
// order not yet written (version 0: the transfer opens it). Neither order
// is modified.
func PlanTransfer(src, dst Order, moves []LineMove, toCheck int, at time.Time, env Env) (Transfer, error) {
	if err := bothOpen(src, dst); err != nil {
		return Transfer{}, err
	}
	switch {
	case src.ID == dst.ID:
		return Transfer{}, transferProblem("to.order_id", "the lines are on this order already")
	case len(moves) == 0:
		return Transfer{}, transferProblem("lines", "at least one line is required")
	case len(moves) > MaxLinesPerOrder:
		return Transfer{}, transferProblem("lines", fmt.Sprintf("at most %d lines", MaxLinesPerOrder))
	case toCheck < 1 || toCheck > MaxChecks:
		return Transfer{}, transferProblem("to.check", fmt.Sprintf("must be between 1 and %d", MaxChecks))
	}
	out := Op{Op: OpTransferOut, OrderID: &dst.ID, Table: dst.Table}
	in := Op{Op: OpTransferIn, OrderID: &src.ID, Table: src.Table}
	seen := map[uuid.UUID]bool{}
	next := src.Clone()
	for k, m := range moves {
		field := func(f string) string { return fmt.Sprintf("lines[%d].%s", k, f) }
		idx := next.line(m.LineID)
		switch {
		case seen[m.LineID]:
			return Transfer{}, transferProblem(field("line_id"), "given twice")
		case idx < 0:
			return Transfer{}, transferProblem(field("line_id"), "no such line on this order")
		}
		seen[m.LineID] = true
		l := next.Lines[idx]
		qty := l.Qty
		if m.Qty != nil {
			qty = *m.Qty
		}
		switch {
		case qty < MinQty || qty > l.Qty:
			return Transfer{}, transferProblem(field("qty"), fmt.Sprintf("must be between 1 and the line's %d", l.Qty))
		case l.Status == LineVoided:
			return Transfer{}, transferProblem(field("line_id"), "the line is voided; it stays on its order's log")
		case lineDiscount(&next, l.ID) != "":
			return Transfer{}, transferProblem(field("line_id"), fmt.Sprintf("the line has discount %q; a manager takes it off before the line moves", lineDiscount(&next, l.ID)))
		case qty < l.Qty && len(l.SharedBy) > 0:
			return Transfer{}, transferProblem(field("qty"), "the line is shared; move all of it")
		case dst.Rules != nil && l.TaxClass != "" && !slices.ContainsFunc(dst.Rules.TaxClasses, func(tc TaxClass) bool { return tc.ID == l.TaxClass }):
			return Transfer{}, transferProblem(field("line_id"), fmt.Sprintf("the line is taxed as %q, which the order on %s was not opened with", l.TaxClass, dst.Table))
		}
		mv := LineMove{LineID: l.ID, Qty: &qty}
		arriving := l
		if qty < l.Qty {
			id := m.NewLineID
			if id == nil {
				id = env.newID()
			}
			if id == nil || src.line(*id) >= 0 || dst.line(*id) >= 0 || seen[*id] {
				return Transfer{}, transferProblem(field("new_line_id"), "required, and not the id of a line of either order")
			}
			seen[*id] = true
			mv.NewLineID = id
			arriving = splitLine(&next.Lines[idx], qty, *id)
		} else if dst.line(l.ID) >= 0 {
			return Transfer{}, transferProblem(field("line_id"), "the other order has a line with this id")
		}
		arriving.Check, arriving.SharedBy = toCheck, nil
		out.Moves = append(out.Moves, mv)
		in.Items = append(in.Items, arriving)
	}
	if n := len(dst.Lines) + len(in.Items); n > MaxLinesPerOrder {
		return Transfer{}, transferProblem("lines", fmt.Sprintf("the order on %s would hold %d lines; at most %d", dst.Table, n, MaxLinesPerOrder))
	}
	t := Transfer{OutOp: out, InOp: in}
	var err error
	if t.From, err = step(src, out, at, env, true); err != nil {
		return Transfer{}, err
	}
	if t.To, err = step(dst, in, at, env, false); err != nil {
		return Transfer{}, err
	}
	return t, nil
}

// PlanMerge merges src into dst: every line of src moves to dst (check 1),
// src's guests join dst's, and src closes with MergedInto naming dst,
// freeing its table. An order that has taken payments or holds discounts
// or a waiver is settled on its own, not merged.
func PlanMerge(src, dst Order, at time.Time, env Env) (Transfer, error) {
	if err := bothOpen(src, dst); err != nil {
		return Transfer{}, err
	}
	switch {
	case src.ID == dst.ID:
		return Transfer{}, transferProblem("from.order_id", "an order cannot merge into itself")
	case len(src.Payments) > 0:
		return Transfer{}, transferProblem("from.order_id", fmt.Sprintf("the order on %s has taken payments; settle it on its own, or merge before paying", src.Table))
	case len(src.Discounts) > 0 || src.ServiceChargeWaiver != nil:
		return Transfer{}, transferProblem("from.order_id", fmt.Sprintf("the order on %s has discounts or a waived service charge; a manager takes them off before it merges", src.Table))
	case len(dst.Lines)+len(src.Lines) > MaxLinesPerOrder:
		return Transfer{}, transferProblem("from.order_id", fmt.Sprintf("the merged order would hold %d lines; at most %d", len(dst.Lines)+len(src.Lines), MaxLinesPerOrder))
	}
	guests := min(src.Guests, MaxGuests-dst.Guests)
	out := Op{Op: OpMergeInto, OrderID: &dst.ID, Table: dst.Table, Lines: []uuid.UUID{}}
	in := Op{Op: OpMergeFrom, OrderID: &src.ID, Table: src.Table, Guests: &guests, Items: []Line{}}
	for _, l := range src.Lines {
		if dst.line(l.ID) >= 0 {
			return Transfer{}, transferProblem("from.order_id", "the orders share a line id")
		}
		if dst.Rules != nil && l.TaxClass != "" && !slices.ContainsFunc(dst.Rules.TaxClasses, func(tc TaxClass) bool { return tc.ID == l.TaxClass }) {
			return Transfer{}, transferProblem("from.order_id", fmt.Sprintf("a line is taxed as %q, which the order on %s was not opened with", l.TaxClass, dst.Table))
		}
		out.Lines = append(out.Lines, l.ID)
		a := l
		a.Check, a.SharedBy = 1, nil
		a.Modifiers, a.Options = slices.Clone(l.Modifiers), slices.Clone(l.Options)
		in.Items = append(in.Items, a)
	}
	t := Transfer{OutOp: out, InOp: in}
	var err error
	if t.From, err = step(src, out, at, env, false); err != nil {
		return Transfer{}, err
	}
	if t.To, err = step(dst, in, at, env, false); err != nil {
		return Transfer{}, err
	}
	return t, nil
}

// bothOpen refuses a change between two orders when either has closed.
func bothOpen(src, dst Order) error {
	for _, o := range []Order{src, dst} {
		if o.Status == StatusClosed {
			return &ClosedError{Current: o}
		}
	}
	return nil
}

// step applies the one op of a transfer to o as its next version, with
// totals. owed refuses a source left owing money back on a check.
func step(o Order, op Op, at time.Time, env Env, owed bool) (Order, error) {
	var before map[int]bool
	if owed {
		if err := o.ComputeTotals(); err != nil {
			return Order{}, err
		}
		before = o.overpaidChecks()
	}
	next := o.Clone()
	if err := apply(&next, op, at, env.Actor); err != nil {
		return Order{}, fmt.Errorf("apply %s: %w", op.Op, err)
	}
	next.Version, next.UpdatedAt = o.Version+1, at
	if err := next.ComputeTotals(); err != nil {
		return Order{}, err
	}
	if owed && env.Actor.Role != RoleManager {
		if c := newlyOverpaid(before, &next); c != 0 {
			t, _ := next.CheckTotals(c)
			return Order{}, transferProblem("lines", fmt.Sprintf("check %d of the order on %s has %d cents paid and would cost %d; a manager refunds first", c, o.Table, t.PaidCents, t.TotalCents))
		}
	}
	return next, nil
}

// applyTransfer performs an applied transfer or merge op on o.
func applyTransfer(o *Order, op Op, at time.Time) error {
	switch op.Op {
	case OpTransferOut:
		for _, m := range op.Moves {
			idx := o.line(m.LineID)
			if idx < 0 || m.Qty == nil {
				return fmt.Errorf("transfer_out of unknown line %s or without qty", m.LineID)
			}
			l := &o.Lines[idx]
			switch {
			case m.NewLineID == nil && *m.Qty == l.Qty:
				o.Lines = append(o.Lines[:idx], o.Lines[idx+1:]...)
			case m.NewLineID != nil && *m.Qty >= 1 && *m.Qty < l.Qty:
				splitLine(l, *m.Qty, *m.NewLineID)
			default:
				return fmt.Errorf("transfer_out of %d of line %s, which has %d", *m.Qty, m.LineID, l.Qty)
			}
		}
	case OpTransferIn, OpMergeFrom:
		for _, l := range op.Items {
			if o.line(l.ID) >= 0 {
				return fmt.Errorf("%s of line %s, which the order has", op.Op, l.ID)
			}
			l.Position = o.nextPosition()
			l.Modifiers, l.Options = slices.Clone(l.Modifiers), slices.Clone(l.Options)
			if l.Modifiers == nil {
				l.Modifiers = []string{}
			}
			if l.Options == nil {
				l.Options = []LineOption{}
			}
			l.SharedBy = slices.Clone(l.SharedBy)
			o.Lines = append(o.Lines, l)
		}
		if op.Op == OpMergeFrom {
			o.Guests += derefInt(op.Guests)
		}
	case OpMergeInto:
		if op.OrderID == nil {
			return fmt.Errorf("merge_into without order_id")
		}
		for _, id := range op.Lines {
			idx := o.line(id)
			if idx < 0 {
				return fmt.Errorf("merge_into of unknown line %s", id)
			}
			o.Lines = append(o.Lines[:idx], o.Lines[idx+1:]...)
		}
		if len(o.Lines) > 0 {
			return fmt.Errorf("merge_into left %d lines behind", len(o.Lines))
		}
		t, into := at, *op.OrderID
		o.Status, o.ClosedAt, o.MergedInto = StatusClosed, &t, &into
	}
	return nil
}
