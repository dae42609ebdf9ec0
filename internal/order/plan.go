package order

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Env is what planning needs from outside the order: the menu entries of the
// SKUs being added and the modifier groups they offer, which tables exist,
// the tenders the venue takes, who makes the change (a discount records
// it), and a source of new line and payment ids.
type Env struct {
	Menu    map[string]MenuItem
	Groups  map[string]ModifierGroup
	Tables  map[string]bool
	Tenders []string
	Actor   Actor
	NewID   func() uuid.UUID
	// Replay is set when audit verify replays a logged change: the rules
	// that bind only new writes, which posd did not have when it wrote
	// older logs, are not applied (the refund-required rule).
	Replay bool
}

// newID is a new id from env, or nil when env assigns none (audit verify
// replays the ids the log holds; a payment from before payments had ids
// has none).
func (e Env) newID() *uuid.UUID {
	if e.NewID == nil {
		return nil
	}
	id := e.NewID()
	return &id
}

// Plan applies validated request ops to cur, in order, all or nothing. It
// returns the next state and the ops as applied (ops that change nothing are
// left out). When nothing changes, applied is empty and next equals cur with
// the same version. cur itself is never modified.
func Plan(cur Order, ops []Op, at time.Time, env Env) (next Order, applied []Op, err error) {
	if cur.Status == StatusClosed {
		return cur, nil, &ClosedError{Current: cur}
	}
	next = cur.Clone()
	owed, err := watchOwedBack(&next, ops, env)
	if err != nil {
		return cur, nil, err
	}
	for i, op := range ops {
		if next.Status == StatusClosed {
			return cur, nil, &ClosedError{Current: cur}
		}
		a, err := resolve(&next, i, op, env)
		if err != nil {
			return cur, nil, err
		}
		if a == nil {
			continue
		}
		var overpaid map[int]bool
		if checkOps[a.Op] {
			if err := next.ComputeTotals(); err != nil {
				return cur, nil, err
			}
			overpaid = next.overpaidChecks()
		}
		if err := apply(&next, *a, at, env.Actor); err != nil {
			return cur, nil, fmt.Errorf("apply op %d: %w", i, err)
		}
		if checkOps[a.Op] {
			if err := noCheckOwed(overpaid, &next, i); err != nil {
				return cur, nil, err
			}
		}
		if err := withinBounds(cur, next, i, *a); err != nil {
			return cur, nil, err
		}
		if err := owed.step(&next, i); err != nil {
			return cur, nil, err
		}
		applied = append(applied, *a)
	}
	if len(applied) == 0 {
		return cur, nil, nil
	}
	next.Version = cur.Version + 1
	next.UpdatedAt = at
	if err := next.ComputeTotals(); err != nil {
		return cur, nil, err
	}
	if err := owed.check(next, ops); err != nil {
		return cur, nil, err
	}
	return next, applied, nil
}

// owedBack watches one change for the refund-required rule: a change by
// anyone but a manager may not leave the order's total lower than it was
// and below what has been paid (money owed back, which only a manager's
// refund_payment gives back). Like the overpay cap it binds orders opened
// with pricing rules, and it binds new writes only (not Env.Replay): posd
// wrote such changes before it had the rule. A nil *owedBack watches
// nothing.
type owedBack struct {
	before  int64 // the total before the change
	last    int64 // the total after the latest op
	lowered int   // the last op that lowered the total, or -1
}

// watchOwedBack starts watching the change ops to o, or returns nil when
// the rule cannot bind it: a manager's change, a replay, an order without
// pricing rules, or one that has no payment and takes none (with nothing
// paid no money can be owed back).
func watchOwedBack(o *Order, ops []Op, env Env) (*owedBack, error) {
	pays := slices.ContainsFunc(ops, func(op Op) bool { return op.Op == OpAddPayment })
	if env.Actor.Role == RoleManager || env.Replay || o.Rules == nil || (len(o.Payments) == 0 && !pays) {
		return nil, nil
	}
	if err := o.ComputeTotals(); err != nil {
		return nil, err
	}
	return &owedBack{before: o.Totals.TotalCents, last: o.Totals.TotalCents, lowered: -1}, nil
}

// step notes the total after op i (applied to o).
func (w *owedBack) step(o *Order, i int) error {
	if w == nil {
		return nil
	}
	if err := o.ComputeTotals(); err != nil {
		return err
	}
	if o.Totals.TotalCents < w.last {
		w.lowered = i
	}
	w.last = o.Totals.TotalCents
	return nil
}

