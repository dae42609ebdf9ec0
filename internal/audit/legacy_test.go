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
