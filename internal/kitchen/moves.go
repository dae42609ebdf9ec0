package kitchen

import (
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// Sent lines that move to another table's order (a transfer or a merge)
// keep their kitchen tickets: the cook is not asked to cook them again, and
// the ticket says where they are now. A ticket keeps its id, order, table
// and lines as they were fired; Moves lists, oldest first, each move of one
// of its lines or of a part of one.

// MsgMoved is the kitchen message of a ticket some of whose lines moved
// to another table: the ticket with all its moves.
const MsgMoved = "ticket.moved"

// MaxTicketMoves is the most moves one ticket records: a ticket whose lines
// moved that often is refused further moves (the kitchen screen, and every
// message of the ticket, carries them all).
const MaxTicketMoves = 500

// Move is one move of a ticket's line, as the transfer or merge that made
// it wrote it in both orders' logs: Qty of line LineID left order From for
// order To (on table ToTable), where it is line ToLine (LineID itself when
// the whole line moved). TicketLine is the line the ticket knows the part
// by: LineID, or the line LineID was split from on its order (a check
// split of a sent line makes a new line the ticket never saw).
type Move struct {
	LineID     uuid.UUID `json:"line_id"`
	TicketLine uuid.UUID `json:"ticket_line"`
	Qty        int       `json:"qty"`
	From       uuid.UUID `json:"from_order"`
	To         uuid.UUID `json:"to_order"`
	ToTable    string    `json:"to_table"`
	ToLine     uuid.UUID `json:"to_line"`
	At         time.Time `json:"at"`
}

// Piece is a part of a ticket's lines as it is now: Qty of the ticket's
// line Lines[Index] is on order Order (table Table), known there by LineID
// (the line, or one it was split from on that order).
type Piece struct {
	Index  int
	LineID uuid.UUID
	Qty    int
	Order  uuid.UUID
	Table  string
}

// Pieces folds the ticket's moves over its lines: where each part of what
// it fired is now, in line order. A move of more than a piece holds, or of
// a piece that is not on the order it names, is an error: posd never
// writes one.
func (t Ticket) Pieces() ([]Piece, error) {
	pieces := make([]Piece, 0, len(t.Lines)+len(t.Moves))
	for i, l := range t.Lines {
		pieces = append(pieces, Piece{Index: i, LineID: l.LineID, Qty: l.Qty, Order: t.OrderID, Table: t.Table})
	}
	find := func(line, on uuid.UUID) int {
		return slices.IndexFunc(pieces, func(p Piece) bool { return p.LineID == line && p.Order == on })
	}
	for i, m := range t.Moves {
		at := find(m.TicketLine, m.From)
		if at < 0 || m.Qty < 1 || m.Qty > pieces[at].Qty || m.From == m.To {
			return nil, fmt.Errorf("ticket %s: move %d takes %d of line %s from order %s, which the ticket does not hold there",
				t.ID, i, m.Qty, m.TicketLine, m.From)
		}
		idx := pieces[at].Index
		if pieces[at].Qty -= m.Qty; pieces[at].Qty == 0 {
			pieces = slices.Delete(pieces, at, at+1)
		}
		if to := find(m.ToLine, m.To); to >= 0 {
			pieces[to].Qty += m.Qty
			continue
		}
		pieces = append(pieces, Piece{Index: idx, LineID: m.ToLine, Qty: m.Qty, Order: m.To, Table: m.ToTable})
	}
	slices.SortStableFunc(pieces, func(a, b Piece) int { return a.Index - b.Index })
	return pieces, nil
}

// MovesFor returns, per ticket, the moves a transfer or merge makes of the
// sent lines it takes: out is its op in the source's log (transfer_out or
// merge_into, naming the destination), src the source before the change,
// tickets those that may hold src's lines (ListLineTickets), and parent
// the line each line of src was split from on src, if any (nil when no
// check split made a sent line). The sent lines it takes that no ticket
// holds are returned as missing, so the caller can look further (through
// the order's log, SplitParents). A ticket past MaxTicketMoves is a
// *order.ValidationError naming "lines".
func MovesFor(src order.Order, out order.Op, tickets []Ticket, parent map[uuid.UUID]uuid.UUID, at time.Time) (map[uuid.UUID][]Move, []uuid.UUID, error) {
	type taken struct {
		qty    int
		toLine uuid.UUID
	}
	moving := map[uuid.UUID]taken{}
	switch out.Op {
	case order.OpTransferOut:
		for _, m := range out.Moves {
			t := taken{qty: *m.Qty, toLine: m.LineID}
			if m.NewLineID != nil {
				t.toLine = *m.NewLineID
			}
			moving[m.LineID] = t
		}
	case order.OpMergeInto:
		for _, l := range src.Lines {
			moving[l.ID] = taken{qty: l.Qty, toLine: l.ID}
		}
	default:
		return nil, nil, fmt.Errorf("kitchen: %s moves no lines to another order", out.Op)
	}
	// Where each ticket's pieces on src are.
	type held struct {
		ticket int
		qty    int
	}
	holding := map[uuid.UUID]*held{}
	for i, t := range tickets {
		pieces, err := t.Pieces()
		if err != nil {
			return nil, nil, err
		}
		for _, p := range pieces {
			if p.Order == src.ID {
				holding[p.LineID] = &held{ticket: i, qty: p.Qty}
			}
		}
	}
	moves := map[uuid.UUID][]Move{}
	var missing []uuid.UUID
	for _, l := range src.Lines {
		m, ok := moving[l.ID]
		if !ok || l.Status != order.LineSent {
			continue
		}
		// The ticket's piece: the line, or the line it was split from
		// (and so on up) on this order.
		line, h := l.ID, holding[l.ID]
		for seen := 0; (h == nil || h.qty < m.qty) && seen <= len(src.Lines)+len(parent); seen++ {
			up, ok := parent[line]
			if !ok {
				h = nil
				break
			}
			line, h = up, holding[up]
		}
		if h == nil || h.qty < m.qty {
			missing = append(missing, l.ID)
			continue
		}
		h.qty -= m.qty
		t := tickets[h.ticket]
		moves[t.ID] = append(moves[t.ID], Move{LineID: l.ID, TicketLine: line, Qty: m.qty, From: src.ID,
			To: *out.OrderID, ToTable: out.Table, ToLine: m.toLine, At: at})
		if n := len(t.Moves) + len(moves[t.ID]); n > MaxTicketMoves {
			return nil, nil, &order.ValidationError{Problems: []order.FieldProblem{{Field: "lines", Detail: fmt.Sprintf(
				"the %s ticket of these lines has moved %d times; at most %d", t.Station, len(t.Moves), MaxTicketMoves)}}}
		}
	}
	return moves, missing, nil
}

// SplitParents maps each line a check split made (move_to_check of part
// of a line) to the line it was split from, over an order's log.
func SplitParents(events []order.Event) map[uuid.UUID]uuid.UUID {
	parent := map[uuid.UUID]uuid.UUID{}
	for _, ev := range events {
		for _, op := range ev.Ops {
			if op.Op == order.OpMoveToCheck && op.NewLineID != nil && op.LineID != nil {
				parent[*op.NewLineID] = *op.LineID
			}
		}
	}
	return parent
}
