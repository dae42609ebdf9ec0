package order

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Op kinds a client may send, plus OpOpen which only the server writes as the
// single op of an order.opened event.
const (
	OpAddItem    = "add_item"
	OpSetQty     = "set_qty"
	OpRemoveItem = "remove_item"
	OpVoidItem   = "void_item"
	OpCompItem   = "comp_item"
	OpSetGuests  = "set_guests"
	OpSetNote    = "set_note"
	OpMoveTable  = "move_table"
	OpSend       = "send"
	OpAddPayment = "add_payment"
	OpClose      = "close"
	OpOpen       = "open"
	// Pricing ops (DESIGN.md section 9), for managers only.
	OpAddDiscount        = "add_discount"
	OpRemoveDiscount     = "remove_discount"
	OpWaiveServiceCharge = "waive_service_charge"
	OpRefundPayment      = "refund_payment"
	// Check ops (DESIGN.md section 11): they move money between the
	// order's checks, never change its totals.
	OpMoveToCheck = "move_to_check"
	OpSplitBySeat = "split_by_seat"
	OpShareLine   = "share_line"
	OpSplitEven   = "split_even"
	OpMergeChecks = "merge_checks"
	// Ops between two orders, which only the server writes (POST
	// /v1/orders/{id}/transfer and /merge): one in each order's event.
	OpTransferOut = "transfer_out"
	OpTransferIn  = "transfer_in"
	OpMergeInto   = "merge_into"
	OpMergeFrom   = "merge_from"
)

// Limits on what a client may send. They are part of the API contract.
const (
	MaxOps           = 100
	MinQty           = 1
	MaxQty           = 99
	MaxSeat          = 99
	MaxCourse        = 9
	MaxGuests        = 999
	MaxModifiers     = 10
	MaxModifierLen   = 80
	MaxOptions       = 20 // modifier options on one line
	MaxOptionIDLen   = 64 // a group or option id
	MaxNoteLen       = 280
	MaxReasonLen     = 280
	MaxSKULen        = 64
	MaxTableLen      = 32
	MaxAmountCents   = 100_000_000
	MaxTenderLen     = 32 // a tender id (venues.tenders)
	MaxDiscountIDLen = 64
	DefaultQty       = 1
	DefaultCourse    = 1
	DefaultSeat      = 0
	defaultTipCents  = 0
)

// Bounds on an order's size and money. With them no total overflows int64:
// a subtotal is at most MaxLinesPerOrder*MaxQty*MaxPriceCents = 4.95e12
// cents, the amount paid (or tipped) at most
// MaxPaymentsPerOrder*MaxAmountCents = 1e11. The schema enforces each too
// (db/schema/0001_baseline.sql).
const (
	// MaxPriceCents bounds a menu price (and so a line's unit price).
	MaxPriceCents = 100_000_000
	// MaxLinesPerOrder bounds the lines an order holds (voided ones
	// included): a banquet fits, while no order, ticket or total grows
	// without bound.
	MaxLinesPerOrder = 500
	// MaxPaymentsPerOrder bounds the payments taken against one order.
	MaxPaymentsPerOrder = 1000
	// MaxMenuNameLen bounds a menu item's name.
	MaxMenuNameLen = 120
)

// Tenders are the tenders a venue accepts until its menu says otherwise
// (the schema's default for venues.tenders); add_payment checks the
// venue's own list.
var Tenders = []string{"card", "cash", "voucher", "other"}

