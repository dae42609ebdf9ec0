package audit

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// A transfer or merge writes one event in each of two orders' logs: the
// source's says where the lines went (transfer_out, merge_into), the
// destination's carries them as they arrived (transfer_in, merge_from).
// Each half is checked against its own order's rules as the log is
// replayed; pairLinks then checks that every half has its other half, at
// the same time, and that what arrived is exactly what left.

// pairKey names one change between two orders.
type pairKey struct {
	src, dst uuid.UUID
	at       int64 // UnixNano of both events
	merge    bool
}

// pairSide is what one half of a change says and saw.
type pairSide struct {
	seen bool
	// lines are the lines that moved, as the source had them (out) or as
	// they arrived (in), without their position and check.
	lines []byte
	// table is the order's own table then; other the table the op names
	// for the other order.
	table, other string
	// guests: out, the source's guests; in, the guests merge_from added
	// and the destination's guests before.
	guests, before int
	where          Broken
}

type pairLink struct{ out, in pairSide }

// pairLinks collects the halves of every change between two orders a
// verify run replays.
type pairLinks map[pairKey]*pairLink

func (p *pairLinks) side(k pairKey, out bool) *pairSide {
	if *p == nil {
		*p = pairLinks{}
	}
	l := (*p)[k]
	if l == nil {
		l = &pairLink{}
		(*p)[k] = l
	}
	if out {
		return &l.out
	}
	return &l.in
}