// check refuses the change that took next (its totals computed) below
// what was paid, naming the last of ops that lowered the total.
func (w *owedBack) check(next Order, ops []Op) error {
	if w == nil || next.Totals.TotalCents >= w.before || next.Totals.DueCents >= 0 || w.lowered < 0 {
		return nil
	}
	op := ops[w.lowered].Op
	field := map[string]string{OpSetGuests: "guests", OpSetQty: "qty", OpRemoveItem: "line_id"}[op]
	if field == "" {
		field = "op"
	}
	return &RefundRequiredError{OpIndex: w.lowered, Op: op, Field: field,
		TotalCents: next.Totals.TotalCents, PaidCents: next.Totals.PaidCents}
}

// withinBounds refuses op i (already applied to next) when it takes the
// order past MaxLinesPerOrder lines, MaxPaymentsPerOrder payments,
// MaxRefundsPerOrder refunds or MaxDiscountsPerOrder discounts. An order
// already past a bound (written before it existed) may still shrink.
func withinBounds(cur, next Order, i int, a Op) error {
	payments, refunds := next.movements()
	switch {
	case (a.Op == OpAddItem || a.Op == OpMoveToCheck) && len(next.Lines) > MaxLinesPerOrder && len(next.Lines) > len(cur.Lines):
		return invalid(i, "lines", fmt.Sprintf("an order holds at most %d lines (MaxLinesPerOrder); this %s would make %d", MaxLinesPerOrder, a.Op, len(next.Lines)))
	case a.Op == OpAddPayment && payments > MaxPaymentsPerOrder:
		return invalid(i, "payments", fmt.Sprintf("an order takes at most %d payments (MaxPaymentsPerOrder); this add_payment would make %d", MaxPaymentsPerOrder, payments))
	case a.Op == OpRefundPayment && refunds > MaxRefundsPerOrder:
		return invalid(i, "payments", fmt.Sprintf("an order takes at most %d refunds (MaxRefundsPerOrder); this refund_payment would make %d", MaxRefundsPerOrder, refunds))
	case a.Op == OpAddDiscount && len(next.Discounts) > MaxDiscountsPerOrder:
		return invalid(i, "discounts", fmt.Sprintf("an order holds at most %d discounts (MaxDiscountsPerOrder); this add_discount would make %d", MaxDiscountsPerOrder, len(next.Discounts)))
	}
	return nil
}