// Op is one operation. A request op carries what the client sent; an applied
// op (in an event) carries what the server did, with line ids assigned and
// menu name, price and station resolved, so folding never consults the menu.
type Op struct {
	Op             string      `json:"op"`
	LineID         *uuid.UUID  `json:"line_id,omitempty"`
	SKU            string      `json:"sku,omitempty"`
	Name           string      `json:"name,omitempty"`
	UnitPriceCents *int64      `json:"unit_price_cents,omitempty"`
	Station        string      `json:"station,omitempty"`
	Qty            *int        `json:"qty,omitempty"`
	Seat           *int        `json:"seat,omitempty"`
	Course         *int        `json:"course,omitempty"`
	Modifiers      []string    `json:"modifiers,omitempty"`
	Note           *string     `json:"note,omitempty"`
	Reason         string      `json:"reason,omitempty"`
	Guests         *int        `json:"guests,omitempty"`
	Table          string      `json:"table,omitempty"`
	Lines          []uuid.UUID `json:"lines,omitempty"`
	Tender         string      `json:"tender,omitempty"`
	AmountCents    *int64      `json:"amount_cents,omitempty"`
	TipCents       *int64      `json:"tip_cents,omitempty"`
	// Options are the modifier options of an add_item: a request names
	// group and option only; the applied op carries their names and
	// prices from the menu, and TaxClass the item's tax class.
	Options  []LineOption `json:"options,omitempty"`
	TaxClass string       `json:"tax_class,omitempty"`
	// Rules are the venue's tax classes and service charge, on the open
	// op: what the order is priced with for its whole life.
	Rules *PriceRules `json:"pricing,omitempty"`
	// ID names the discount add_discount gives (the client's, or one the
	// server assigns); PercentBps is a percent discount (AmountCents an
	// amount one); DiscountID is the discount remove_discount takes off.
	ID         string `json:"id,omitempty"`
	PercentBps *int64 `json:"percent_bps,omitempty"`
	DiscountID string `json:"discount_id,omitempty"`
	// PaymentID is the id add_payment gives the payment (server-assigned)
	// and, on refund_payment, the payment refunded (as is PaymentIndex,
	// its index in the order's payments); RefundID is the id of the
	// refund's own movement.
	PaymentID    *uuid.UUID `json:"payment_id,omitempty"`
	PaymentIndex *int       `json:"payment_index,omitempty"`
	RefundID     *uuid.UUID `json:"refund_id,omitempty"`
	// Portions are, on an applied add_item or set_qty, the portions of the
	// item's count the line holds after it (Line.Portions): set by the
	// server from the menu, never sent by a client. A set_qty records them
	// when the line holds any before or after; without them the line keeps
	// at most its new quantity of what it held.
	Portions *int `json:"portions,omitempty"`
	// Check is the check of move_to_check, add_payment and add_item (the
	// applied op of the last two carries it only when it is not 1, as
	// they did before checks); Checks the checks of share_line, and of an
	// applied split_even (1 to N). Split is the N a client sends as
	// split_even's "checks". From and Into are merge_checks' checks.
	// NewLineID names the line a move_to_check of part of a line makes.
	Check     *int       `json:"check,omitempty"`
	Checks    []int      `json:"checks,omitempty"`
	Split     int        `json:"-"`
	From      *int       `json:"from,omitempty"`
	Into      *int       `json:"into,omitempty"`
	NewLineID *uuid.UUID `json:"new_line_id,omitempty"`
	// OrderID is the other order of a transfer or merge; Moves are the
	// lines transfer_out takes (each with the quantity moved, and the new
	// line's id when part of a line moves); Items the lines transfer_in
	// and merge_from bring, whole, as they arrive.
	OrderID *uuid.UUID `json:"order_id,omitempty"`
	Moves   []LineMove `json:"moves,omitempty"`
	Items   []Line     `json:"items,omitempty"`
}

// LineMove is one line a transfer takes: the line, the quantity (all of
// it when absent) and, when part of it moves, the id of the line that
// part becomes (the client's, or one the server assigns).
type LineMove struct {
	LineID    uuid.UUID  `json:"line_id"`
	Qty       *int       `json:"qty,omitempty"`
	NewLineID *uuid.UUID `json:"new_line_id,omitempty"`
}

