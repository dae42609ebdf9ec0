package apitest

import (
	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// Op builders: each returns the order.Op a client sends, e.g.
// AddItem("burger", 2, Seat(1)), Remove(lineID), Fire(), Pay("card", 2400, 300).

// ItemOpt sets an optional member of an add_item op.
type ItemOpt func(*order.Op)

// LineID chooses the new line's id.
func LineID(id uuid.UUID) ItemOpt { return func(o *order.Op) { o.LineID = &id } }

// Seat sets the line's seat.
func Seat(n int) ItemOpt { return func(o *order.Op) { o.Seat = &n } }

// Course sets the line's course.
func Course(n int) ItemOpt { return func(o *order.Op) { o.Course = &n } }

// Mods sets the line's modifiers.
func Mods(m ...string) ItemOpt { return func(o *order.Op) { o.Modifiers = m } }

// Choose chooses modifier options, each a group and an option id:
// Choose("temp", "mr", "sides", "truffle-fries").
func Choose(groupOption ...string) ItemOpt {
	return func(o *order.Op) {
		for i := 0; i+1 < len(groupOption); i += 2 {
			o.Options = append(o.Options, order.LineOption{Group: groupOption[i], Option: groupOption[i+1]})
		}
	}
}

// LineNote sets the line's note.
func LineNote(s string) ItemOpt { return func(o *order.Op) { o.Note = &s } }

// AddItem adds qty of sku.
func AddItem(sku string, qty int, opts ...ItemOpt) order.Op {
	o := order.Op{Op: order.OpAddItem, SKU: sku, Qty: &qty}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// SetQty changes a pending line's quantity.
func SetQty(line uuid.UUID, qty int) order.Op {
	return order.Op{Op: order.OpSetQty, LineID: &line, Qty: &qty}
}

// Remove removes a pending line.
func Remove(line uuid.UUID) order.Op { return order.Op{Op: order.OpRemoveItem, LineID: &line} }

// Void voids a sent line (managers only).
func Void(line uuid.UUID, reason string) order.Op {
	return order.Op{Op: order.OpVoidItem, LineID: &line, Reason: reason}
}

// Comp comps a line (managers only).
func Comp(line uuid.UUID, reason string) order.Op {
	return order.Op{Op: order.OpCompItem, LineID: &line, Reason: reason}
}

// SetGuests sets the guest count.
func SetGuests(n int) order.Op { return order.Op{Op: order.OpSetGuests, Guests: &n} }

// SetNote sets the order's note ("" clears it).
func SetNote(s string) order.Op { return order.Op{Op: order.OpSetNote, Note: &s} }

// Move moves the order to another table.
func Move(table string) order.Op { return order.Op{Op: order.OpMoveTable, Table: table} }

// Fire sends every pending line to the kitchen.
func Fire() order.Op { return order.Op{Op: order.OpSend} }

// FireCourse sends the pending lines of one course.
func FireCourse(course int) order.Op { return order.Op{Op: order.OpSend, Course: &course} }

// Pay takes a payment.
func Pay(tender string, amount, tip int64) order.Op {
	return order.Op{Op: order.OpAddPayment, Tender: tender, AmountCents: &amount, TipCents: &tip}
}

// PayNoTip takes a payment without a tip_cents member.
func PayNoTip(tender string, amount int64) order.Op {
	return order.Op{Op: order.OpAddPayment, Tender: tender, AmountCents: &amount}
}

// Close closes the order.
func Close() order.Op { return order.Op{Op: order.OpClose} }

// Lines returns the ids of an order's lines of sku, in order.
func Lines(o order.Order, sku string) []uuid.UUID {
	var ids []uuid.UUID
	for _, l := range o.Lines {
		if l.SKU == sku {
			ids = append(ids, l.ID)
		}
	}
	return ids
}

// LineOf returns the order's one line of sku (uuid.Nil when there is not
// exactly one).
func LineOf(o order.Order, sku string) uuid.UUID {
	ids := Lines(o, sku)
	if len(ids) != 1 {
		return uuid.Nil
	}
	return ids[0]
}

// DiscountOpt sets an optional member of an add_discount op.
type DiscountOpt func(*order.Op)

// DiscountID names the discount (otherwise the server does).
func DiscountID(id string) DiscountOpt { return func(o *order.Op) { o.ID = id } }

// OnLine makes the discount one of a line rather than of the whole order.
func OnLine(line uuid.UUID) DiscountOpt { return func(o *order.Op) { o.LineID = &line } }

// PercentOff discounts bps basis points (1000 = 10 %), managers only.
func PercentOff(bps int64, reason string, opts ...DiscountOpt) order.Op {
	o := order.Op{Op: order.OpAddDiscount, PercentBps: &bps, Reason: reason}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// AmountOff discounts cents, managers only.
func AmountOff(cents int64, reason string, opts ...DiscountOpt) order.Op {
	o := order.Op{Op: order.OpAddDiscount, AmountCents: &cents, Reason: reason}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// RemoveDiscount takes a discount off, managers only.
func RemoveDiscount(id string) order.Op { return order.Op{Op: order.OpRemoveDiscount, DiscountID: id} }

// WaiveServiceCharge waives the automatic service charge, managers only.
func WaiveServiceCharge(reason string) order.Op {
	return order.Op{Op: order.OpWaiveServiceCharge, Reason: reason}
}

// Refund refunds cents of the order's payment at index, managers only.
func Refund(index int, cents int64, reason string) order.Op {
	return order.Op{Op: order.OpRefundPayment, PaymentIndex: &index, AmountCents: &cents, Reason: reason}
}

// RefundTip refunds cents of the amount and tip cents of the tip of the
// order's payment at index, managers only.
func RefundTip(index int, cents, tip int64, reason string) order.Op {
	return order.Op{Op: order.OpRefundPayment, PaymentIndex: &index, AmountCents: &cents, TipCents: &tip, Reason: reason}
}

// RefundID refunds cents of the payment with the given id, managers only.
func RefundID(payment uuid.UUID, cents int64, reason string) order.Op {
	return order.Op{Op: order.OpRefundPayment, PaymentID: &payment, AmountCents: &cents, Reason: reason}
}
