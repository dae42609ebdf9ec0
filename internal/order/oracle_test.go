package order_test

import (
	"encoding/json"
	"errors"
	"maps"
	"math/rand"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// This file checks Plan and Fold against an oracle that shares no code with
// them: Plan and Fold both go through the package's apply, so comparing
// Fold with Plan alone cannot catch a wrong apply. refOrder is a small
// reference model of an order, written from the API's rules (docs/DESIGN
// and the op descriptions), not from plan.go; refStep applies one request
// op to it. TestPlanAndFoldAgainstOracle runs both over random op
// sequences; TestOpsByHand spells out the expected state of each op.

type refLine struct {
	ID             uuid.UUID
	Position       int
	SKU, Name      string
	Station        string
	Qty            int
	UnitPriceCents int64
	Seat, Course   int
	Modifiers      []string
	Note, Status   string
	Comped         bool
	// Portions: a line holds what it took from its item's count.
	Portions int
}

type refPayment struct {
	Tender           string
	AmountCents, Tip int64
}

type refOrder struct {
	Table, Status, Note, Server string
	Guests                      int
	Version                     int64
	Lines                       []refLine
	Payments                    []refPayment
	Subtotal, Paid, Due         int64
	OpenedAt, UpdatedAt         time.Time
	ClosedAt                    *time.Time
}

// view is what the oracle compares of an order.Order.
func view(o order.Order) refOrder {
	r := refOrder{Table: o.Table, Status: o.Status, Note: o.Note, Server: o.Server, Guests: o.Guests,
		Version: o.Version, Lines: []refLine{}, Payments: []refPayment{},
		Subtotal: o.Totals.SubtotalCents, Paid: o.Totals.PaidCents, Due: o.Totals.DueCents,
		OpenedAt: o.OpenedAt.UTC(), UpdatedAt: o.UpdatedAt.UTC()}
	if o.ClosedAt != nil {
		t := o.ClosedAt.UTC()
		r.ClosedAt = &t
	}
	for _, l := range o.Lines {
		r.Lines = append(r.Lines, refLine{ID: l.ID, Position: l.Position, SKU: l.SKU, Name: l.Name,
			Station: l.Station, Qty: l.Qty, UnitPriceCents: l.UnitPriceCents, Seat: l.Seat, Course: l.Course,
			Modifiers: append([]string{}, l.Modifiers...), Note: l.Note, Status: l.Status, Comped: l.Comped,
			Portions: l.Portions})
	}
	for _, p := range o.Payments {
		r.Payments = append(r.Payments, refPayment{Tender: p.Tender, AmountCents: p.AmountCents, Tip: p.TipCents})
	}
	return r
}

func (r refOrder) clone() refOrder {
	c := r
	c.Lines = make([]refLine, len(r.Lines))
	for i, l := range r.Lines {
		l.Modifiers = append([]string{}, l.Modifiers...)
		c.Lines[i] = l
	}
	c.Payments = append([]refPayment{}, r.Payments...)
	return c
}

// totals: voided and comped lines cost nothing; tips settle nothing.
func (r *refOrder) totals() {
	r.Subtotal, r.Paid = 0, 0
	for _, l := range r.Lines {
		if l.Status != "voided" && !l.Comped {
			r.Subtotal += int64(l.Qty) * l.UnitPriceCents
		}
	}
	for _, p := range r.Payments {
		r.Paid += p.AmountCents
	}
	r.Due = r.Subtotal - r.Paid
}

func (r *refOrder) find(id *uuid.UUID) int {
	if id == nil {
		return -1
	}
	for i, l := range r.Lines {
		if l.ID == *id {
			return i
		}
	}
	return -1
}

// oracleRules are the pricing rules the oracle's orders open with: the
// menu's tax classes at 0 %, no service charge, so totals are the model's
// plain sums and the rules that bind priced orders (the overpay cap) apply.
var oracleRules = &order.PriceRules{TaxClasses: []order.TaxClass{
	{ID: "food", Name: "Food", RateBps: 0}, {ID: "drinks", Name: "Drinks", RateBps: 0}}}

func refOpen(table string, guests int, staff string, at time.Time) refOrder {
	return refOrder{Table: table, Status: "open", Guests: guests, Server: staff, Version: 1,
		Lines: []refLine{}, Payments: []refPayment{}, OpenedAt: at.UTC(), UpdatedAt: at.UTC()}
}

// refStep applies request op to r in place: changed says whether it changed
// anything, ok false means the op is refused (and with it its whole batch).
// Request ops here always carry a line_id for add_item. counted are the
// SKUs whose portions the kitchen counts at the time.
func refStep(r *refOrder, op order.Op, at time.Time, tables map[string]bool, counted map[string]bool) (changed, ok bool) {
	if r.Status == "closed" {
		return false, false
	}
	or := func(p *int, def int) int {
		if p == nil {
			return def
		}
		return *p
	}
	switch op.Op {
	case "add_item":
		item, known := menu[op.SKU]
		if !known || op.LineID == nil || r.find(op.LineID) >= 0 {
			return false, false
		}
		pos := 0
		for _, l := range r.Lines {
			pos = max(pos, l.Position+1)
		}
		note := ""
		if op.Note != nil {
			note = *op.Note
		}
		r.Lines = append(r.Lines, refLine{ID: *op.LineID, Position: pos, SKU: item.SKU, Name: item.Name,
			Station: item.Station, Qty: or(op.Qty, 1), UnitPriceCents: item.PriceCents, Seat: or(op.Seat, 0),
			Course: or(op.Course, 1), Modifiers: append([]string{}, op.Modifiers...), Note: note, Status: "pending"})
		if counted[item.SKU] {
			r.Lines[len(r.Lines)-1].Portions = or(op.Qty, 1)
		}
		return true, true
	case "set_qty":
		i := r.find(op.LineID)
		if i < 0 || r.Lines[i].Status != "pending" {
			return false, false
		}
		l := &r.Lines[i]
		if l.Qty == *op.Qty {
			return false, true
		}
		switch {
		case *op.Qty > l.Qty && counted[l.SKU]:
			l.Portions += *op.Qty - l.Qty // takes what it adds
		case *op.Qty < l.Portions:
			l.Portions = *op.Qty // gives back what it no longer holds
		}
		l.Qty = *op.Qty
		return true, true
	case "remove_item":
		i := r.find(op.LineID)
		if i < 0 || r.Lines[i].Status != "pending" {
			return false, false
		}
		r.Lines = append(r.Lines[:i:i], r.Lines[i+1:]...)
		return true, true
	case "void_item":
		i := r.find(op.LineID)
		if i < 0 || r.Lines[i].Status == "pending" {
			return false, false
		}
		if r.Lines[i].Status == "voided" {
			return false, true
		}
		r.Lines[i].Status, r.Lines[i].Portions = "voided", 0
		return true, true
	case "comp_item":
		i := r.find(op.LineID)
		if i < 0 || r.Lines[i].Status == "voided" {
			return false, false
		}
		if r.Lines[i].Comped {
			return false, true
		}
		r.Lines[i].Comped = true
		return true, true
	case "set_guests":
		if r.Guests == *op.Guests {
			return false, true
		}
		r.Guests = *op.Guests
		return true, true
	case "set_note":
		if r.Note == *op.Note {
			return false, true
		}
		r.Note = *op.Note
		return true, true
	case "move_table":
		if r.Table == op.Table {
			return false, true
		}
		if !tables[op.Table] {
			return false, false
		}
		r.Table = op.Table
		return true, true
	case "send":
		n := 0
		for i := range r.Lines {
			if r.Lines[i].Status == "pending" && (op.Course == nil || r.Lines[i].Course == *op.Course) {
				r.Lines[i].Status = "sent"
				n++
			}
		}
		if n == 0 && op.Course != nil {
			return false, false
		}
		return n > 0, true
	case "add_payment":
		// The overpay rule (docs/PRICING.md): at most what is due.
		r.totals()
		if *op.AmountCents > max(r.Due, 0) {
			return false, false
		}
		var tip int64
		if op.TipCents != nil {
			tip = *op.TipCents
		}
		r.Payments = append(r.Payments, refPayment{Tender: op.Tender, AmountCents: *op.AmountCents, Tip: tip})
		return true, true
	case "close":
		r.totals()
		for _, l := range r.Lines {
			if l.Status == "pending" {
				return false, false
			}
		}
		if r.Due > 0 {
			return false, false
		}
		t := at.UTC()
		r.Status, r.ClosedAt = "closed", &t
		return true, true
	}
	return false, false
}

// refBatch applies a PATCH's ops all or nothing, as one version.
func refBatch(r refOrder, ops []order.Op, at time.Time, tables map[string]bool, counted map[string]bool, role string) (refOrder, bool, bool) {
	next := r.clone()
	changed := false
	for _, op := range ops {
		c, ok := refStep(&next, op, at, tables, counted)
		if !ok {
			return r, false, false
		}
		changed = changed || c
	}
	if !changed {
		return r, false, true
	}
	next.Version = r.Version + 1
	next.UpdatedAt = at.UTC()
	next.totals()
	// The refund-required rule (docs/PRICING.md): only a manager may leave
	// the total lower than it was and below what has been paid.
	if role != order.RoleManager && next.Subtotal < r.Subtotal && next.Due < 0 {
		return r, false, false
	}
	return next, true, true
}

// oracleOp is a random, well-formed request op (Validate would pass it),
// often but not always acceptable for r.
func oracleOp(rng *rand.Rand, r refOrder) order.Op {
	id := uuid.New()
	if len(r.Lines) > 0 && rng.Intn(4) > 0 {
		id = r.Lines[rng.Intn(len(r.Lines))].ID
	}
	skus := []string{"steak", "fries", "beer", "nosuch"}
	switch rng.Intn(12) {
	case 0, 1, 2:
		op := order.Op{Op: order.OpAddItem, SKU: skus[rng.Intn(len(skus))], LineID: &id}
		if rng.Intn(2) == 0 {
			op.LineID = ptr(uuid.New())
		}
		if rng.Intn(2) == 0 {
			op.Qty = intp(1 + rng.Intn(4))
		}
		if rng.Intn(3) == 0 {
			op.Course = intp(1 + rng.Intn(3))
		}
		if rng.Intn(3) == 0 {
			op.Seat = intp(rng.Intn(4))
		}
		if rng.Intn(3) == 0 {
			op.Modifiers = []string{"no salt", "extra"}[:1+rng.Intn(2)]
		}
		if rng.Intn(3) == 0 {
			op.Note = strp("allergy")
		}
		return op
	case 3:
		return order.Op{Op: order.OpSetQty, LineID: &id, Qty: intp(1 + rng.Intn(3))}
	case 4:
		return order.Op{Op: order.OpRemoveItem, LineID: &id}
	case 5:
		return order.Op{Op: order.OpVoidItem, LineID: &id, Reason: "changed mind"}
	case 6:
		return order.Op{Op: order.OpCompItem, LineID: &id, Reason: "late"}
	case 7:
		return order.Op{Op: order.OpSetGuests, Guests: intp(1 + rng.Intn(4))}
	case 8:
		if rng.Intn(2) == 0 {
			return order.Op{Op: order.OpSetNote, Note: strp([]string{"", "window", "birthday"}[rng.Intn(3)])}
		}
		return order.Op{Op: order.OpMoveTable, Table: []string{"T1", "T2", "T3", "T9"}[rng.Intn(4)]}
	case 9:
		op := order.Op{Op: order.OpSend}
		if rng.Intn(3) == 0 {
			op.Course = intp(1 + rng.Intn(3))
		}
		return op
	case 10:
		amount := int64(500 * (1 + rng.Intn(8)))
		if rng.Intn(3) == 0 {
			amount = max(r.Due, 1) // often settles the check
		}
		op := order.Op{Op: order.OpAddPayment, Tender: "card", AmountCents: &amount}
		if rng.Intn(2) == 0 {
			op.TipCents = i64p(int64(rng.Intn(300)))
		}
		return op
	default:
		return order.Op{Op: order.OpClose}
	}
}

func ptr[T any](v T) *T { return &v }

// TestPlanAndFoldAgainstOracle runs random PATCH sequences through Plan and
// through the reference model, requiring the same verdict (refused or not,
// changed or not) and the same state after every PATCH; then folds the
// events (the applied ops, through their JSON as stored) and requires the
// oracle's final state again. Every other sequence is a waiter's (without
// the manager's ops), whom the refund-required rule binds.
func TestPlanAndFoldAgainstOracle(t *testing.T) {
	const sequences = 3000
	rng := rand.New(rand.NewSource(9))
	manager := order.Actor{Device: "d1", Staff: "Alice", Role: order.RoleManager}
	waiter := order.Actor{Device: "d2", Staff: "Bob", Role: order.RoleWaiter}
	var refused, noops, changes, closed, owedBack, holding int
	for s := 0; s < sequences; s++ {
		actor := manager
		if s%2 == 1 {
			actor = waiter
		}
		e := env()
		e.Actor = actor
		t0 := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC).Add(time.Duration(s) * time.Hour)
		table := []string{"T1", "T2", "T3"}[rng.Intn(3)]
		guests := 1 + rng.Intn(6)
		id := uuid.New()
		cur := order.Order{ID: id, Venue: "demo", Table: table, Status: order.StatusOpen, Guests: guests,
			Version: 1, Server: actor.Staff, Lines: []order.Line{}, Payments: []order.Payment{}, OpenedAt: t0, UpdatedAt: t0,
			Rules: oracleRules}
		ref := refOpen(table, guests, actor.Staff, t0)
		require.Equal(t, ref, view(cur))
		events := []order.Event{{ID: uuid.New(), Venue: "demo", OrderID: id, Version: 1, Type: "order.opened",
			At: t0, Actor: actor, Ops: []order.Op{order.OpenOp(table, guests, oracleRules)}}}

		for step := 0; step < 25; step++ {
			at := t0.Add(time.Duration(step+1) * time.Minute)
			ops := make([]order.Op, 1+rng.Intn(3))
			for i := range ops {
				ops[i] = oracleOp(rng, ref)
				for actor.Role != order.RoleManager && order.Validate(ops[i:i+1], actor.Role) != nil {
					ops[i] = oracleOp(rng, ref) // a waiter sends no manager's op
				}
			}
			// The kitchen counts the fries in some steps, not in others.
			counted := map[string]bool{"fries": rng.Intn(2) == 0}
			se := e
			se.Menu = maps.Clone(e.Menu)
			if counted["fries"] {
				fries := se.Menu["fries"]
				fries.Remaining = intp(1000)
				se.Menu["fries"] = fries
			}
			wantNext, wantChanged, wantOK := refBatch(ref, ops, at, e.Tables, counted, actor.Role)
			next, applied, err := order.Plan(cur, ops, at, se)
			if !wantOK {
				require.Error(t, err, "sequence %d step %d: the oracle refuses %+v", s, step, ops)
				require.Equal(t, ref, view(cur), "a refused PATCH must leave the order as it was")
				refused++
				var rr *order.RefundRequiredError
				if errors.As(err, &rr) {
					require.Equal(t, order.RoleWaiter, actor.Role)
					owedBack++
				}
				continue
			}
			require.NoError(t, err, "sequence %d step %d: %+v", s, step, ops)
			require.Equal(t, wantChanged, len(applied) > 0, "sequence %d step %d: changed? %+v", s, step, ops)
			require.Equal(t, wantNext, view(next), "sequence %d step %d: Plan's state after %+v", s, step, ops)
			if !wantChanged {
				noops++
				continue
			}
			changes++
			for _, l := range wantNext.Lines {
				if l.Portions > 0 {
					holding++
					break
				}
			}
			// Store the applied ops as the log does (JSON) and read them back.
			raw, err := json.Marshal(applied)
			require.NoError(t, err)
			var stored []order.Op
			require.NoError(t, json.Unmarshal(raw, &stored))
			events = append(events, order.Event{ID: uuid.New(), Venue: "demo", OrderID: id, Version: next.Version,
				Type: "order.patched", At: at, Actor: actor, Ops: stored})
			cur, ref = next, wantNext
		}
		if ref.Status == "closed" {
			closed++
		}
		folded, err := order.Fold(events)
		require.NoError(t, err, "sequence %d", s)
		require.Equal(t, ref, view(folded), "sequence %d: Fold of the log", s)
	}
	t.Logf("%d changes, %d no-ops, %d refused PATCHes (%d refund-required), %d orders closed", changes, noops, refused, owedBack, closed)
	// The generator must reach every branch for the oracle to mean much.
	require.Greater(t, refused, sequences)
	require.Greater(t, owedBack, sequences/20)
	require.Greater(t, noops, sequences/10)
	require.Greater(t, closed, sequences/20)
	require.Greater(t, holding, sequences, "changes after which a line holds portions")
}