// resolve turns request op i into the op to apply, or nil when it would change
// nothing. It enforces the rules that depend on the order's current state.
func resolve(o *Order, i int, op Op, env Env) (*Op, error) {
	lineAt := func() (int, error) {
		idx := o.line(*op.LineID)
		if idx < 0 {
			return -1, invalid(i, "line_id", "no such line on this order")
		}
		return idx, nil
	}
	if checkOps[op.Op] {
		return resolveCheckOp(o, i, op, env)
	}
	switch op.Op {
	case OpAddItem:
		item, ok := env.Menu[op.SKU]
		if !ok {
			return nil, invalid(i, "sku", fmt.Sprintf("unknown sku %q", op.SKU))
		}
		var id uuid.UUID
		if op.LineID != nil {
			if o.line(*op.LineID) >= 0 {
				return nil, invalid(i, "line_id", "already used by a line of this order")
			}
			id = *op.LineID
		} else if n := env.newID(); n != nil {
			id = *n
		} else {
			return nil, invalid(i, "line_id", "required")
		}
		if item.PriceCents < 0 || item.PriceCents > MaxPriceCents {
			return nil, invalid(i, "sku", fmt.Sprintf("the menu price of %q is outside 0 to %d cents; fix the menu", op.SKU, MaxPriceCents))
		}
		if o.Rules != nil && item.TaxClass != "" && !slices.ContainsFunc(o.Rules.TaxClasses, func(tc TaxClass) bool { return tc.ID == item.TaxClass }) {
			return nil, invalid(i, "sku", fmt.Sprintf("%q is taxed as %q, a tax class the venue did not have when this order was opened (an order keeps the rates it opened with); open a new order for it", op.SKU, item.TaxClass))
		}
		opts, err := chooseOptions(i, item, op.Options, env.Groups)
		if err != nil {
			return nil, err
		}
		price := item.PriceCents
		for _, o := range opts {
			price += o.PriceCents
		}
		if price > MaxPriceCents {
			return nil, invalid(i, "options", fmt.Sprintf("the unit price with these options would be %d cents, over %d", price, MaxPriceCents))
		}
		a := Op{
			Op: OpAddItem, LineID: &id, SKU: item.SKU, Name: item.Name, UnitPriceCents: &price,
			Station: item.Station, Qty: intOr(op.Qty, DefaultQty), Seat: intOr(op.Seat, DefaultSeat),
			Course: intOr(op.Course, DefaultCourse), Modifiers: append([]string{}, op.Modifiers...),
			Note: strOr(op.Note, ""), Options: opts, TaxClass: item.TaxClass,
		}
		if item.Remaining != nil {
			a.Portions = a.Qty
		}
		a.Check = notOne(op.Check)
		return &a, nil
	case OpSetQty:
		idx, err := lineAt()
		if err != nil {
			return nil, err
		}
		l := o.Lines[idx]
		if l.Status != LinePending {
			return nil, invalid(i, "line_id", "line is "+l.Status+"; only pending lines change quantity (void_item takes back a sent line)")
		}
		if l.Qty == *op.Qty {
			return nil, nil
		}
		a := Op{Op: OpSetQty, LineID: op.LineID, Qty: op.Qty}
		held := min(l.Portions, *op.Qty)
		if item, ok := env.Menu[l.SKU]; ok && item.Remaining != nil && *op.Qty > l.Qty {
			held = l.Portions + *op.Qty - l.Qty
		}
		if held > 0 || l.Portions > 0 {
			a.Portions = &held
		}
		return &a, nil
	case OpRemoveItem:
		idx, err := lineAt()
		if err != nil {
			return nil, err
		}
		if s := o.Lines[idx].Status; s != LinePending {
			return nil, invalid(i, "line_id", "line is "+s+"; only pending lines can be removed (void_item takes back a sent line)")
		}
		for _, d := range o.Discounts {
			if d.LineID != nil && *d.LineID == *op.LineID {
				return nil, invalid(i, "line_id", fmt.Sprintf("the line has discount %q; remove_discount takes it off first", d.ID))
			}
		}
		return &Op{Op: OpRemoveItem, LineID: op.LineID, SKU: o.Lines[idx].SKU}, nil
	case OpVoidItem:
		idx, err := lineAt()
		if err != nil {
			return nil, err
		}
		l := o.Lines[idx]
		switch l.Status {
		case LineVoided:
			return nil, nil
		case LinePending:
			return nil, invalid(i, "line_id", "line is pending; remove_item takes it off, void_item is for sent lines")
		}
		return lineRecord(OpVoidItem, o.Table, l, op.Reason), nil
	case OpCompItem:
		idx, err := lineAt()
		if err != nil {
			return nil, err
		}
		l := o.Lines[idx]
		if l.Status == LineVoided {
			return nil, invalid(i, "line_id", "line is voided; there is nothing to comp")
		}
		if l.Comped {
			return nil, nil
		}
		return lineRecord(OpCompItem, o.Table, l, op.Reason), nil
	case OpSetGuests:
		if o.Guests == *op.Guests {
			return nil, nil
		}
		return &Op{Op: OpSetGuests, Guests: op.Guests}, nil
	case OpSetNote:
		if o.Note == *op.Note {
			return nil, nil
		}
		return &Op{Op: OpSetNote, Note: op.Note}, nil
	case OpMoveTable:
		if o.Table == op.Table {
			return nil, nil
		}
		if !env.Tables[op.Table] {
			return nil, invalid(i, "table", fmt.Sprintf("unknown table %q", op.Table))
		}
		return &Op{Op: OpMoveTable, Table: op.Table}, nil
	case OpSend:
		var ids []uuid.UUID
		for _, l := range o.Lines {
			if l.Status == LinePending && (op.Course == nil || l.Course == *op.Course) {
				ids = append(ids, l.ID)
			}
		}
		if len(ids) == 0 && op.Course != nil {
			// Naming a course is a claim that it has something to fire; a
			// typo'd course must not look like a successful send.
			return nil, invalid(i, "course", fmt.Sprintf("course %d has no pending lines", *op.Course))
		}
		if len(ids) == 0 {
			return nil, nil
		}
		return &Op{Op: OpSend, Course: op.Course, Lines: ids}, nil
	case OpAddPayment:
		if !slices.Contains(env.Tenders, op.Tender) {
			return nil, invalid(i, "tender", fmt.Sprintf("the venue takes %s; not %q", strings.Join(env.Tenders, ", "), op.Tender))
		}
		if err := o.ComputeTotals(); err != nil {
			return nil, err
		}
		check := 1
		if op.Check != nil {
			check = *op.Check
		}
		totals, ok := o.CheckTotals(check)
		if !ok {
			return nil, invalid(i, "check", fmt.Sprintf("the order has %s, not check %d", o.checkList(), check))
		}
		// The cap binds orders priced by posd (opened with pricing rules).
		// Before pricing, a payment of any size was taken (cash handed over
		// for a smaller check), and those orders' logs must replay as
		// written. On a split order it is the check's due.
		if err := totals.CheckPayment(*op.AmountCents); err != nil && o.Rules != nil {
			var over *OverpaymentError
			if errors.As(err, &over) {
				over.OpIndex = i
			}
			return nil, err
		}
		tip := int64(defaultTipCents)
		if op.TipCents != nil {
			tip = *op.TipCents
		}
		id := op.PaymentID // set when replayed from the log (audit verify)
		if id == nil {
			id = env.newID()
		}
		return &Op{Op: OpAddPayment, PaymentID: id, Tender: op.Tender, AmountCents: op.AmountCents, TipCents: &tip, Check: notOne(&check)}, nil
	case OpRefundPayment:
		return resolveRefund(o, i, op, env)
	case OpAddDiscount:
		return resolveDiscount(o, i, op, env)
	case OpRemoveDiscount:
		if o.discount(op.DiscountID) < 0 {
			return nil, invalid(i, "discount_id", fmt.Sprintf("the order has no discount %q", op.DiscountID))
		}
		return &Op{Op: OpRemoveDiscount, DiscountID: op.DiscountID}, nil
	case OpWaiveServiceCharge:
		if o.Rules == nil || o.Rules.ServiceCharge == nil || o.Rules.ServiceCharge.MinGuests == 0 {
			return nil, invalid(i, "op", "this order has no service charge to waive (the venue had none when it was opened)")
		}
		if o.ServiceChargeWaiver != nil {
			return nil, nil
		}
		return &Op{Op: OpWaiveServiceCharge, Reason: op.Reason}, nil
	case OpClose:
		for _, l := range o.Lines {
			if l.Status == LinePending {
				return nil, invalid(i, "op", "order has pending lines; send or remove them before closing")
			}
		}
		if err := o.ComputeTotals(); err != nil {
			return nil, err
		}
		if o.Totals.DueCents > 0 && len(o.Checks) == 1 {
			return nil, invalid(i, "op", fmt.Sprintf("order has %d cents due; take payment before closing", o.Totals.DueCents))
		}
		for _, c := range o.Checks {
			if c.Totals.DueCents > 0 {
				return nil, invalid(i, "op", fmt.Sprintf("check %d has %d cents due; take payment on it before closing", c.Number, c.Totals.DueCents))
			}
		}
		return &Op{Op: OpClose}, nil
	}
	return nil, invalid(i, "op", fmt.Sprintf("unknown op %q", op.Op))
}

