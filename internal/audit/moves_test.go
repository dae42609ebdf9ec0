package audit_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// TestForgedTicketMoves: the moves kitchen tickets record for sent lines
// that went to another table verify against the transfers and merges in
// the orders' logs; a move removed, pointed at another table, added by
// hand, or all of them wiped (with posd's own role, which may append
// them) is reported.
func TestForgedTicketMoves(t *testing.T) {
	t.Parallel()
	j := newJournal(t)
	ctx := context.Background()
	x1 := j.open("demo", "T6", alice)
	o := j.patch("demo", x1, 1, alice, `{"op":"add_item","sku":"steak","qty":2}`, `{"op":"add_item","sku":"burger"}`, `{"op":"send"}`)
	x2 := j.open("demo", "T7", bruno)
	j.patch("demo", x2, 1, bruno, `{"op":"add_item","sku":"beer"}`)
	steak := uuid.MustParse(lineID(t, o, "steak"))
	part := uuid.New()
	from, to, err := j.st.Transfer(ctx, "demo", store.Transfer{From: x1, Expected: o.Version, To: store.OrderRef{OrderID: &x2, Expected: 2},
		Lines: []order.LineMove{{LineID: steak, Qty: ptrInt(1), NewLineID: &part}}}, alice)
	require.NoError(t, err)
	// The rest of T6 (a steak and the burger, one ticket) merges into T7:
	// one append of two moves.
	merged, _, err := j.st.Merge(ctx, "demo", store.Merge{Into: x2, Expected: to.Version, From: store.OrderRef{OrderID: &x1, Expected: from.Version}}, bruno)
	require.NoError(t, err)
	tickets, err := j.st.OpenTickets(ctx, "demo", "grill")
	require.NoError(t, err)
	var ticket uuid.UUID
	for _, tk := range tickets {
		if tk.OrderID == x1 {
			ticket = tk.ID
			require.Len(t, tk.Moves, 3)
		}
	}
	require.NotEqual(t, uuid.Nil, ticket)
	j.requireOK("demo")

	cases := []tamperCase{
		{"a move removed", func(x tx) audit.Broken {
			x.exec(`UPDATE kitchen_tickets SET moves = moves - 2 WHERE id = $1`, ticket)
			return audit.Broken{OrderID: &x1, Version: merged.Version, EventID: x.eventID(x1, merged.Version),
				Reason: "no kitchen ticket shows it moving"}
		}},
		{"a move pointed at another table", func(x tx) audit.Broken {
			x.exec(`UPDATE kitchen_tickets SET moves = jsonb_set(moves, '{0,to_table}', '"T9"') WHERE id = $1`, ticket)
			return audit.Broken{OrderID: &x1, Version: o.Version, Reason: "was made by no transfer or merge"}
		}},
		{"a move added by hand", func(x tx) audit.Broken {
			x.exec(`UPDATE kitchen_tickets SET moves = moves || jsonb_build_array(
				jsonb_set(jsonb_set(moves->0, '{from_order}', to_jsonb($2::text)), '{to_order}', to_jsonb($3::text))) WHERE id = $1`,
				ticket, x2, x1)
			// It applies (the steak back from T7 to T6) but no log made it.
			return audit.Broken{OrderID: &x1, Version: o.Version, Reason: "move 3 (line " + steak.String() + " from order " + x2.String() +
				" to table T7) was made by no transfer or merge"}
		}},
		{"a move that takes what the ticket does not hold", func(x tx) audit.Broken {
			x.exec(`UPDATE kitchen_tickets SET moves = jsonb_set(moves, '{0,qty}', '5') WHERE id = $1`, ticket)
			return audit.Broken{OrderID: &x1, Version: o.Version, Reason: "do not apply to its lines"}
		}},
		{"every move wiped", func(x tx) audit.Broken {
			x.exec(`UPDATE kitchen_tickets SET moves = '[]' WHERE id = $1`, ticket)
			return audit.Broken{OrderID: &x1, Version: o.Version, Reason: "records 0 moves of its lines but its log 2 appends"}
		}},
	}
	requireEachCaught(t, j, cases)
	j.requireOK("demo")
}