// opFields lists, per op, the fields a client may send besides "op".
var opFields = map[string][]string{
	OpAddItem:    {"sku", "qty", "seat", "course", "modifiers", "options", "note", "line_id", "check"},
	OpSetQty:     {"line_id", "qty"},
	OpRemoveItem: {"line_id"},
	OpVoidItem:   {"line_id", "reason"},
	OpCompItem:   {"line_id", "reason"},
	OpSetGuests:  {"guests"},
	OpSetNote:    {"note"},
	OpMoveTable:  {"table"},
	OpSend:       {"course"},
	OpAddPayment: {"tender", "amount_cents", "tip_cents", "check"},
	OpClose:      {},

	OpAddDiscount:        {"id", "line_id", "percent_bps", "amount_cents", "reason"},
	OpRemoveDiscount:     {"discount_id"},
	OpWaiveServiceCharge: {"reason"},
	OpRefundPayment:      {"payment_index", "payment_id", "amount_cents", "tip_cents", "reason"},

	OpMoveToCheck: {"line_id", "check", "qty", "new_line_id"},
	OpSplitBySeat: {},
	OpShareLine:   {"line_id", "checks"},
	OpSplitEven:   {"checks"},
	OpMergeChecks: {"from", "into"},
}

// managerOps may only be applied by a manager.
var managerOps = map[string]bool{OpVoidItem: true, OpCompItem: true,
	OpAddDiscount: true, OpRemoveDiscount: true, OpWaiveServiceCharge: true, OpRefundPayment: true}

