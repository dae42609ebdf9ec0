// Package order is the table-order aggregate: its state, the operations a
// handheld may apply to it, the rules those operations obey, and the folding of
// the event log back into an order. It knows nothing of HTTP, SQL or NATS.
package order

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Order statuses.
const (
	StatusOpen   = "open"
	StatusClosed = "closed"
)

// Line statuses.
const (
	LinePending = "pending"
	LineSent    = "sent"
	LineVoided  = "voided"
)

// Event types.
const (
	EventOpened  = "order.opened"
	EventPatched = "order.patched"
)

// Roles a device may hold.
const (
	RoleWaiter  = "waiter"
	RoleManager = "manager"
	RoleKitchen = "kitchen"
	RoleAuditor = "auditor"
)

// Order is one table's check as the API shows it. Version counts the events
// of the order: version N is the state after its N-th event.
type Order struct {
	ID       uuid.UUID `json:"id"`
	Venue    string    `json:"venue"`
	Table    string    `json:"table"`
	Status   string    `json:"status"`
	Guests   int       `json:"guests"`
	Note     string    `json:"note"`
	Version  int64     `json:"version"`
	Server   string    `json:"server"`
	Lines    []Line    `json:"lines"`
	Payments []Payment `json:"payments"`
	// Discounts are the manager's discounts, in the order given (pricing
	// applies them in that order), each with what it took off.
	Discounts []OrderDiscount `json:"discounts"`
	// ServiceChargeWaiver is set when a manager waived the automatic
	// service charge.
	ServiceChargeWaiver *Waiver `json:"service_charge_waiver"`
	// Taxes is the tax of each class the order falls under (docs/PRICING.md).
	Taxes  []TaxPricing `json:"taxes"`
	Totals Totals       `json:"totals"`
	// Checks are the order's checks, lowest number first, each with its
	// own totals (DESIGN.md section 11; docs/PRICING.md "Checks"): check 1
	// always, and every check a line, a share of a line or a payment
	// names. Totals is their sum, field by field. Computed, never stored.
	Checks []Check `json:"checks"`
	// MergedInto is the order this one was merged into (POST
	// /v1/orders/{id}/merge): it closed then, its lines went there.
	MergedInto *uuid.UUID `json:"merged_into"`
	// Rules are the venue's tax classes and service charge as they were
	// when the order was opened: fixed for the order's life. nil for an
	// order opened before posd priced orders (it carries no tax and no
	// service charge).
	Rules     *PriceRules `json:"-"`
	OpenedAt  time.Time   `json:"opened_at"`
	UpdatedAt time.Time   `json:"updated_at"`
	ClosedAt  *time.Time  `json:"closed_at"`
	// ChainHead is the hash of the order's latest event (see package audit).
	ChainHead []byte `json:"-"`
}