// resolveDiscount resolves add_discount i: a new id (the client's, unused
// on the order, or a server-assigned UUID), a line that is on the order and
// neither voided nor comped (there is nothing to take off those).
func resolveDiscount(o *Order, i int, op Op, env Env) (*Op, error) {
	id := op.ID
	if id == "" {
		n := env.newID()
		if n == nil {
			return nil, invalid(i, "id", "required")
		}
		id = n.String()
	} else if o.discount(id) >= 0 {
		return nil, invalid(i, "id", fmt.Sprintf("the order already has a discount %q", id))
	}
	if op.LineID != nil {
		idx := o.line(*op.LineID)
		switch {
		case idx < 0:
			return nil, invalid(i, "line_id", "no such line on this order")
		case o.Lines[idx].Status == LineVoided:
			return nil, invalid(i, "line_id", "line is voided; there is nothing to discount")
		case o.Lines[idx].Comped:
			return nil, invalid(i, "line_id", "line is comped; there is nothing to discount")
		}
	}
	return &Op{Op: OpAddDiscount, ID: id, LineID: op.LineID, PercentBps: op.PercentBps, AmountCents: op.AmountCents, Reason: op.Reason}, nil
}

// resolveRefund resolves refund_payment i: the payment it names (by index
// or id) must be a payment, not a refund, the amount at most what is left
// of it after its earlier refunds and the tip at most what is left of its
// tip. The applied op names the payment both ways and carries its tender
// and the refund's own id.
func resolveRefund(o *Order, i int, op Op, env Env) (*Op, error) {
	idx, field := -1, "payment_index"
	if op.PaymentIndex != nil {
		if *op.PaymentIndex < len(o.Payments) {
			idx = *op.PaymentIndex
		}
	} else {
		field = "payment_id"
		idx = slices.IndexFunc(o.Payments, func(p Payment) bool { return p.ID != nil && *p.ID == *op.PaymentID })
	}
	if idx < 0 {
		return nil, invalid(i, field, fmt.Sprintf("no such payment on this order (it has %d payments and refunds)", len(o.Payments)))
	}
	p := o.Payments[idx]
	if p.RefundOf != nil || p.AmountCents < 0 {
		return nil, invalid(i, field, fmt.Sprintf("payment %d is a refund; refund the payment it refunded", idx))
	}
	amount, tip := o.refundedOf(idx)
	if left := p.AmountCents - amount; *op.AmountCents > left {
		return nil, invalid(i, "amount_cents", fmt.Sprintf("at most %d cents of payment %d are left to refund (%d paid, %d refunded)", left, idx, p.AmountCents, amount))
	}
	if left := p.TipCents - tip; op.TipCents != nil && *op.TipCents > left {
		return nil, invalid(i, "tip_cents", fmt.Sprintf("at most %d cents of the tip of payment %d are left to give back (%d tipped, %d given back)", left, idx, p.TipCents, tip))
	}
	rid := op.RefundID // set when replayed from the log (audit verify)
	if rid == nil {
		rid = env.newID()
	}
	at := idx
	return &Op{Op: OpRefundPayment, PaymentIndex: &at, PaymentID: p.ID, RefundID: rid, Tender: p.Tender,
		AmountCents: op.AmountCents, TipCents: op.TipCents, Reason: op.Reason}, nil
}

