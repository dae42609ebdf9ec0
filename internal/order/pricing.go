package order

// The pricing engine (DESIGN.md section 9, invariant 9 "money adds up";
// docs/PRICING.md states the algorithm with worked examples that
// pricing_test.go runs). Price is pure: the same input gives the same
// output, it reads no clock, menu or database. It rounds half to even at
// three points and nowhere else:
//
//  1. a percent discount: round(base × bps / 10000), once per discount;
//  2. the service charge: round(discounted subtotal × bps / 10000);
//  3. tax, once per tax class on the class's whole taxable amount:
//     round(base × rate / 10000) when exclusive, round(base × rate /
//     (10000 + rate)) when inclusive;
//
// and it splits the order-level discounts over the lines by largest
// remainder (each line gets the floor of its exact pro-rata share, the cents
// left over go one each to the lines with the largest remainders, earlier
// lines first on a tie), so the split sums exactly.
//
// Overflow. With the bounds of ops.go and the ones below, no int64 in Price
// can overflow (the largest is about 1e17 against 9.2e18):
//   - a line is at most MaxQty × MaxPriceCents = 9.9e9 cents, a subtotal at
//     most MaxLinesPerOrder × that = 4.95e12;
//   - every discount is capped at what is left, so discounts never exceed the
//     subtotal; a percent product is at most 4.95e12 × MaxRateBps = 4.95e16;
//   - the service charge is at most the subtotal (MaxRateBps is 100 %), so a
//     tax class's base is at most 9.9e12 and its rate product 9.9e16;
//   - the total is at most 4.95e12 × 3; the amount paid or tipped at most
//     (MaxPaymentsPerOrder + MaxRefundsPerOrder) × MaxAmountCents = 2e11;
//   - the one product that does not fit, discount × line / order (up to
//     2.5e25) in the split, is computed in 128 bits (math/bits) and its
//     quotient is at most the line's amount.

import (
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/google/uuid"
)

// Bounds on what pricing reads, beyond those of ops.go. They are part of the
// API contract: add_discount and the menu import refuse values past them, and
// Price refuses an input past them (ErrPricingInput).
const (
	// MaxRateBps bounds a tax rate, the service charge rate and a percent
	// discount: 10000 basis points, 100 %.
	MaxRateBps = 10_000
	// MaxDiscountsPerOrder bounds the discounts an order holds.
	MaxDiscountsPerOrder = 50
	// MaxRefundsPerOrder bounds the refunds taken against one order (each
	// is one negative movement beside the MaxPaymentsPerOrder payments).
	MaxRefundsPerOrder = MaxPaymentsPerOrder
)

// bpsScale is 100 % in basis points.
const bpsScale = 10_000

// ErrPricingInput is wrapped by every refusal of Price and
// CheckPricingCatalog: a value past a bound, an unknown tax class or line, a
// duplicate id. It means the caller let bad data in; the message names it.
var ErrPricingInput = errors.New("pricing input out of bounds")

// PricingInput is everything an order's totals depend on. The caller fixes
// it from the order and the venue; Price reads nothing else.
type PricingInput struct {
	Lines               []PricingLine  `json:"lines"`
	Discounts           []Discount     `json:"discounts"`
	Guests              int            `json:"guests"`
	ServiceChargeWaived bool           `json:"service_charge_waived"`
	TaxClasses          []TaxClass     `json:"tax_classes"`
	ServiceCharge       *ServiceCharge `json:"service_charge"`
	// Payments are the money movements, oldest first: a payment has
	// AmountCents and TipCents ≥ 0, a refund has both ≤ 0.
	Payments []Payment `json:"payments"`
	// OrderDiscountCents, when set, is what the order-level discounts
	// take off these lines, already computed (a check's share of its
	// order's, PriceOrder): the Discounts without a line are then not
	// applied here. It is capped at what the line discounts leave.
	OrderDiscountCents *int64 `json:"order_discount_cents,omitempty"`
}

// PricingLine is one order line as pricing sees it. UnitPriceCents includes
// the prices of the chosen options. TaxClass is the id of one of the
// input's TaxClasses, or "" for a line that carries no tax (lines written
// before tax classes existed). A voided or comped line counts zero.
type PricingLine struct {
	ID             uuid.UUID `json:"id"`
	Qty            int       `json:"qty"`
	UnitPriceCents int64     `json:"unit_price_cents"`
	TaxClass       string    `json:"tax_class"`
	Voided         bool      `json:"voided"`
	Comped         bool      `json:"comped"`
	// Parts, when above 1, prices only part Part (0-based) of the line's
	// amount split evenly into Parts: a check's share of a shared line
	// (ShareOf).
	Parts int `json:"parts,omitempty"`
	Part  int `json:"part,omitempty"`
}

