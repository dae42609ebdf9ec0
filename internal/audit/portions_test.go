package audit

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// TestPortionsReplay: verify replays the portions a line holds as posd
// records them (an add_item of a counted item holds its quantity; a
// set_qty raising it takes the added quantity while counted, nothing
// otherwise; lowering keeps at most the new quantity) and refuses a log
// whose lines hold portions posd would not have given them.
func TestPortionsReplay(t *testing.T) {
	waiter := order.Actor{Device: "h1", Staff: "Alice", Role: order.RoleWaiter}
	at := time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC)
	fish, steak := uuid.New(), uuid.New()
	price, seat, one, note := int64(1700), 0, 1, ""
	n := func(v int) *int { return &v }
	add := func(line uuid.UUID, sku string, qty int, portions *int) order.Op {
		return order.Op{Op: order.OpAddItem, LineID: &line, SKU: sku, Name: sku, UnitPriceCents: &price,
			Station: "fry", Qty: n(qty), Seat: &seat, Course: &one, Modifiers: []string{}, Note: &note, Portions: portions}
	}
	setQty := func(line uuid.UUID, qty int, portions *int) order.Op {
		return order.Op{Op: order.OpSetQty, LineID: &line, Qty: n(qty), Portions: portions}
	}
	history := func(changes ...[]order.Op) []order.Event {
		id := uuid.New()
		evs := []order.Event{{OrderID: id, Venue: "demo", Version: 1, Type: order.EventOpened, At: at, Actor: waiter,
			Ops: []order.Op{order.OpenOp("T1", 2, nil)}}}
		for i, ops := range changes {
			evs = append(evs, order.Event{OrderID: id, Venue: "demo", Version: int64(i + 2), Type: order.EventPatched,
				At: at.Add(time.Duration(i+1) * time.Minute), Actor: waiter, Ops: ops})
		}
		return evs
	}
	replayed := func(evs []order.Event) string {
		r := replay{devices: map[order.Actor]bool{waiter: true}}
		for _, ev := range evs {
			if _, reason := r.step(ev, marshal(ev.Ops)); reason != "" {
				return reason
			}
		}
		return ""
	}
	legit := history(
		[]order.Op{add(fish, "fish", 2, n(2)), add(steak, "steak", 2, nil)}, // fish counted, steak not
		[]order.Op{setQty(fish, 4, n(4)), setQty(steak, 3, nil)},            // raised while counted / not
		[]order.Op{setQty(fish, 5, n(4))},                                   // raised after counting stopped
		[]order.Op{setQty(fish, 1, n(1))},                                   // lowered: keeps one
		[]order.Op{{Op: order.OpRemoveItem, LineID: &fish, SKU: "fish"}},
	)
	require.Empty(t, replayed(legit))

	for name, evs := range map[string][]order.Event{
		"an add_item holding more than its quantity": history([]order.Op{add(fish, "fish", 2, n(3))}),
		"a set_qty taking more than it adds":         history([]order.Op{add(fish, "fish", 2, n(2))}, []order.Op{setQty(fish, 3, n(5))}),
		"a lowered line keeping more than its qty":   history([]order.Op{add(fish, "fish", 3, n(3))}, []order.Op{setQty(fish, 1, n(3))}),
		"a set_qty of an uncounted line taking some": history([]order.Op{add(steak, "steak", 1, nil)}, []order.Op{setQty(steak, 2, n(2))}),
	} {
		require.Contains(t, replayed(evs), "not what posd applies", name)
	}
}