// discountID is the shape of a discount's id: URL- and CSV-safe, at most
// MaxDiscountIDLen characters (a server-assigned one is a UUID).
var discountID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func opNames() []string {
	names := make([]string, 0, len(opFields))
	for k := range opFields {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Validate checks the ops that need no order state: required fields, ranges,
// lengths, and whether role may perform each op. Role problems come back as a
// *ForbiddenOpError, everything else as a *ValidationError.
func Validate(ops []Op, role string) error {
	var probs, forbidden []FieldProblem
	if len(ops) == 0 {
		return &ValidationError{Problems: []FieldProblem{OpProblem(-1, "ops", "at least one op is required")}}
	}
	for i, op := range ops {
		if managerOps[op.Op] && role != RoleManager {
			forbidden = append(forbidden, OpProblem(i, "op", op.Op+" is for managers only"))
		}
		probs = append(probs, validateOp(i, op)...)
	}
	if len(forbidden) > 0 {
		return &ForbiddenOpError{Problems: forbidden}
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

func validateOp(i int, op Op) []FieldProblem {
	var probs []FieldProblem
	add := func(field, detail string) { probs = append(probs, OpProblem(i, field, detail)) }
	needLine := func() {
		if op.LineID == nil {
			add("line_id", "required")
		}
	}
	intRange := func(field string, v *int, lo, hi int, required bool) {
		switch {
		case v == nil && required:
			add(field, "required")
		case v != nil && (*v < lo || *v > hi):
			add(field, fmt.Sprintf("must be between %d and %d", lo, hi))
		}
	}
	text := func(field, v string, max int, required bool) {
		switch {
		case required && strings.TrimSpace(v) == "":
			add(field, "required")
		case !utf8.ValidString(v):
			add(field, "must be valid UTF-8")
		case hasControl(v, field == "note" || field == "reason"):
			add(field, "must not contain control characters")
		case utf8.RuneCountInString(v) > max:
			add(field, fmt.Sprintf("at most %d characters", max))
		}
	}
	amount := func(required bool) {
		switch {
		case op.AmountCents == nil && required:
			add("amount_cents", "required")
		case op.AmountCents != nil && (*op.AmountCents < 1 || *op.AmountCents > MaxAmountCents):
			add("amount_cents", fmt.Sprintf("must be between 1 and %d", MaxAmountCents))
		}
	}
	// money is the amount and tip of a payment or a refund: each 0 to
	// MaxAmountCents, the amount required, 0 only with a tip of at least 1
	// (a tip alone, given or given back).
	money := func() {
		switch {
		case op.AmountCents == nil:
			add("amount_cents", "required")
		case *op.AmountCents < 0 || *op.AmountCents > MaxAmountCents:
			add("amount_cents", fmt.Sprintf("must be between 0 and %d", MaxAmountCents))
		case *op.AmountCents == 0 && (op.TipCents == nil || *op.TipCents == 0):
			add("amount_cents", "must be at least 1, or 0 with a tip_cents of at least 1 (a tip alone)")
		}
		if op.TipCents != nil && (*op.TipCents < 0 || *op.TipCents > MaxAmountCents) {
			add("tip_cents", fmt.Sprintf("must be between 0 and %d", MaxAmountCents))
		}
	}
	switch op.Op {
	case OpAddItem:
		intRange("check", op.Check, 1, MaxChecks, false)
		text("sku", op.SKU, MaxSKULen, true)
		intRange("qty", op.Qty, MinQty, MaxQty, false)
		intRange("seat", op.Seat, 0, MaxSeat, false)
		intRange("course", op.Course, 1, MaxCourse, false)
		if len(op.Modifiers) > MaxModifiers {
			add("modifiers", fmt.Sprintf("at most %d modifiers", MaxModifiers))
		}
		for _, m := range op.Modifiers {
			if strings.TrimSpace(m) == "" || utf8.RuneCountInString(m) > MaxModifierLen || !utf8.ValidString(m) || hasControl(m, false) {
				add("modifiers", fmt.Sprintf("each modifier must be 1 to %d characters", MaxModifierLen))
				break
			}
		}
		probs = append(probs, validateOptions(i, op.Options)...)
		if op.Note != nil {
			text("note", *op.Note, MaxNoteLen, false)
		}
	case OpSetQty:
		needLine()
		intRange("qty", op.Qty, MinQty, MaxQty, true)
	case OpRemoveItem:
		needLine()
	case OpVoidItem, OpCompItem:
		needLine()
		text("reason", op.Reason, MaxReasonLen, true)
	case OpSetGuests:
		intRange("guests", op.Guests, 1, MaxGuests, true)
	case OpSetNote:
		if op.Note == nil {
			add("note", "required (an empty string clears the note)")
		} else {
			text("note", *op.Note, MaxNoteLen, false)
		}
	case OpMoveTable:
		text("table", op.Table, MaxTableLen, true)
	case OpSend:
		intRange("course", op.Course, 1, MaxCourse, false)
	case OpAddPayment:
		// A tender is a catalog id (venues_tenders_token); whether the
		// venue takes it is decided against its list (resolve).
		if !idToken.MatchString(op.Tender) {
			add("tender", "must be one of the venue's tenders (GET /v1/menu)")
		}
		// amount_cents 0 records a tip alone: a card tip is often added
		// after the card payment settled the check.
		money()
		intRange("check", op.Check, 1, MaxChecks, false)
	case OpAddDiscount:
		if op.ID != "" && !discountID.MatchString(op.ID) {
			add("id", fmt.Sprintf("must be 1 to %d of A-Z, a-z, 0-9, ., _ and -, starting with a letter or digit (or absent: the server names it)", MaxDiscountIDLen))
		}
		switch {
		case op.PercentBps == nil && op.AmountCents == nil:
			add("percent_bps", "one of percent_bps and amount_cents is required")
		case op.PercentBps != nil && op.AmountCents != nil:
			add("percent_bps", "give percent_bps or amount_cents, not both")
		case op.PercentBps != nil && (*op.PercentBps < 1 || *op.PercentBps > MaxRateBps):
			add("percent_bps", fmt.Sprintf("must be between 1 and %d (basis points: 1000 is 10 %%)", MaxRateBps))
		case op.AmountCents != nil:
			amount(true)
		}
		text("reason", op.Reason, MaxReasonLen, true)
	case OpRemoveDiscount:
		if op.DiscountID == "" {
			add("discount_id", "required")
		} else if !discountID.MatchString(op.DiscountID) {
			add("discount_id", "no discount has such an id")
		}
	case OpWaiveServiceCharge:
		text("reason", op.Reason, MaxReasonLen, true)
	case OpRefundPayment:
		switch {
		case op.PaymentIndex == nil && op.PaymentID == nil:
			add("payment_index", "one of payment_index and payment_id is required")
		case op.PaymentIndex != nil && op.PaymentID != nil:
			add("payment_index", "give payment_index or payment_id, not both")
		case op.PaymentIndex != nil && (*op.PaymentIndex < 0 || *op.PaymentIndex >= MaxPaymentsPerOrder+MaxRefundsPerOrder):
			add("payment_index", fmt.Sprintf("must be between 0 and %d", MaxPaymentsPerOrder+MaxRefundsPerOrder-1))
		}
		money() // tip_cents gives back some of the payment's tip
		text("reason", op.Reason, MaxReasonLen, true)
	case OpMoveToCheck:
		needLine()
		intRange("check", op.Check, 1, MaxChecks, true)
		intRange("qty", op.Qty, MinQty, MaxQty, false)
	case OpSplitBySeat:
	case OpShareLine:
		needLine()
		switch {
		case op.Checks == nil:
			add("checks", "required: the checks that share the line, at least 2")
		case len(op.Checks) < 2 || len(op.Checks) > MaxChecks:
			add("checks", fmt.Sprintf("between 2 and %d checks", MaxChecks))
		default:
			seen := map[int]bool{}
			for _, c := range op.Checks {
				if c < 1 || c > MaxChecks || seen[c] {
					add("checks", fmt.Sprintf("each check is a number from 1 to %d, given once", MaxChecks))
					break
				}
				seen[c] = true
			}
		}
	case OpSplitEven:
		switch {
		case op.Checks != nil:
			add("checks", "must be an integer: how many checks to split into")
		case op.Split == 0:
			add("checks", "required: how many checks to split into")
		case op.Split < 2 || op.Split > MaxChecks:
			add("checks", fmt.Sprintf("must be between 2 and %d", MaxChecks))
		}
	case OpMergeChecks:
		intRange("from", op.From, 1, MaxChecks, true)
		intRange("into", op.Into, 1, MaxChecks, true)
		if op.From != nil && op.Into != nil && *op.From == *op.Into {
			add("into", "must differ from from")
		}
	case OpClose:
	default:
		add("op", fmt.Sprintf("unknown op %q", op.Op))
	}
	return probs
}

// validateOptions checks the options of add_item i as sent: at most
// MaxOptions, each naming a group and an option, none twice. Whether they
// belong to the item is decided against the menu (resolve).
func validateOptions(i int, opts []LineOption) []FieldProblem {
	if len(opts) > MaxOptions {
		return []FieldProblem{OpProblem(i, "options", fmt.Sprintf("at most %d options", MaxOptions))}
	}
	seen := make(map[LineOption]bool, len(opts))
	for _, o := range opts {
		key := LineOption{Group: o.Group, Option: o.Option}
		switch {
		case o.Group == "" || o.Option == "":
			return []FieldProblem{OpProblem(i, "options", `each option names its "group" and "option"`)}
		case len(o.Group) > MaxOptionIDLen || len(o.Option) > MaxOptionIDLen || hasControl(o.Group, false) || hasControl(o.Option, false):
			return []FieldProblem{OpProblem(i, "options", fmt.Sprintf("group and option ids are 1 to %d characters", MaxOptionIDLen))}
		case seen[key]:
			return []FieldProblem{OpProblem(i, "options", fmt.Sprintf("option %q of group %q is given twice", o.Option, o.Group))}
		}
		seen[key] = true
	}
	return nil
}

// ValidateOpen checks the fields of a request to open an order.
func ValidateOpen(table string, guests int) error {
	var probs []FieldProblem
	if strings.TrimSpace(table) == "" {
		probs = append(probs, OpProblem(-1, "table", "required"))
	} else if utf8.RuneCountInString(table) > MaxTableLen {
		probs = append(probs, OpProblem(-1, "table", fmt.Sprintf("at most %d characters", MaxTableLen)))
	} else if hasControl(table, false) {
		probs = append(probs, OpProblem(-1, "table", "must not contain control characters"))
	}
	if guests < 1 || guests > MaxGuests {
		probs = append(probs, OpProblem(-1, "guests", fmt.Sprintf("must be between 1 and %d", MaxGuests)))
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	return nil
}

// hasControl reports whether s holds a control character (NUL included,
// which Postgres cannot store in text). Free text may keep tabs and line
// breaks when multiline is set.
func hasControl(s string, multiline bool) bool {
	for _, r := range s {
		if multiline && (r == '\n' || r == '\t' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}