// Discount is a manager's reduction of one line (LineID set) or of the
// whole order (LineID nil): exactly one of PercentBps (1 to MaxRateBps) and
// AmountCents (1 to MaxAmountCents). It never takes a line or the order
// below zero. Reason and By are kept for the log and the report; pricing
// does not read them.
type Discount struct {
	ID          string     `json:"id"`
	LineID      *uuid.UUID `json:"line_id,omitempty"`
	PercentBps  *int64     `json:"percent_bps,omitempty"`
	AmountCents *int64     `json:"amount_cents,omitempty"`
	Reason      string     `json:"reason"`
	By          string     `json:"by"`
}

// Pricing is what Price computes: the order's totals and how they are made
// up, line by line, discount by discount and tax class by tax class.
type Pricing struct {
	Totals PriceTotals `json:"totals"`
	// Lines follow the input's lines, one for one.
	Lines []LinePricing `json:"lines"`
	// Discounts follow the input's discounts, one for one.
	Discounts []DiscountPricing `json:"discounts"`
	// Taxes has one entry per tax class that a counted line or the applied
	// service charge falls under, in the order of the input's TaxClasses.
	Taxes []TaxPricing `json:"taxes"`
}

// PriceTotals are an order's totals (DESIGN.md section 9). They always
// satisfy TotalCents = SubtotalCents − DiscountCents + ServiceChargeCents +
// the exclusive part of TaxCents, and DueCents = TotalCents − PaidCents.
// Every field but DueCents is ≥ 0; DueCents < 0 means the order took more
// than it now costs (a discount after a payment) and is owed back.
type PriceTotals struct {
	SubtotalCents      int64 `json:"subtotal_cents"`
	DiscountCents      int64 `json:"discount_cents"`
	ServiceChargeCents int64 `json:"service_charge_cents"`
	// TaxCents is all tax, exclusive (added) and inclusive (contained).
	TaxCents   int64 `json:"tax_cents"`
	TotalCents int64 `json:"total_cents"`
	// PaidCents is what settles the check, net of refunds; tips excluded.
	PaidCents int64 `json:"paid_cents"`
	// TipCents is the tips, net of refunded tips.
	TipCents int64 `json:"tip_cents"`
	DueCents int64 `json:"due_cents"`
}

// LinePricing is one line's share of the totals: AmountCents (qty × unit
// price, 0 when voided or comped) less its own discounts and its share of
// the order-level ones gives NetCents, 0 ≤ NetCents ≤ AmountCents.
type LinePricing struct {
	ID                 uuid.UUID `json:"id"`
	TaxClass           string    `json:"tax_class"`
	AmountCents        int64     `json:"amount_cents"`
	LineDiscountCents  int64     `json:"line_discount_cents"`
	OrderDiscountCents int64     `json:"order_discount_cents"`
	NetCents           int64     `json:"net_cents"`
}

// DiscountPricing is what one discount took off: its computed amount capped
// at what was left (0 on a voided or comped line).
type DiscountPricing struct {
	ID           string `json:"id"`
	AppliedCents int64  `json:"applied_cents"`
}

// TaxPricing is the tax of one class: TaxableCents is the net amount of its
// lines plus the service charge when it falls under the class (tax
// included when the class is inclusive); TaxCents is rounded once, on it.
type TaxPricing struct {
	TaxClass     string `json:"tax_class"`
	RateBps      int64  `json:"rate_bps"`
	Inclusive    bool   `json:"inclusive"`
	TaxableCents int64  `json:"taxable_cents"`
	TaxCents     int64  `json:"tax_cents"`
}