// chooseOptions resolves the options chosen on add_item i against the
// item's modifier groups: each must be an option of one of the item's
// groups, and each group's count within its min..max (a group with min 1
// is required even when nothing is sent). The options keep the order they
// were sent in and gain the menu's names and prices.
func chooseOptions(i int, item MenuItem, chosen []LineOption, groups map[string]ModifierGroup) ([]LineOption, error) {
	count := make(map[string]int, len(item.ModifierGroups))
	for _, gid := range item.ModifierGroups {
		if _, ok := groups[gid]; !ok {
			return nil, invalid(i, "sku", fmt.Sprintf("the menu item %q offers group %q, which the menu lacks; fix the menu", item.SKU, gid))
		}
		count[gid] = 0
	}
	out := make([]LineOption, 0, len(chosen))
	for _, c := range chosen {
		if _, offered := count[c.Group]; !offered {
			return nil, invalid(i, "options", fmt.Sprintf("group %q is not offered with %q", c.Group, item.SKU))
		}
		g := groups[c.Group]
		k := slices.IndexFunc(g.Options, func(o ModifierOption) bool { return o.ID == c.Option })
		if k < 0 {
			return nil, invalid(i, "options", fmt.Sprintf("group %q (%s) has no option %q", c.Group, g.Name, c.Option))
		}
		count[c.Group]++
		out = append(out, LineOption{Group: c.Group, Option: c.Option, Name: g.Options[k].Name, PriceCents: g.Options[k].PriceCents})
	}
	for _, gid := range item.ModifierGroups {
		if g, n := groups[gid], count[gid]; n < g.Min || n > g.Max {
			return nil, invalid(i, "options", fmt.Sprintf("group %q (%s) takes %s; %d chosen", gid, g.Name, between(g.Min, g.Max), n))
		}
	}
	return out, nil
}

// between says how many options a group takes.
func between(lo, hi int) string {
	switch {
	case lo == hi:
		return fmt.Sprintf("exactly %d", lo)
	case lo == 0:
		return fmt.Sprintf("at most %d", hi)
	}
	return fmt.Sprintf("%d to %d", lo, hi)
}

