package kitchen_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
)

func newID() uuid.UUID { return uuid.Must(uuid.NewV7()) }

// banquet is an order whose lines are all pending on the grill, each with
// modifiers and a note of the given text, and the send of all of them.
func banquet(n int, text string) (order.Order, []order.Op) {
	o := order.Order{ID: newID(), Table: "T1", Server: "Alice"}
	var sent []uuid.UUID
	for i := 0; i < n; i++ {
		mods := make([]string, order.MaxModifiers)
		for j := range mods {
			mods[j] = text[:min(len(text), order.MaxModifierLen)]
		}
		l := order.Line{ID: newID(), SKU: "steak", Name: "Steak", Qty: 1, Course: 1, Station: "grill",
			Status: order.LineSent, Modifiers: mods, Note: text[:min(len(text), order.MaxNoteLen)]}
		o.Lines = append(o.Lines, l)
		sent = append(sent, l.ID)
	}
	return o, []order.Op{{Op: order.OpSend, Lines: sent}}
}

// TestTicketsForSplitsLargeFires: a fire over MaxTicketLines lines, or over
// MaxTicketLineBytes of encoded lines, becomes several tickets for the same
// station, numbered part 1..parts, with every line once and in order, each
// with its own id; a small fire is part 1 of 1.
func TestTicketsForSplitsLargeFires(t *testing.T) {
	at := time.Now().UTC()
	for _, c := range []struct {
		name      string
		lines     int
		text      string
		wantParts int
	}{
		{"small", 3, "no salt", 1},
		{"at the line bound", kitchen.MaxTicketLines, "x", 1},
		{"over the line bound", 120, "x", 3},
		// '<' is escaped as \u003c: 1,080 characters become ~6.5 KB a line.
		{"over the byte bound", order.MaxLinesPerOrder, strings.Repeat("<", 300), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, ops := banquet(c.lines, c.text)
			tickets := kitchen.TicketsFor(o, ops, "", at, newID)
			if c.wantParts > 0 {
				require.Len(t, tickets, c.wantParts)
			} else {
				require.Greater(t, len(tickets), order.MaxLinesPerOrder/kitchen.MaxTicketLines, "the byte bound splits further than the line bound")
			}
			ids := map[uuid.UUID]bool{}
			var got []uuid.UUID
			for i, tk := range tickets {
				require.Equal(t, i+1, tk.Part)
				require.Equal(t, len(tickets), tk.Parts)
				require.Equal(t, "grill", tk.Station)
				require.Equal(t, kitchen.KindFire, tk.Kind)
				require.LessOrEqual(t, len(tk.Lines), kitchen.MaxTicketLines)
				lines, err := json.Marshal(tk.Lines)
				require.NoError(t, err)
				require.LessOrEqual(t, len(lines), kitchen.MaxTicketLineBytes)
				msg, err := json.Marshal(kitchen.Message{Type: kitchen.MsgCreated, Ticket: tk})
				require.NoError(t, err)
				require.Less(t, len(msg), 1<<20, "a kitchen message stays under NATS's max_payload")
				require.False(t, ids[tk.ID], "part %d reuses an id", tk.Part)
				ids[tk.ID] = true
				for _, l := range tk.Lines {
					got = append(got, l.LineID)
				}
			}
			require.Equal(t, ops[0].Lines, got, "every line once, in order")
		})
	}
}
