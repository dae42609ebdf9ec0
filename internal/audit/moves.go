package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
)

// Sent lines that move to another order keep their kitchen tickets, which
// record each move (kitchen.Move). A verify run collects, as it replays
// the logs, the move every transfer and merge of a sent line made; then it
// holds every ticket's recorded moves against them: each recorded move is
// one the logs made, each one the logs made is recorded, and each applies
// to what its ticket holds.

// moveKey is one move of a line as both the log and the ticket name it.
type moveKey struct {
	line, from, to, toLine uuid.UUID
	qty                    int
	toTable                string
	at                     int64
}

func keyOf(m kitchen.Move) moveKey {
	return moveKey{line: m.LineID, from: m.From, to: m.To, toLine: m.ToLine, qty: m.Qty, toTable: m.ToTable, at: m.At.UnixNano()}
}

// expectedMove is a move the logs made: where it was made, and the lines
// its ticket may know the line by (the line, then each line it was split
// from on its order).
type expectedMove struct {
	where  Broken
	lineOf []uuid.UUID
}

// ticketMoves collects the moves of sent lines a verify run replays.
type ticketMoves map[moveKey]expectedMove

// expect records the moves the op out (transfer_out or merge_into) of the
// event at where (written at at) made of before's sent lines; parent maps lines of before
// made by a check split to the line they came from.
func (tm ticketMoves) expect(before order.Order, out order.Op, parent map[uuid.UUID]uuid.UUID, at time.Time, where Broken) {
	taken := map[uuid.UUID]kitchen.Move{}
	switch out.Op {
	case order.OpTransferOut:
		for _, m := range out.Moves {
			if m.Qty == nil {
				continue // refused by the replay before this
			}
			mv := kitchen.Move{LineID: m.LineID, Qty: *m.Qty, ToLine: m.LineID}
			if m.NewLineID != nil {
				mv.ToLine = *m.NewLineID
			}
			taken[m.LineID] = mv
		}
	case order.OpMergeInto:
		for _, l := range before.Lines {
			taken[l.ID] = kitchen.Move{LineID: l.ID, Qty: l.Qty, ToLine: l.ID}
		}
	default:
		return
	}
	for _, l := range before.Lines {
		m, ok := taken[l.ID]
		if !ok || l.Status != order.LineSent {
			continue
		}
		m.From, m.To, m.ToTable, m.At = before.ID, *out.OrderID, out.Table, at
		chain := []uuid.UUID{l.ID}
		for up, ok := parent[l.ID]; ok && len(chain) <= len(parent); up, ok = parent[up] {
			chain = append(chain, up)
		}
		tm[keyOf(m)] = expectedMove{where: where, lineOf: chain}
	}
}

// checkTicketMoves holds the recorded moves of every ticket of venue that
// moved against the moves the logs made (tm, consumed). It returns the
// first that does not match, or nil.
func checkTicketMoves(ctx context.Context, j Journal, venue string, tm ticketMoves) (*Broken, error) {
	for after := uuid.Nil; ; {
		rows, err := j.MovedTicketsPage(ctx, venue, after, verifyPage)
		if err != nil {
			return nil, fmt.Errorf("read kitchen tickets that moved: %w", err)
		}
		for _, r := range rows {
			oid := r.OrderID
			broken := func(format string, a ...any) *Broken {
				return &Broken{OrderID: &oid, Version: r.OrderVersion, Reason: fmt.Sprintf("ticket %s: ", r.ID) + fmt.Sprintf(format, a...)}
			}
			t := kitchen.Ticket{ID: r.ID, OrderID: r.OrderID, Table: r.Table}
			if json.Unmarshal([]byte(r.Lines), &t.Lines) != nil || json.Unmarshal([]byte(r.Moves), &t.Moves) != nil {
				return broken("its lines or moves are not valid JSON"), nil
			}
			if _, err := t.Pieces(); err != nil {
				return broken("its moves do not apply to its lines: %v", err), nil
			}
			for i, m := range t.Moves {
				e, ok := tm[keyOf(m)]
				if !ok {
					return broken("move %d (line %s from order %s to table %s) was made by no transfer or merge in the orders' logs",
						i, m.LineID, m.From, m.ToTable), nil
				}
				if !slices.Contains(e.lineOf, m.TicketLine) {
					return broken("move %d names line %s, which line %s did not come from", i, m.TicketLine, m.LineID), nil
				}
				delete(tm, keyOf(m))
			}
		}
		if len(rows) < verifyPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	// A stable answer: the oldest move no ticket records.
	var first *moveKey
	for k := range tm {
		if first == nil || k.at < first.at || k.at == first.at && k.line.String() < first.line.String() {
			k := k
			first = &k
		}
	}
	if first != nil {
		b := tm[*first].where
		b.Reason = fmt.Sprintf("sent line %s moved to table %s, but no kitchen ticket shows it moving", first.line, first.toTable)
		return &b, nil
	}
	return nil, nil
}
