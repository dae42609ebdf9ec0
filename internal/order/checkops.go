package order

import (
	"fmt"
	"slices"

	"github.com/google/uuid"
)

// checkOps are the ops that move money between an order's checks.
var checkOps = map[string]bool{OpMoveToCheck: true, OpSplitBySeat: true, OpShareLine: true,
	OpSplitEven: true, OpMergeChecks: true}

// resolveCheckOp resolves check op i on o, or nil when it would change
// nothing.
func resolveCheckOp(o *Order, i int, op Op, env Env) (*Op, error) {
	switch op.Op {
	case OpMoveToCheck:
		idx := o.line(*op.LineID)
		if idx < 0 {
			return nil, invalid(i, "line_id", "no such line on this order")
		}
		l := o.Lines[idx]
		to := *op.Check
		if op.Qty == nil || *op.Qty >= l.Qty {
			if op.Qty != nil && *op.Qty > l.Qty {
				return nil, invalid(i, "qty", fmt.Sprintf("the line has %d; at most that many can move", l.Qty))
			}
			if len(l.SharedBy) == 0 && lineCheck(l) == to {
				return nil, nil
			}
			return &Op{Op: OpMoveToCheck, LineID: op.LineID, Check: &to}, nil
		}
		if len(l.SharedBy) > 0 {
			return nil, invalid(i, "qty", "the line is shared; move all of it to one check first, then part of it")
		}
		if lineCheck(l) == to {
			return nil, nil
		}
		if d := lineDiscount(o, l.ID); d != "" {
			return nil, invalid(i, "qty", fmt.Sprintf("the line has discount %q; move all of it, or take the discount off first", d))
		}
		id, err := newLineID(o, i, op.NewLineID, env)
		if err != nil {
			return nil, err
		}
		qty := *op.Qty
		return &Op{Op: OpMoveToCheck, LineID: op.LineID, Check: &to, Qty: &qty, NewLineID: &id}, nil
	case OpShareLine:
		idx := o.line(*op.LineID)
		if idx < 0 {
			return nil, invalid(i, "line_id", "no such line on this order")
		}
		checks := slices.Clone(op.Checks)
		slices.Sort(checks)
		if slices.Equal(o.Lines[idx].SharedBy, checks) {
			return nil, nil
		}
		return &Op{Op: OpShareLine, LineID: op.LineID, Checks: checks}, nil
	case OpSplitEven:
		n := op.Split
		if n == 0 { // replayed from the log: the checks 1 to N
			n = len(op.Checks)
		}
		checks := make([]int, n)
		for k := range checks {
			checks[k] = k + 1
		}
		if err := splittable(o, i); err != nil {
			return nil, err
		}
		if ps := paidBeyond(o, n); ps != 0 {
			return nil, invalid(i, "checks", fmt.Sprintf("check %d has payments; split into at least %d checks, or merge it first", ps, ps))
		}
		same := true
		for _, l := range o.Lines {
			if l.Status != LineVoided && !slices.Equal(l.SharedBy, checks) {
				same = false
			}
		}
		if same {
			return nil, nil
		}
		return &Op{Op: OpSplitEven, Checks: checks}, nil
	case OpSplitBySeat:
		if err := splittable(o, i); err != nil {
			return nil, err
		}
		if len(seats(o)) == 0 {
			return nil, invalid(i, "op", "no line has a seat; give the lines seats, or use split_even or move_to_check")
		}
		next := o.Clone()
		splitBySeat(&next)
		if slices.EqualFunc(o.Lines, next.Lines, func(a, b Line) bool {
			return a.Check == b.Check && slices.Equal(a.SharedBy, b.SharedBy)
		}) {
			return nil, nil
		}
		return &Op{Op: OpSplitBySeat}, nil
	case OpMergeChecks:
		if !slices.Contains(o.CheckNumbers(), *op.From) {
			return nil, invalid(i, "from", fmt.Sprintf("the order has %s, not check %d", o.checkList(), *op.From))
		}
		return &Op{Op: OpMergeChecks, From: op.From, Into: op.Into}, nil
	}
	return nil, invalid(i, "op", fmt.Sprintf("unknown op %q", op.Op))
}

// splittable refuses to split an order with nothing on it to split.
func splittable(o *Order, i int) error {
	if !slices.ContainsFunc(o.Lines, func(l Line) bool { return l.Status != LineVoided }) {
		return invalid(i, "op", "the order has no lines to split")
	}
	return nil
}

// paidBeyond is the lowest check above n that has a payment, or 0.
func paidBeyond(o *Order, n int) int {
	low := 0
	for _, p := range o.Payments {
		if c := paymentCheck(p); c > n && (low == 0 || c < low) {
			low = c
		}
	}
	return low
}

// seats are the seats (1 and up) of the order's live lines, ascending.
func seats(o *Order) []int {
	var ss []int
	for _, l := range o.Lines {
		if l.Status != LineVoided && l.Seat >= 1 && !slices.Contains(ss, l.Seat) {
			ss = append(ss, l.Seat)
		}
	}
	slices.Sort(ss)
	return ss
}