// Price computes an order's totals from in by the rules of docs/PRICING.md.
// It refuses (wrapping ErrPricingInput) an input past a bound or
// inconsistent with itself; on success the totals add up exactly.
func Price(in PricingInput) (Pricing, error) {
	if err := checkPricingInput(in); err != nil {
		return Pricing{}, err
	}
	p := Pricing{
		Lines:     make([]LinePricing, len(in.Lines)),
		Discounts: make([]DiscountPricing, len(in.Discounts)),
	}
	lineAt := make(map[uuid.UUID]int, len(in.Lines))
	var subtotal int64
	for i, l := range in.Lines {
		lp := LinePricing{ID: l.ID, TaxClass: l.TaxClass}
		if !l.Voided && !l.Comped {
			lp.AmountCents = int64(l.Qty) * l.UnitPriceCents
			if l.Parts > 1 {
				lp.AmountCents = ShareOf(lp.AmountCents, l.Parts, l.Part)
			}
		}
		p.Lines[i] = lp
		lineAt[l.ID] = i
		subtotal += lp.AmountCents
	}

	// Line discounts, in the order given; each is of the line's amount
	// (percents do not compound) and capped at what the line has left.
	for j, d := range in.Discounts {
		p.Discounts[j].ID = d.ID
		if d.LineID == nil {
			continue
		}
		lp := &p.Lines[lineAt[*d.LineID]]
		applied := min(discountOf(d, lp.AmountCents), lp.AmountCents-lp.LineDiscountCents)
		lp.LineDiscountCents += applied
		p.Discounts[j].AppliedCents = applied
	}
	var afterLine int64
	for _, lp := range p.Lines {
		afterLine += lp.AmountCents - lp.LineDiscountCents
	}

	// Order discounts: each of the amount after line discounts, capped at
	// what the order has left, then split over the lines.
	var orderDiscount int64
	if in.OrderDiscountCents != nil {
		orderDiscount = min(*in.OrderDiscountCents, afterLine)
	} else {
		orderDiscount = orderDiscounts(in.Discounts, afterLine, p.Discounts)
	}
	allocate(p.Lines, orderDiscount, afterLine)
	for i := range p.Lines {
		lp := &p.Lines[i]
		lp.NetCents = lp.AmountCents - lp.LineDiscountCents - lp.OrderDiscountCents
	}
	discounted := afterLine - orderDiscount

	var serviceCharge int64
	sc := in.ServiceCharge
	charged := sc != nil && sc.MinGuests > 0 && in.Guests >= sc.MinGuests && !in.ServiceChargeWaived
	if charged {
		serviceCharge = roundHalfEven(discounted*sc.RateBps, bpsScale)
	}

	taxable := make(map[string]int64)
	falls := make(map[string]bool)
	for i, l := range in.Lines {
		if l.TaxClass == "" || l.Voided || l.Comped {
			continue
		}
		taxable[l.TaxClass] += p.Lines[i].NetCents
		falls[l.TaxClass] = true
	}
	if charged && sc.TaxClass != "" {
		taxable[sc.TaxClass] += serviceCharge
		falls[sc.TaxClass] = true
	}
	var tax, exclusiveTax int64
	for _, tc := range in.TaxClasses {
		if !falls[tc.ID] {
			continue
		}
		t := TaxPricing{TaxClass: tc.ID, RateBps: tc.RateBps, Inclusive: tc.Inclusive, TaxableCents: taxable[tc.ID]}
		if tc.Inclusive {
			t.TaxCents = roundHalfEven(t.TaxableCents*tc.RateBps, bpsScale+tc.RateBps)
		} else {
			t.TaxCents = roundHalfEven(t.TaxableCents*tc.RateBps, bpsScale)
			exclusiveTax += t.TaxCents
		}
		tax += t.TaxCents
		p.Taxes = append(p.Taxes, t)
	}

	var paid, tips int64
	for _, m := range in.Payments {
		paid += m.AmountCents
		tips += m.TipCents
	}
	total := discounted + serviceCharge + exclusiveTax
	p.Totals = PriceTotals{
		SubtotalCents:      subtotal,
		DiscountCents:      subtotal - discounted,
		ServiceChargeCents: serviceCharge,
		TaxCents:           tax,
		TotalCents:         total,
		PaidCents:          paid,
		TipCents:           tips,
		DueCents:           total - paid,
	}
	return p, nil
}

// orderDiscounts applies the order-level discounts of ds, in the order
// given, to base (the amount after line discounts): each is of base and
// capped at what is left. It records each one's applied amount in out
// (one for one with ds) and returns their sum.
func orderDiscounts(ds []Discount, base int64, out []DiscountPricing) int64 {
	var sum int64
	for j, d := range ds {
		if d.LineID != nil {
			continue
		}
		applied := min(discountOf(d, base), base-sum)
		sum += applied
		out[j].AppliedCents = applied
	}
	return sum
}

