// Package order is the table-order aggregate: its state, the operations a
// handheld may apply to it, the rules those operations obey, and the folding of
// the event log back into an order. It knows nothing of HTTP, SQL or NATS.
package order

import (
	"encoding/hex"
	"encoding/json"
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
	ID        uuid.UUID  `json:"id"`
	Venue     string     `json:"venue"`
	Table     string     `json:"table"`
	Status    string     `json:"status"`
	Guests    int        `json:"guests"`
	Note      string     `json:"note"`
	Version   int64      `json:"version"`
	Server    string     `json:"server"`
	Lines     []Line     `json:"lines"`
	Payments  []Payment  `json:"payments"`
	Totals    Totals     `json:"totals"`
	OpenedAt  time.Time  `json:"opened_at"`
	UpdatedAt time.Time  `json:"updated_at"`
	ClosedAt  *time.Time `json:"closed_at"`
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

// Payment is one tender taken against the order. Tips are not part of the
// amount that settles the check.
type Payment struct {
	Tender      string `json:"tender"`
	AmountCents int64  `json:"amount_cents"`
	TipCents    int64  `json:"tip_cents"`
}

// Totals are derived from lines and payments; they are never stored.
type Totals struct {
	SubtotalCents int64 `json:"subtotal_cents"`
	PaidCents     int64 `json:"paid_cents"`
	DueCents      int64 `json:"due_cents"`
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
		c.Lines[i] = l
	}
	c.Payments = append(make([]Payment, 0, len(o.Payments)), o.Payments...)
	if o.ClosedAt != nil {
		t := *o.ClosedAt
		c.ClosedAt = &t
	}
	return c
}

// ComputeTotals recomputes Totals from lines and payments: voided and comped
// lines cost nothing, tips do not settle the check.
func (o *Order) ComputeTotals() {
	var sub, paid int64
	for _, l := range o.Lines {
		if l.Status == LineVoided || l.Comped {
			continue
		}
		sub += int64(l.Qty) * l.UnitPriceCents
	}
	for _, p := range o.Payments {
		paid += p.AmountCents
	}
	o.Totals = Totals{SubtotalCents: sub, PaidCents: paid, DueCents: sub - paid}
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