// lineRecord is a void or comp as applied: it carries what the line was and
// the table the order was on, so the log alone says what was taken off the
// check, where and why.
func lineRecord(kind, table string, l Line, reason string) *Op {
	id, qty, price := l.ID, l.Qty, l.UnitPriceCents
	return &Op{Op: kind, LineID: &id, SKU: l.SKU, Name: l.Name, Qty: &qty, UnitPriceCents: &price,
		Station: l.Station, Table: table, Reason: reason}
}

// apply performs one applied op on o. Planning and folding both go through it,
// so an order rebuilt from its log is the order that was written.
func apply(o *Order, op Op, at time.Time, actor Actor) error {
	lineIdx := func() (int, error) {
		if op.LineID == nil {
			return -1, fmt.Errorf("%s without line_id", op.Op)
		}
		idx := o.line(*op.LineID)
		if idx < 0 {
			return -1, fmt.Errorf("%s of unknown line %s", op.Op, op.LineID)
		}
		return idx, nil
	}
	if checkOps[op.Op] {
		return applyCheckOp(o, op)
	}
	switch op.Op {
	case OpOpen:
		o.Table, o.Guests, o.Status = op.Table, derefInt(op.Guests), StatusOpen
		o.OpenedAt, o.Server = at, actor.Staff
		if op.Rules != nil {
			r := *op.Rules
			o.Rules = &r
		}
	case OpAddItem:
		if op.LineID == nil || op.UnitPriceCents == nil {
			return fmt.Errorf("add_item without line_id or price")
		}
		o.Lines = append(o.Lines, Line{
			ID: *op.LineID, Position: o.nextPosition(), SKU: op.SKU, Name: op.Name,
			Qty: derefInt(op.Qty), UnitPriceCents: *op.UnitPriceCents, Seat: derefInt(op.Seat),
			Course: derefInt(op.Course), Modifiers: append([]string{}, op.Modifiers...),
			Note: derefStr(op.Note), Station: op.Station, Status: LinePending,
			Options: append([]LineOption{}, op.Options...), TaxClass: op.TaxClass,
			Portions: derefInt(op.Portions), Check: checkOr1(op.Check),
		})
	case OpSetQty:
		idx, err := lineIdx()
		if err != nil {
			return err
		}
		l := &o.Lines[idx]
		l.Qty = derefInt(op.Qty)
		if op.Portions != nil {
			l.Portions = *op.Portions
		} else {
			l.Portions = min(l.Portions, l.Qty)
		}
	case OpRemoveItem:
		idx, err := lineIdx()
		if err != nil {
			return err
		}
		o.Lines = append(o.Lines[:idx], o.Lines[idx+1:]...)
	case OpVoidItem:
		idx, err := lineIdx()
		if err != nil {
			return err
		}
		o.Lines[idx].Status, o.Lines[idx].Portions = LineVoided, 0
	case OpCompItem:
		idx, err := lineIdx()
		if err != nil {
			return err
		}
		o.Lines[idx].Comped = true
	case OpSetGuests:
		o.Guests = derefInt(op.Guests)
	case OpSetNote:
		o.Note = derefStr(op.Note)
	case OpMoveTable:
		o.Table = op.Table
	case OpSend:
		for _, id := range op.Lines {
			idx := o.line(id)
			if idx < 0 {
				return fmt.Errorf("send of unknown line %s", id)
			}
			o.Lines[idx].Status = LineSent
		}
	case OpAddPayment:
		var tip int64
		if op.TipCents != nil {
			tip = *op.TipCents
		}
		if op.AmountCents == nil {
			return fmt.Errorf("add_payment without amount")
		}
		o.Payments = append(o.Payments, Payment{ID: op.PaymentID, Tender: op.Tender, AmountCents: *op.AmountCents, TipCents: tip,
			Check: checkOr1(op.Check)})
	case OpRefundPayment:
		if op.PaymentIndex == nil || op.AmountCents == nil || *op.PaymentIndex < 0 || *op.PaymentIndex >= len(o.Payments) {
			return fmt.Errorf("refund_payment without a payment of the order or an amount")
		}
		var tip int64
		if op.TipCents != nil {
			tip = *op.TipCents
		}
		at := *op.PaymentIndex
		o.Payments = append(o.Payments, Payment{ID: op.RefundID, Tender: op.Tender, AmountCents: -*op.AmountCents,
			TipCents: -tip, RefundOf: &at, Reason: op.Reason, Check: paymentCheck(o.Payments[at])})
	case OpAddDiscount:
		if op.ID == "" {
			return fmt.Errorf("add_discount without id")
		}
		o.Discounts = append(o.Discounts, OrderDiscount{Discount: Discount{ID: op.ID, LineID: op.LineID,
			PercentBps: op.PercentBps, AmountCents: op.AmountCents, Reason: op.Reason, By: actor.Staff}})
	case OpRemoveDiscount:
		idx := o.discount(op.DiscountID)
		if idx < 0 {
			return fmt.Errorf("remove_discount of unknown discount %q", op.DiscountID)
		}
		o.Discounts = append(o.Discounts[:idx], o.Discounts[idx+1:]...)
	case OpWaiveServiceCharge:
		o.ServiceChargeWaiver = &Waiver{Reason: op.Reason, By: actor.Staff}
	case OpClose:
		t := at
		o.Status, o.ClosedAt = StatusClosed, &t
	case OpTransferOut, OpTransferIn, OpMergeInto, OpMergeFrom:
		return applyTransfer(o, op, at)
	default:
		return fmt.Errorf("unknown op %q", op.Op)
	}
	return nil
}