// PayableCents is the most a new payment's AmountCents may be: what is due,
// or 0 when nothing is. The tip/overpay rule: AmountCents settles the check
// and never exceeds PayableCents; what a guest gives beyond it is either a
// tip (TipCents, which is separate and bounded only by MaxAmountCents per
// payment) or change handed back, which is not recorded. There is no
// tolerance for overpaying.
func (t PriceTotals) PayableCents() int64 { return max(t.DueCents, 0) }

// CheckPayment refuses, with an *OverpaymentError, a payment whose
// AmountCents exceeds PayableCents.
func (t PriceTotals) CheckPayment(amountCents int64) error {
	if amountCents > t.PayableCents() {
		return &OverpaymentError{AmountCents: amountCents, PayableCents: t.PayableCents()}
	}
	return nil
}

// OverpaymentError is a payment larger than what is due. Nothing was
// written. OpIndex is the add_payment's index in its request.
type OverpaymentError struct {
	OpIndex      int
	AmountCents  int64
	PayableCents int64
}

func (e *OverpaymentError) Error() string {
	return fmt.Sprintf("payment of %d cents exceeds the %d cents due (a tip goes in tip_cents)", e.AmountCents, e.PayableCents)
}

// CheckPricingCatalog checks a venue's tax classes and service charge
// against the bounds Price relies on: ids present and unique, rates between
// 0 and MaxRateBps, a service charge's tax class declared (or "" for an
// untaxed service charge). The menu import should refuse what it refuses.
func CheckPricingCatalog(classes []TaxClass, sc *ServiceCharge) error {
	seen := make(map[string]bool, len(classes))
	for i, tc := range classes {
		switch {
		case tc.ID == "":
			return pricingErr("tax_classes[%d]: id is empty", i)
		case seen[tc.ID]:
			return pricingErr("tax_classes[%d]: duplicate id %q", i, tc.ID)
		case tc.RateBps < 0 || tc.RateBps > MaxRateBps:
			return pricingErr("tax class %q: rate_bps %d outside 0..%d", tc.ID, tc.RateBps, MaxRateBps)
		}
		seen[tc.ID] = true
	}
	if sc == nil {
		return nil
	}
	switch {
	case sc.MinGuests < 0:
		return pricingErr("service_charge: min_guests %d is negative", sc.MinGuests)
	case sc.RateBps < 0 || sc.RateBps > MaxRateBps:
		return pricingErr("service_charge: rate_bps %d outside 0..%d", sc.RateBps, MaxRateBps)
	case sc.TaxClass != "" && !seen[sc.TaxClass]:
		return pricingErr("service_charge: unknown tax class %q", sc.TaxClass)
	}
	return nil
}