// TestOpsByHand applies each op once to a known order through Plan and,
// through its applied ops, Fold, and compares both with the state written
// out by hand.
func TestOpsByHand(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	at := t0.Add(time.Minute)
	e := env()
	actor := order.Actor{Device: "d1", Staff: "Alice", Role: order.RoleManager}
	a, b := uuid.MustParse("00000000-0000-0000-0000-00000000000a"), uuid.MustParse("00000000-0000-0000-0000-00000000000b")
	steak := refLine{ID: a, Position: 0, SKU: "steak", Name: "Steak", Station: "grill", Qty: 2, UnitPriceCents: 2400,
		Course: 1, Modifiers: []string{}, Status: "sent"}
	fries := refLine{ID: b, Position: 1, SKU: "fries", Name: "Fries", Station: "fry", Qty: 1, UnitPriceCents: 500,
		Course: 2, Modifiers: []string{}, Status: "pending"}
	// base: T1, 2 guests, a sent steak x2 and pending fries, at version 2.
	baseOps := []order.Op{
		{Op: order.OpAddItem, SKU: "steak", LineID: &a, Qty: intp(2)},
		{Op: order.OpSend},
		{Op: order.OpAddItem, SKU: "fries", LineID: &b, Course: intp(2)},
	}
	base := func() refOrder {
		return refOrder{Table: "T1", Status: "open", Guests: 2, Server: "Alice", Version: 2,
			Lines: []refLine{steak, fries}, Payments: []refPayment{}, Subtotal: 5300, Due: 5300,
			OpenedAt: t0, UpdatedAt: t0}
	}
	with := func(f func(r *refOrder)) refOrder {
		r := base()
		r.Lines = []refLine{steak, fries}
		r.Version, r.UpdatedAt = 3, at
		f(&r)
		return r
	}
	closedAt := at
	cases := []struct {
		name string
		ops  []order.Op
		want refOrder
	}{
		{"add_item", []order.Op{{Op: order.OpAddItem, SKU: "beer", LineID: ptr(uuid.MustParse("00000000-0000-0000-0000-00000000000c")),
			Seat: intp(3), Modifiers: []string{"cold"}, Note: strp("tall glass")}}, with(func(r *refOrder) {
			r.Lines = append(r.Lines, refLine{ID: uuid.MustParse("00000000-0000-0000-0000-00000000000c"), Position: 2,
				SKU: "beer", Name: "Beer", Station: "bar", Qty: 1, UnitPriceCents: 700, Seat: 3, Course: 1,
				Modifiers: []string{"cold"}, Note: "tall glass", Status: "pending"})
			r.Subtotal, r.Due = 6000, 6000
		})},
		{"set_qty", []order.Op{{Op: order.OpSetQty, LineID: &b, Qty: intp(3)}}, with(func(r *refOrder) {
			r.Lines[1].Qty = 3
			r.Subtotal, r.Due = 6300, 6300
		})},
		{"remove_item", []order.Op{{Op: order.OpRemoveItem, LineID: &b}}, with(func(r *refOrder) {
			r.Lines = r.Lines[:1]
			r.Subtotal, r.Due = 4800, 4800
		})},
		{"void_item", []order.Op{{Op: order.OpVoidItem, LineID: &a, Reason: "burnt"}}, with(func(r *refOrder) {
			r.Lines[0].Status = "voided"
			r.Subtotal, r.Due = 500, 500
		})},
		{"comp_item", []order.Op{{Op: order.OpCompItem, LineID: &a, Reason: "late"}}, with(func(r *refOrder) {
			r.Lines[0].Comped = true
			r.Subtotal, r.Due = 500, 500
		})},
		{"set_guests", []order.Op{{Op: order.OpSetGuests, Guests: intp(4)}}, with(func(r *refOrder) {
			r.Guests = 4
			r.Subtotal, r.Due = 5300, 5300
		})},
		{"set_note", []order.Op{{Op: order.OpSetNote, Note: strp("nut allergy")}}, with(func(r *refOrder) {
			r.Note = "nut allergy"
			r.Subtotal, r.Due = 5300, 5300
		})},
		{"move_table", []order.Op{{Op: order.OpMoveTable, Table: "T3"}}, with(func(r *refOrder) {
			r.Table = "T3"
			r.Subtotal, r.Due = 5300, 5300
		})},
		{"send course 2", []order.Op{{Op: order.OpSend, Course: intp(2)}}, with(func(r *refOrder) {
			r.Lines[1].Status = "sent"
			r.Subtotal, r.Due = 5300, 5300
		})},
		{"add_payment", []order.Op{{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64p(1000), TipCents: i64p(150)}}, with(func(r *refOrder) {
			r.Payments = []refPayment{{Tender: "cash", AmountCents: 1000, Tip: 150}}
			r.Subtotal, r.Paid, r.Due = 5300, 1000, 4300
		})},
		{"send, pay, close", []order.Op{{Op: order.OpSend}, {Op: order.OpAddPayment, Tender: "card", AmountCents: i64p(5300)}, {Op: order.OpClose}},
			with(func(r *refOrder) {
				r.Lines[1].Status = "sent"
				r.Payments = []refPayment{{Tender: "card", AmountCents: 5300}}
				r.Status, r.ClosedAt = "closed", &closedAt
				r.Subtotal, r.Paid, r.Due = 5300, 5300, 0
			})},
	}
	open := []order.Event{{ID: uuid.New(), Venue: "demo", Version: 1, Type: "order.opened", At: t0, Actor: actor,
		Ops: []order.Op{order.OpenOp("T1", 2, oracleRules)}}}
	start, err := order.Fold(open)
	require.NoError(t, err)
	cur, applied, err := order.Plan(start, baseOps, t0, e)
	require.NoError(t, err)
	require.Equal(t, base(), view(cur))
	log := append(open, order.Event{ID: uuid.New(), Venue: "demo", Version: 2, Type: "order.patched", At: t0, Actor: actor, Ops: applied})
	folded, err := order.Fold(log)
	require.NoError(t, err)
	require.Equal(t, base(), view(folded))

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next, applied, err := order.Plan(cur, c.ops, at, e)
			require.NoError(t, err)
			require.Equal(t, c.want, view(next), "Plan")
			folded, err := order.Fold(append(log[:2:2], order.Event{ID: uuid.New(), Venue: "demo", Version: 3,
				Type: "order.patched", At: at, Actor: actor, Ops: applied}))
			require.NoError(t, err)
			require.Equal(t, c.want, view(folded), "Fold")
		})
	}
}
