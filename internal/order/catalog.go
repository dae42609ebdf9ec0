package order

// The catalog a venue prices its orders with (DESIGN.md section 9): tax
// classes, the automatic service charge and the tenders it accepts. The
// menu's modifier groups live beside its items (MenuItem); these types are
// shared by the menu (internal/store, posd menu import) and the pricing
// engine (pricing.go), which is pure and reads them only.

// TaxClass is one tax rate, in basis points (1000 = 10 %). An exclusive tax
// is added on top of the price; an inclusive one is contained in it.
type TaxClass struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	RateBps   int64  `json:"rate_bps"`
	Inclusive bool   `json:"inclusive"`
}

// ServiceCharge is the venue's automatic service charge: RateBps of the
// discounted subtotal for parties of at least MinGuests, taxed as TaxClass.
// MinGuests 0 means the venue has none.
type ServiceCharge struct {
	MinGuests int    `json:"min_guests"`
	RateBps   int64  `json:"rate_bps"`
	TaxClass  string `json:"tax_class"`
}

// ModifierGroup is a choice an item offers: the guest picks between Min and
// Max of its options (Min 1 makes the group required).
type ModifierGroup struct {
	ID      string           `json:"id"`
	Name    string           `json:"name"`
	Min     int              `json:"min"`
	Max     int              `json:"max"`
	Options []ModifierOption `json:"options"`
	Version int64            `json:"version"`
}

// ModifierOption is one option of a group, with what it adds to the unit
// price.
type ModifierOption struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceCents int64  `json:"price_cents"`
}

// Venue is one restaurant: its id (the first part of every key and NATS
// subject), name, IANA time zone and ISO 4217 currency. Amounts are integer
// minor units of Currency whatever it is (the API's _cents fields).
type Venue struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	TimeZone string `json:"timezone"`
	Currency string `json:"currency"`
}

// Table is one of a venue's dining tables.
type Table struct {
	ID    string `json:"id"`
	Label string `json:"label"`
	Seats int    `json:"seats"`
}

// Catalog is everything a venue's operator loads from its menu file (posd
// menu import) and reads back (posd menu export): tables, tax classes, the
// service charge, tenders, modifier groups and items. Item and group
// versions, availability and remaining portions are the running state, not
// part of the file.
type Catalog struct {
	Tables         []Table         `json:"tables"`
	TaxClasses     []TaxClass      `json:"tax_classes"`
	ServiceCharge  *ServiceCharge  `json:"service_charge"`
	Tenders        []string        `json:"tenders"`
	ModifierGroups []ModifierGroup `json:"modifier_groups"`
	Items          []MenuItem      `json:"items"`
}