// Line is one item on an order. Name, price and station are copied from the
// menu when the line is added, so later menu changes do not alter the check.
type Line struct {
	ID             uuid.UUID `json:"id"`
	Position       int       `json:"-"`
	SKU            string    `json:"sku"`
	Name           string    `json:"name"`
	Qty            int       `json:"qty"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	Seat           int       `json:"seat"`
	Course         int       `json:"course"`
	Modifiers      []string  `json:"modifiers"`
	Note           string    `json:"note"`
	Station        string    `json:"station"`
	Status         string    `json:"status"`
	Comped         bool      `json:"comped"`
	// Options are the modifier options chosen, with the names and prices
	// they had when the line was added (UnitPriceCents includes the
	// prices); TaxClass is the item's tax class then.
	Options  []LineOption `json:"options"`
	TaxClass string       `json:"tax_class"`
	// Portions are the portions of its item's count the line holds: what
	// it took when added or raised while the kitchen counted the item, at
	// most Qty, and what it gives back when lowered, removed or voided (a
	// voided line holds none). A line added while the item was not
	// counted holds none and gives none back.
	Portions int `json:"portions"`
	// Check is the check the line is billed on (1 by default), or 0 when
	// the line is shared: SharedBy then lists the checks, ascending, that
	// split its amount evenly (the remainder cents going to the lowest
	// numbers first).
	Check    int   `json:"check"`
	SharedBy []int `json:"shared_by"`
}

// LineOption is one modifier option chosen on a line: its group and option
// ids, and the option's name and price as the menu had them when the line
// was added.
type LineOption struct {
	Group      string `json:"group"`
	Option     string `json:"option"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

// MarshalJSON writes an option as a client sends it ({"group","option"})
// while it has no name, that is before the menu resolved it; a resolved
// option (every applied one: menu names are never empty) carries its name
// and price.
func (o LineOption) MarshalJSON() ([]byte, error) {
	type plain LineOption
	if o.Name == "" && o.PriceCents == 0 {
		return json.Marshal(struct {
			Group  string `json:"group"`
			Option string `json:"option"`
		}{o.Group, o.Option})
	}
	return json.Marshal(plain(o))
}

// Payment is one money movement of the order, oldest first: a payment
// (AmountCents ≥ 0, TipCents ≥ 0, not both 0: AmountCents 0 is a tip
// alone, added after the check was settled) or a refund of one
// (AmountCents ≤ 0, TipCents ≤ 0 giving back some of its tip, not both 0;
// RefundOf the index of the payment refunded, Reason why).
// Tips are not part of the amount that settles the check. ID is nil for a
// payment taken before payments had ids.
type Payment struct {
	ID          *uuid.UUID `json:"id"`
	Tender      string     `json:"tender"`
	AmountCents int64      `json:"amount_cents"`
	TipCents    int64      `json:"tip_cents"`
	RefundOf    *int       `json:"refund_of,omitempty"`
	Reason      string     `json:"reason,omitempty"`
	// Check is the check the payment settles (1 by default); a refund is
	// on its payment's check.
	Check int `json:"check"`
}

// Totals are an order's totals (DESIGN.md section 9), computed by Price
// from the order; they are never stored.
type Totals = PriceTotals

// PriceRules are what a venue prices an order with, fixed when the order
// is opened: its tax classes and its service charge (nil: none).
type PriceRules struct {
	TaxClasses    []TaxClass     `json:"tax_classes"`
	ServiceCharge *ServiceCharge `json:"service_charge"`
}

// OrderDiscount is a discount on the order with what it took off
// (AppliedCents, computed: a discount never takes a line or the order
// below zero).
type OrderDiscount struct {
	Discount
	AppliedCents int64 `json:"applied_cents"`
}

// Waiver is a manager's waiver of the automatic service charge.
type Waiver struct {
	Reason string `json:"reason"`
	By     string `json:"by"`
}

// Actor is who made a change: the device, the person using it and the role
// the device holds.
type Actor struct {
	Device string `json:"device"`
	Staff  string `json:"staff"`
	Role   string `json:"role"`
}

// Event is one accepted change of an order, as stored in the log.
type Event struct {
	ID                uuid.UUID `json:"id"`
	Venue             string    `json:"venue"`
	OrderID           uuid.UUID `json:"order_id"`
	Version           int64     `json:"version"`
	Type              string    `json:"type"`
	At                time.Time `json:"at"`
	Actor             Actor     `json:"actor"`
	Ops               []Op      `json:"ops"`
	Forced            bool      `json:"forced"`
	OverriddenVersion *int64    `json:"overridden_version"`
	// Hash is the event's link in its order's hash chain, hex-encoded.
	Hash string `json:"hash"`
}

// SetHash records the event's chain hash.
func (e *Event) SetHash(h []byte) { e.Hash = hex.EncodeToString(h) }

// HashBytes is the event's chain hash as bytes (nil if unset or malformed).
func (e Event) HashBytes() []byte {
	b, err := hex.DecodeString(e.Hash)
	if err != nil {
		return nil
	}
	return b
}

// MenuItem is what the menu says about a SKU (DESIGN.md section 9): its
// definition (the menu file's), then its running state. ModifierGroups are
// group ids in display order. Available false is an 86'd item, until
// UnavailableUntil if set; Remaining nil means portions are not counted.
// Version is the menu version at which the item last changed.
type MenuItem struct {
	SKU              string     `json:"sku"`
	Name             string     `json:"name"`
	Category         string     `json:"category"`
	PriceCents       int64      `json:"price_cents"`
	Station          string     `json:"station"`
	TaxClass         string     `json:"tax_class"`
	ModifierGroups   []string   `json:"modifier_groups"`
	Available        bool       `json:"available"`
	UnavailableUntil *time.Time `json:"unavailable_until"`
	Remaining        *int       `json:"remaining"`
	Version          int64      `json:"version"`
}

// Clone returns a deep copy, so a change can be planned on the copy while the
// original stays the authoritative state.
func (o Order) Clone() Order {
	c := o
	c.Lines = make([]Line, len(o.Lines))
	for i, l := range o.Lines {
		l.Modifiers = append(make([]string, 0, len(l.Modifiers)), l.Modifiers...)
		l.Options = append(make([]LineOption, 0, len(l.Options)), l.Options...)
		if l.SharedBy != nil {
			l.SharedBy = slices.Clone(l.SharedBy)
		}
		c.Lines[i] = l
	}
	c.Checks = slices.Clone(o.Checks)
	if o.MergedInto != nil {
		m := *o.MergedInto
		c.MergedInto = &m
	}
	c.Payments = append(make([]Payment, 0, len(o.Payments)), o.Payments...)
	c.Discounts = append(make([]OrderDiscount, 0, len(o.Discounts)), o.Discounts...)
	c.Taxes = append(make([]TaxPricing, 0, len(o.Taxes)), o.Taxes...)
	if o.ServiceChargeWaiver != nil {
		w := *o.ServiceChargeWaiver
		c.ServiceChargeWaiver = &w
	}
	if o.ClosedAt != nil {
		t := *o.ClosedAt
		c.ClosedAt = &t
	}
	return c
}

// PricingInput is what the order's totals depend on (docs/PRICING.md):
// its lines, discounts, guests, waiver, payments and the rules fixed when
// it was opened. A line whose tax class the rules do not have (every line
// of an order opened before posd priced orders) carries no tax.
func (o *Order) PricingInput() PricingInput {
	in := PricingInput{Guests: o.Guests, ServiceChargeWaived: o.ServiceChargeWaiver != nil, Payments: o.Payments}
	known := map[string]bool{}
	if o.Rules != nil {
		in.TaxClasses, in.ServiceCharge = o.Rules.TaxClasses, o.Rules.ServiceCharge
		for _, tc := range o.Rules.TaxClasses {
			known[tc.ID] = true
		}
	}
	in.Lines = make([]PricingLine, len(o.Lines))
	for i, l := range o.Lines {
		class := l.TaxClass
		if !known[class] {
			class = ""
		}
		in.Lines[i] = PricingLine{ID: l.ID, Qty: l.Qty, UnitPriceCents: l.UnitPriceCents, TaxClass: class,
			Voided: l.Status == LineVoided, Comped: l.Comped}
	}
	in.Discounts = make([]Discount, len(o.Discounts))
	for i, d := range o.Discounts {
		in.Discounts[i] = d.Discount
	}
	return in
}

// ComputeTotals recomputes Totals, Taxes, Checks and each discount's
// applied amount (PriceOrder). It fails only for an order past pricing's
// bounds, which the ops refuse to make.
func (o *Order) ComputeTotals() error {
	p, err := PriceOrder(o)
	if err != nil {
		return err
	}
	o.Totals, o.Taxes, o.Checks = p.Totals, p.Taxes, p.Checks
	if o.Taxes == nil {
		o.Taxes = []TaxPricing{}
	}
	for i := range o.Discounts {
		o.Discounts[i].AppliedCents = p.Discounts[i]
	}
	return nil
}

// refundedOf is how much of payment idx's amount and of its tip has been
// refunded.
func (o *Order) refundedOf(idx int) (amount, tip int64) {
	for _, p := range o.Payments {
		if p.RefundOf != nil && *p.RefundOf == idx {
			amount -= p.AmountCents
			tip -= p.TipCents
		}
	}
	return amount, tip
}

// movements counts the order's payments and its refunds.
func (o *Order) movements() (payments, refunds int) {
	for _, p := range o.Payments {
		if p.RefundOf != nil {
			refunds++
		} else {
			payments++
		}
	}
	return payments, refunds
}

// discount returns the index of the discount with the given id, or -1.
func (o *Order) discount(id string) int {
	for i := range o.Discounts {
		if o.Discounts[i].ID == id {
			return i
		}
	}
	return -1
}

// line returns the index of the line with the given id, or -1.
func (o *Order) line(id uuid.UUID) int {
	for i := range o.Lines {
		if o.Lines[i].ID == id {
			return i
		}
	}
	return -1
}

// nextPosition is the position a newly added line takes: positions only grow,
// so removing a line never renumbers the others.
func (o *Order) nextPosition() int {
	p := 0
	for _, l := range o.Lines {
		if l.Position >= p {
			p = l.Position + 1
		}
	}
	return p
}
