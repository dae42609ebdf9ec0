package audit

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// TestLegacyOverpaymentReplays: before pricing (migration 0004) add_payment
// had no cap, so an order of then with a cash payment over the check (50.00
// handed over for 47.30) is a legitimate history: verify replays it. The
// cap binds orders opened with pricing rules.
func TestLegacyOverpaymentReplays(t *testing.T) {
	waiter := order.Actor{Device: "h1", Staff: "Alice", Role: order.RoleWaiter}
	r := replay{devices: map[order.Actor]bool{waiter: true}}
	id, line := uuid.New(), uuid.New()
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	price, amount, zero := int64(4730), int64(5000), int64(0)
	one, seat, note := 1, 0, ""
	evs := []order.Event{
		{OrderID: id, Venue: "demo", Version: 1, Type: order.EventOpened, At: at, Actor: waiter,
			Ops: []order.Op{order.OpenOp("T1", 2, nil)}},
		{OrderID: id, Venue: "demo", Version: 2, Type: order.EventPatched, At: at.Add(time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpAddItem, LineID: &line, SKU: "steak", Name: "Steak", UnitPriceCents: &price,
				Station: "grill", Qty: &one, Seat: &seat, Course: &one, Modifiers: []string{}, Note: &note}}},
		{OrderID: id, Venue: "demo", Version: 3, Type: order.EventPatched, At: at.Add(2 * time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpSend, Lines: []uuid.UUID{line}}}},
		{OrderID: id, Venue: "demo", Version: 4, Type: order.EventPatched, At: at.Add(3 * time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpAddPayment, Tender: "cash", AmountCents: &amount, TipCents: &zero}}},
		{OrderID: id, Venue: "demo", Version: 5, Type: order.EventPatched, At: at.Add(4 * time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpClose}}},
	}
	for _, ev := range evs {
		if _, reason := r.step(ev, marshal(ev.Ops)); reason != "" {
			t.Fatalf("version %d of a legitimate pre-0004 history refused: %s", ev.Version, reason)
		}
	}
}

// TestOwedBackBeforeTheRuleReplays: before the refund-required rule posd
// let a waiter take money off a paid order (set_guests under the service
// charge's min_guests, after the party had paid it) and close it with
// money owed back. Those logs are legitimate histories: verify replays
// them, since the rule binds new writes only.
func TestOwedBackBeforeTheRuleReplays(t *testing.T) {
	waiter := order.Actor{Device: "h1", Staff: "Alice", Role: order.RoleWaiter}
	r := replay{devices: map[order.Actor]bool{waiter: true}}
	rules := &order.PriceRules{TaxClasses: []order.TaxClass{{ID: "food", Name: "Food", RateBps: 1000}},
		ServiceCharge: &order.ServiceCharge{MinGuests: 6, RateBps: 1800, TaxClass: "food"}}
	id, line, pay := uuid.New(), uuid.New(), uuid.New()
	at := time.Date(2026, 6, 1, 20, 0, 0, 0, time.UTC)
	// 6 × 24.00 + 18 % service (2592) + 10 % food tax on both (1699).
	price, amount, zero := int64(2400), int64(14400+2592+1699), int64(0)
	six, one, five, seat, note := 6, 1, 5, 0, ""
	evs := []order.Event{
		{OrderID: id, Venue: "demo", Version: 1, Type: order.EventOpened, At: at, Actor: waiter,
			Ops: []order.Op{order.OpenOp("T1", 6, rules)}},
		{OrderID: id, Venue: "demo", Version: 2, Type: order.EventPatched, At: at.Add(time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpAddItem, LineID: &line, SKU: "steak", Name: "Steak", UnitPriceCents: &price,
				Station: "grill", Qty: &six, Seat: &seat, Course: &one, Modifiers: []string{}, Note: &note, TaxClass: "food"},
				{Op: order.OpSend, Lines: []uuid.UUID{line}}}},
		{OrderID: id, Venue: "demo", Version: 3, Type: order.EventPatched, At: at.Add(2 * time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpAddPayment, PaymentID: &pay, Tender: "card", AmountCents: &amount, TipCents: &zero}}},
		{OrderID: id, Venue: "demo", Version: 4, Type: order.EventPatched, At: at.Add(3 * time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpSetGuests, Guests: &five}}},
		{OrderID: id, Venue: "demo", Version: 5, Type: order.EventPatched, At: at.Add(4 * time.Minute), Actor: waiter,
			Ops: []order.Op{{Op: order.OpClose}}},
	}
	for _, ev := range evs {
		if _, reason := r.step(ev, marshal(ev.Ops)); reason != "" {
			t.Fatalf("version %d of a history posd wrote before the refund-required rule refused: %s", ev.Version, reason)
		}
		if ev.Version == 3 && r.cur.Totals.DueCents != 0 {
			t.Fatalf("the party paid the check: due %d", r.cur.Totals.DueCents)
		}
	}
	if r.cur.Status != order.StatusClosed || r.cur.Totals.DueCents >= 0 {
		t.Fatalf("the replayed order closed with money owed back: %s, due %d", r.cur.Status, r.cur.Totals.DueCents)
	}
}