// broken is the first change between two orders whose halves do not
// match, or nil.
func (p pairLinks) broken() *Broken {
	keys := make([]pairKey, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	// A stable answer: oldest change first.
	slices.SortFunc(keys, func(a, b pairKey) int {
		if a.at != b.at {
			return int(max(min(a.at-b.at, 1), -1))
		}
		return bytes.Compare(a.src[:], b.src[:])
	})
	for _, k := range keys {
		l := p[k]
		kind := "transfer"
		if k.merge {
			kind = "merge"
		}
		switch {
		case !l.in.seen:
			b := l.out.where
			b.Reason = fmt.Sprintf("a %s to order %s that has no matching event in that order's log", kind, k.dst)
			return &b
		case !l.out.seen:
			b := l.in.where
			b.Reason = fmt.Sprintf("a %s from order %s that has no matching event in that order's log", kind, k.src)
			return &b
		case !bytes.Equal(l.out.lines, l.in.lines):
			b := l.in.where
			b.Reason = fmt.Sprintf("the lines that arrived by this %s are not the lines that left order %s", kind, k.src)
			return &b
		case l.out.other != l.in.table || l.in.other != l.out.table:
			b := l.in.where
			b.Reason = fmt.Sprintf("the %s's two events name other tables than the orders were on", kind)
			return &b
		case k.merge && l.in.guests != min(l.out.guests, order.MaxGuests-l.in.before):
			b := l.in.where
			b.Reason = "the merge added other guests than the merged order had"
			return &b
		}
	}
	return nil
}

// movedLines is the canonical form of lines that moved: position and
// check left out (the destination gives both).
func movedLines(lines []order.Line) []byte {
	out := make([]order.Line, len(lines))
	for i, l := range lines {
		l.Position, l.Check, l.SharedBy = 0, 0, nil
		out[i] = l
	}
	return marshal(out)
}

// checkPair checks the one op of an event that is half of a change
// between two orders, moves the replayed order on, and records the half
// in r.pairs. It returns why posd could not have written it, or "".
func (r *replay) checkPair(ev order.Event, a order.Op) string {
	id, eid := r.cur.ID, ev.ID
	where := Broken{OrderID: &id, Version: ev.Version, EventID: &eid}
	if a.OrderID == nil || *a.OrderID == r.cur.ID {
		return fmt.Sprintf("%s names no other order", a.Op)
	}
	other := order.Order{ID: *a.OrderID, Table: a.Table, Status: order.StatusOpen, Lines: []order.Line{}}
	env := order.Env{Actor: ev.Actor, Replay: true}
	var side *pairSide
	switch a.Op {
	case order.OpTransferOut, order.OpMergeInto:
		var t order.Transfer
		var err error
		if a.Op == order.OpTransferOut {
			moves := make([]order.LineMove, len(a.Moves))
			for i, m := range a.Moves {
				moves[i] = order.LineMove{LineID: m.LineID, Qty: m.Qty, NewLineID: m.NewLineID}
				if m.Qty == nil {
					return "transfer_out names a line without its quantity"
				}
			}
			t, err = order.PlanTransfer(r.cur, other, moves, 1, ev.At, env)
		} else {
			t, err = order.PlanMerge(r.cur, other, ev.At, env)
		}
		if err != nil {
			return "the change breaks the order's rules: " + err.Error()
		}
		if !bytes.Equal(marshal(t.OutOp), marshal(a)) {
			return fmt.Sprintf("%s is not what posd writes for the lines it names", a.Op)
		}
		side = r.pairs.side(pairKey{src: r.cur.ID, dst: *a.OrderID, at: ev.At.UnixNano(), merge: a.Op == order.OpMergeInto}, true)
		side.lines, side.guests = movedLines(t.InOp.Items), r.cur.Guests
		side.table, side.other = r.cur.Table, a.Table
		r.cur = t.From
	case order.OpTransferIn, order.OpMergeFrom:
		if reason := arrivingLines(r.cur, a); reason != "" {
			return reason
		}
		side = r.pairs.side(pairKey{src: *a.OrderID, dst: r.cur.ID, at: ev.At.UnixNano(), merge: a.Op == order.OpMergeFrom}, false)
		side.lines, side.before = movedLines(a.Items), r.cur.Guests
		side.table, side.other = r.cur.Table, a.Table
		if a.Guests != nil {
			side.guests = *a.Guests
		}
		next, err := order.ApplyLogged(r.cur, a, ev.At, ev.Actor)
		if err != nil {
			return "the change does not apply: " + err.Error()
		}
		r.cur = next
	}
	if side.seen {
		return fmt.Sprintf("a second %s between the same two orders at the same time", a.Op)
	}
	side.seen, side.where = true, where
	r.cur.Version, r.cur.UpdatedAt = ev.Version, ev.At
	return ""
}

// arrivingLines says why the lines a transfer_in or merge_from brings
// could not be lines posd moved, or "".
func arrivingLines(cur order.Order, a order.Op) string {
	switch {
	case len(a.Items) == 0:
		return a.Op + " brings no lines"
	case len(cur.Lines)+len(a.Items) > order.MaxLinesPerOrder:
		return fmt.Sprintf("%s would make the order hold more than %d lines", a.Op, order.MaxLinesPerOrder)
	case a.Op == order.OpTransferIn && a.Guests != nil:
		return "transfer_in adds guests"
	case a.Op == order.OpMergeFrom && (a.Guests == nil || *a.Guests < 0):
		return "merge_from names no guests"
	}
	for i, l := range a.Items {
		switch {
		case l.Status != order.LinePending && l.Status != order.LineSent && !(a.Op == order.OpMergeFrom && l.Status == order.LineVoided):
			return fmt.Sprintf("%s line %d is %q", a.Op, i, l.Status)
		case l.Qty < order.MinQty || l.Qty > order.MaxQty:
			return fmt.Sprintf("%s line %d has qty %d", a.Op, i, l.Qty)
		case l.SharedBy != nil || l.Check < 1 || l.Check > order.MaxChecks || (a.Op == order.OpMergeFrom && l.Check != 1):
			return fmt.Sprintf("%s line %d is on no check posd puts an arriving line on", a.Op, i)
		}
	}
	return ""
}

// pairOp reports whether op is half of a change between two orders.
func pairOp(op string) bool {
	switch op {
	case order.OpTransferOut, order.OpTransferIn, order.OpMergeInto, order.OpMergeFrom:
		return true
	}
	return false
}