// OpenOp is the single op of an order.opened event: the table, the guests
// and the rules the order is priced with for its life (the venue's tax
// classes and service charge then). Events written before posd priced
// orders have no rules.
func OpenOp(table string, guests int, rules *PriceRules) Op {
	g := guests
	return Op{Op: OpOpen, Table: table, Guests: &g, Rules: rules}
}

// ApplyLogged applies one op of a logged event to o, as folding the log
// does, and recomputes the totals; o is not modified. Version and
// UpdatedAt are left to the caller.
func ApplyLogged(o Order, op Op, at time.Time, actor Actor) (Order, error) {
	next := o.Clone()
	if err := apply(&next, op, at, actor); err != nil {
		return Order{}, err
	}
	return next, next.ComputeTotals()
}

// Fold rebuilds an order from its events, oldest first. The events must be
// versions 1, 2, … without gaps; anything else is a corrupt log.
func Fold(events []Event) (Order, error) {
	if len(events) == 0 {
		return Order{}, ErrNotFound
	}
	o := Order{ID: events[0].OrderID, Venue: events[0].Venue, Lines: []Line{}, Payments: []Payment{}, Discounts: []OrderDiscount{}}
	for _, ev := range events {
		if err := o.step(ev); err != nil {
			return Order{}, err
		}
	}
	if err := o.ComputeTotals(); err != nil {
		return Order{}, err
	}
	return o, nil
}

// step applies the next event of the order's log to o (totals are not
// recomputed).
func (o *Order) step(ev Event) error {
	if ev.Version != o.Version+1 {
		return fmt.Errorf("fold order %s: version %d follows %d", o.ID, ev.Version, o.Version)
	}
	for j, op := range ev.Ops {
		if err := apply(o, op, ev.At, ev.Actor); err != nil {
			return fmt.Errorf("fold order %s version %d op %d: %w", o.ID, ev.Version, j, err)
		}
	}
	o.Version, o.UpdatedAt = ev.Version, ev.At
	return nil
}

// notOne is the check an applied op records: none for check 1, as ops
// written before checks existed have none.
func notOne(check *int) *int {
	if check == nil || *check == 1 {
		return nil
	}
	c := *check
	return &c
}

func checkOr1(check *int) int {
	if check == nil {
		return 1
	}
	return *check
}

// noCheckOwed refuses check op i when it left a check of next that has
// been paid costing less than was paid on it (money owed back, which a
// split must not make; a manager's refund gives money back).
func noCheckOwed(before map[int]bool, next *Order, i int) error {
	if err := next.ComputeTotals(); err != nil {
		return err
	}
	if c := newlyOverpaid(before, next); c != 0 {
		t, _ := next.CheckTotals(c)
		return invalid(i, "check", fmt.Sprintf("check %d has %d cents paid and would cost %d; move its paid lines back, or split before taking payment", c, t.PaidCents, t.TotalCents))
	}
	return nil
}

func intOr(p *int, def int) *int {
	v := def
	if p != nil {
		v = *p
	}
	return &v
}

func strOr(p *string, def string) *string {
	v := def
	if p != nil {
		v = *p
	}
	return &v
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func derefStr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