func checkPricingInput(in PricingInput) error {
	if err := CheckPricingCatalog(in.TaxClasses, in.ServiceCharge); err != nil {
		return err
	}
	classes := make(map[string]bool, len(in.TaxClasses))
	for _, tc := range in.TaxClasses {
		classes[tc.ID] = true
	}
	if len(in.Lines) > MaxLinesPerOrder {
		return pricingErr("%d lines; at most %d", len(in.Lines), MaxLinesPerOrder)
	}
	lines := make(map[uuid.UUID]bool, len(in.Lines))
	for i, l := range in.Lines {
		switch {
		case lines[l.ID]:
			return pricingErr("lines[%d]: duplicate id %s", i, l.ID)
		case l.Qty < MinQty || l.Qty > MaxQty:
			return pricingErr("lines[%d]: qty %d outside %d..%d", i, l.Qty, MinQty, MaxQty)
		case l.UnitPriceCents < 0 || l.UnitPriceCents > MaxPriceCents:
			return pricingErr("lines[%d]: unit_price_cents %d outside 0..%d", i, l.UnitPriceCents, MaxPriceCents)
		case l.TaxClass != "" && !classes[l.TaxClass]:
			return pricingErr("lines[%d]: unknown tax class %q", i, l.TaxClass)
		case l.Parts < 0 || l.Parts > MaxChecks || l.Part < 0 || (l.Parts > 1 && l.Part >= l.Parts):
			return pricingErr("lines[%d]: part %d of %d", i, l.Part, l.Parts)
		}
		lines[l.ID] = true
	}
	if in.OrderDiscountCents != nil && *in.OrderDiscountCents < 0 {
		return pricingErr("order_discount_cents %d is negative", *in.OrderDiscountCents)
	}
	if len(in.Discounts) > MaxDiscountsPerOrder {
		return pricingErr("%d discounts; at most %d", len(in.Discounts), MaxDiscountsPerOrder)
	}
	discounts := make(map[string]bool, len(in.Discounts))
	for i, d := range in.Discounts {
		switch {
		case d.ID == "":
			return pricingErr("discounts[%d]: id is empty", i)
		case discounts[d.ID]:
			return pricingErr("discounts[%d]: duplicate id %q", i, d.ID)
		case (d.PercentBps == nil) == (d.AmountCents == nil):
			return pricingErr("discount %q: exactly one of percent_bps and amount_cents", d.ID)
		case d.PercentBps != nil && (*d.PercentBps < 1 || *d.PercentBps > MaxRateBps):
			return pricingErr("discount %q: percent_bps %d outside 1..%d", d.ID, *d.PercentBps, MaxRateBps)
		case d.AmountCents != nil && (*d.AmountCents < 1 || *d.AmountCents > MaxAmountCents):
			return pricingErr("discount %q: amount_cents %d outside 1..%d", d.ID, *d.AmountCents, MaxAmountCents)
		case d.LineID != nil && !lines[*d.LineID]:
			return pricingErr("discount %q: no line %s on the order", d.ID, *d.LineID)
		}
		discounts[d.ID] = true
	}
	if len(in.Payments) > MaxPaymentsPerOrder+MaxRefundsPerOrder {
		return pricingErr("%d payments and refunds; at most %d", len(in.Payments), MaxPaymentsPerOrder+MaxRefundsPerOrder)
	}
	var paid, tips int64
	for i, m := range in.Payments {
		payment := m.AmountCents >= 0 && m.TipCents >= 0
		refund := m.AmountCents <= 0 && m.TipCents <= 0
		switch {
		case !payment && !refund:
			return pricingErr("payments[%d]: amount %d and tip %d differ in sign", i, m.AmountCents, m.TipCents)
		case m.AmountCents < -MaxAmountCents || m.AmountCents > MaxAmountCents ||
			m.TipCents < -MaxAmountCents || m.TipCents > MaxAmountCents:
			return pricingErr("payments[%d]: amount or tip outside ±%d", i, MaxAmountCents)
		}
		paid += m.AmountCents
		tips += m.TipCents
	}
	if paid < 0 || tips < 0 {
		return pricingErr("refunds exceed payments: paid %d, tips %d", paid, tips)
	}
	return nil
}

func pricingErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrPricingInput, fmt.Sprintf(format, args...))
}

// discountOf is what d takes off base before any cap: a percent rounds half
// even, an amount is itself.
func discountOf(d Discount, base int64) int64 {
	if d.PercentBps != nil {
		return roundHalfEven(base**d.PercentBps, bpsScale)
	}
	return *d.AmountCents
}

// allocate splits discount (at most base, the sum of the lines' amounts
// after their own discounts) over the lines in proportion to those amounts,
// by largest remainder: each line gets the floor of its exact share, and the
// cents the floors leave go one each to the lines with the largest
// remainders, the earlier line first on a tie. The shares sum to discount
// and none exceeds its line's amount.
func allocate(lines []LinePricing, discount, base int64) {
	if discount == 0 {
		return
	}
	rem := make([]uint64, len(lines))
	left := discount
	for i := range lines {
		w := lines[i].AmountCents - lines[i].LineDiscountCents
		// discount × w can pass int64; the quotient cannot pass w.
		hi, lo := bits.Mul64(uint64(discount), uint64(w))
		q, r := bits.Div64(hi, lo, uint64(base))
		lines[i].OrderDiscountCents = int64(q)
		rem[i] = r
		left -= int64(q)
	}
	order := make([]int, len(lines))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case rem[a] > rem[b]:
			return -1
		case rem[a] < rem[b]:
			return 1
		}
		return 0
	})
	// The remainders sum to left × base and each is below base, so more
	// than left lines have one: every cent lands on a line with room.
	for _, i := range order[:left] {
		lines[i].OrderDiscountCents++
	}
}

// roundHalfEven is num / den rounded to the nearest integer, a tie to the
// even one, for num ≥ 0 and den > 0.
func roundHalfEven(num, den int64) int64 {
	q, r := num/den, num%den
	switch {
	case r > den-r:
		q++
	case r == den-r && q%2 == 1:
		q++
	}
	return q
}
