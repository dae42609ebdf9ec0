package order

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Bounds of a Summary.
const (
	// MaxSummaryLen is the most characters (runes) a summary has.
	MaxSummaryLen = 200
	// maxSummaryPart is the most characters one op's part has (a note or
	// a reason is cut to fit, ending in "…").
	maxSummaryPart = 80
)

// Summary says in words what an event's applied ops changed, e.g.
// "+2 Steak frites (seat 1), sent course 2". before is the order as it was
// before the event (nil for an order.opened, or when unknown): it gives the
// names and old values the ops do not record (set_qty records only the new
// quantity, move_table only the new table); without it those parts name
// only what the op holds. The result is at most MaxSummaryLen characters;
// parts that do not fit are counted as "…, +N more".
func Summary(before *Order, ops []Op) string {
	lines := map[uuid.UUID]Line{}
	if before != nil {
		for _, l := range before.Lines {
			lines[l.ID] = l
		}
	}
	parts := make([]string, 0, len(ops))
	for _, op := range ops {
		parts = append(parts, cut(summarize(before, lines, op), maxSummaryPart))
		if op.Op == OpAddItem && op.LineID != nil {
			lines[*op.LineID] = Line{ID: *op.LineID, SKU: op.SKU, Name: op.Name, Qty: derefInt(op.Qty)}
		}
		if op.Op == OpSetQty && op.LineID != nil {
			if l, ok := lines[*op.LineID]; ok {
				l.Qty = derefInt(op.Qty)
				lines[*op.LineID] = l
			}
		}
	}
	var b strings.Builder
	n := 0 // runes written
	for i, p := range parts {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		more := ""
		if left := len(parts) - i - 1; left > 0 {
			more = fmt.Sprintf("…, +%d more", left)
		}
		size := utf8.RuneCountInString(sep + p)
		// The part fits if, after it, there is still room to say how many
		// did not (unless it is the last).
		if n+size+utf8.RuneCountInString(more) > MaxSummaryLen {
			b.WriteString(fmt.Sprintf("…, +%d more", len(parts)-i))
			return b.String()
		}
		b.WriteString(sep + p)
		n += size
	}
	return b.String()
}

// summarize is one op's part of a summary.
func summarize(before *Order, lines map[uuid.UUID]Line, op Op) string {
	name := func() string {
		if op.Name != "" {
			return op.Name
		}
		if op.LineID != nil {
			if l, ok := lines[*op.LineID]; ok && l.Name != "" {
				return l.Name
			}
		}
		if op.SKU != "" {
			return op.SKU
		}
		return "a line"
	}
	because := func(s string) string {
		if op.Reason == "" {
			return s
		}
		return s + ": " + op.Reason
	}
	switch op.Op {
	case OpOpen:
		return fmt.Sprintf("opened for %d guests", derefInt(op.Guests))
	case OpAddItem:
		s := fmt.Sprintf("+%d %s", derefInt(op.Qty), name())
		if seat := derefInt(op.Seat); seat > 0 {
			s += fmt.Sprintf(" (seat %d)", seat)
		}
		return s
	case OpSetQty:
		if op.LineID != nil {
			if l, ok := lines[*op.LineID]; ok {
				return fmt.Sprintf("qty %s %d→%d", name(), l.Qty, derefInt(op.Qty))
			}
		}
		return fmt.Sprintf("qty %s →%d", name(), derefInt(op.Qty))
	case OpRemoveItem:
		return "removed " + name()
	case OpVoidItem:
		return because(fmt.Sprintf("voided %d %s", derefInt(op.Qty), name()))
	case OpCompItem:
		return because("comped " + name())
	case OpSetGuests:
		if before != nil {
			return fmt.Sprintf("guests %d→%d", before.Guests, derefInt(op.Guests))
		}
		return fmt.Sprintf("guests %d", derefInt(op.Guests))
	case OpSetNote:
		if derefStr(op.Note) == "" {
			return "note cleared"
		}
		return "note: " + oneLine(derefStr(op.Note))
	case OpMoveTable:
		if before != nil {
			return fmt.Sprintf("moved %s→%s", before.Table, op.Table)
		}
		return "moved to " + op.Table
	case OpSend:
		if op.Course != nil {
			return fmt.Sprintf("sent course %d", *op.Course)
		}
		return "sent"
	case OpAddPayment:
		amount, tip := derefInt64(op.AmountCents), derefInt64(op.TipCents)
		if amount == 0 {
			return fmt.Sprintf("tip %s %s", money(tip), op.Tender)
		}
		s := fmt.Sprintf("paid %s %s", money(amount), op.Tender)
		if tip > 0 {
			s += fmt.Sprintf(" (+%s tip)", money(tip))
		}
		return s
	case OpRefundPayment:
		s := fmt.Sprintf("refund %s %s", money(derefInt64(op.AmountCents)), op.Tender)
		if tip := derefInt64(op.TipCents); tip > 0 {
			s += fmt.Sprintf(" (+%s tip)", money(tip))
		}
		return because(s)
	case OpAddDiscount:
		s := "discount "
		if op.PercentBps != nil {
			s += percent(*op.PercentBps)
		} else {
			s += money(derefInt64(op.AmountCents))
		}
		if op.LineID != nil {
			s += " on " + name()
		}
		return because(s)
	case OpRemoveDiscount:
		return "removed discount " + op.DiscountID
	case OpWaiveServiceCharge:
		return because("waived service charge")
	case OpClose:
		return "closed"
	}
	return op.Op
}

// money writes minor units with two decimals: 4850 is "48.50".
func money(cents int64) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// percent writes basis points as a percentage: 1000 is "10%", 1250 "12.5%".
func percent(bps int64) string {
	return strconv.FormatFloat(float64(bps)/100, 'f', -1, 64) + "%"
}

// oneLine puts a multi-line note on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// cut bounds s to max runes, ending in "…" when it was longer.
func cut(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

func derefInt64(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// Next is the order after ev, the event of its next version: for version
// 1 (an order.opened) o is the zero Order. It is Fold's step, for a reader
// that keeps an order and follows its events; totals are not recomputed.
// o is not modified.
func (o Order) Next(ev Event) (Order, error) {
	if ev.Version == 1 {
		return Fold([]Event{ev})
	}
	n := o.Clone()
	if err := n.step(ev); err != nil {
		return Order{}, err
	}
	return n, nil
}