// splitBySeat puts each live line with a seat on the check of its seat,
// and shares each live line without one (bread for the table) by all
// those checks. Voided lines stay where they are.
func splitBySeat(o *Order) {
	ss := seats(o)
	for k := range o.Lines {
		l := &o.Lines[k]
		switch {
		case l.Status == LineVoided:
		case l.Seat >= 1:
			l.Check, l.SharedBy = l.Seat, nil
		case len(ss) == 1:
			l.Check, l.SharedBy = ss[0], nil
		default:
			l.Check, l.SharedBy = 0, slices.Clone(ss)
		}
	}
}

// lineDiscount is the id of a discount on line id, or "".
func lineDiscount(o *Order, id uuid.UUID) string {
	for _, d := range o.Discounts {
		if d.LineID != nil && *d.LineID == id {
			return d.ID
		}
	}
	return ""
}

// newLineID is the id of a line op i makes by splitting one: the client's
// (unused on the order) or a new one.
func newLineID(o *Order, i int, given *uuid.UUID, env Env) (uuid.UUID, error) {
	if given != nil {
		if o.line(*given) >= 0 {
			return uuid.Nil, invalid(i, "new_line_id", "already used by a line of this order")
		}
		return *given, nil
	}
	if n := env.newID(); n != nil {
		return *n, nil
	}
	return uuid.Nil, invalid(i, "new_line_id", "required")
}

// applyCheckOp performs applied check op op on o.
func applyCheckOp(o *Order, op Op) error {
	switch op.Op {
	case OpMoveToCheck:
		if op.LineID == nil || op.Check == nil {
			return fmt.Errorf("move_to_check without line_id or check")
		}
		idx := o.line(*op.LineID)
		if idx < 0 {
			return fmt.Errorf("move_to_check of unknown line %s", op.LineID)
		}
		if op.NewLineID == nil {
			o.Lines[idx].Check, o.Lines[idx].SharedBy = *op.Check, nil
			return nil
		}
		if op.Qty == nil || *op.Qty < 1 || *op.Qty >= o.Lines[idx].Qty {
			return fmt.Errorf("move_to_check of part of line %s without a smaller qty", op.LineID)
		}
		part := splitLine(&o.Lines[idx], *op.Qty, *op.NewLineID)
		part.Position, part.Check = o.nextPosition(), *op.Check
		o.Lines = append(o.Lines, part)
	case OpShareLine:
		idx := -1
		if op.LineID != nil {
			idx = o.line(*op.LineID)
		}
		if idx < 0 || len(op.Checks) < 2 {
			return fmt.Errorf("share_line of an unknown line or fewer than two checks")
		}
		o.Lines[idx].Check, o.Lines[idx].SharedBy = 0, slices.Clone(op.Checks)
	case OpSplitEven:
		if len(op.Checks) < 2 {
			return fmt.Errorf("split_even into fewer than two checks")
		}
		for k := range o.Lines {
			if o.Lines[k].Status != LineVoided {
				o.Lines[k].Check, o.Lines[k].SharedBy = 0, slices.Clone(op.Checks)
			}
		}
	case OpSplitBySeat:
		splitBySeat(o)
	case OpMergeChecks:
		if op.From == nil || op.Into == nil {
			return fmt.Errorf("merge_checks without from or into")
		}
		from, into := *op.From, *op.Into
		for k := range o.Lines {
			l := &o.Lines[k]
			if len(l.SharedBy) == 0 {
				if lineCheck(*l) == from {
					l.Check = into
				}
				continue
			}
			if !slices.Contains(l.SharedBy, from) {
				continue
			}
			var by []int
			for _, c := range l.SharedBy {
				if c == from {
					c = into
				}
				if !slices.Contains(by, c) {
					by = append(by, c)
				}
			}
			slices.Sort(by)
			if len(by) == 1 {
				l.Check, l.SharedBy = by[0], nil
			} else {
				l.SharedBy = by
			}
		}
		for k := range o.Payments {
			if paymentCheck(o.Payments[k]) == from {
				o.Payments[k].Check = into
			}
		}
	default:
		return fmt.Errorf("unknown op %q", op.Op)
	}
	return nil
}

// splitLine takes qty (less than the line's) off l and returns the part
// taken as a line of its own with id: the same item, price, seat, course,
// state and options. The portions l holds stay with it up to its new
// quantity; the rest go with the part.
func splitLine(l *Line, qty int, id uuid.UUID) Line {
	part := *l
	part.ID, part.Qty = id, qty
	part.Modifiers = slices.Clone(l.Modifiers)
	part.Options = slices.Clone(l.Options)
	part.SharedBy = nil
	l.Qty -= qty
	kept := min(l.Portions, l.Qty)
	part.Portions = l.Portions - kept
	l.Portions = kept
	return part
}

// newlyOverpaid is the lowest check of next (totals computed) that took
// more than it now costs while it did not in before, or 0. Moving lines
// between checks must not leave money owed back on one of them.
func newlyOverpaid(before map[int]bool, next *Order) int {
	for _, c := range next.Checks {
		if c.Totals.DueCents < 0 && !before[c.Number] {
			return c.Number
		}
	}
	return 0
}
