package order

// Checks (DESIGN.md section 11, docs/PRICING.md "Checks"). Every line and
// payment belongs to a check, 1 by default; a line may instead be shared
// evenly by several checks. Each check is priced as an order of its own
// would be (its lines, its shares of shared lines, its part of the
// discounts, the service charge and tax, each rounded per check), and the
// order's totals are the checks' sums, field by field. An order on one
// check is priced exactly as before checks existed.
//
// The rules that split money between checks:
//   - a shared line's amount is split evenly (ShareOf: the remainder cents
//     go to the lowest check numbers first); a percent discount on it is
//     applied to each share, an amount discount split the same way;
//   - the order-level discounts are computed on the whole order (as for
//     one check), and what they take off is split over the checks in
//     proportion to each check's amount after its line discounts, by
//     largest remainder (lower check number first on a tie);
//   - the service charge applies to every check of an order whose guests
//     reach its minimum, on the check's amount after discounts;
//   - tax is rounded once per class per check.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// MaxChecks bounds the check numbers (1 to MaxChecks): one per seat.
const MaxChecks = MaxSeat

// Check is one check of an order: its number and its totals.
type Check struct {
	Number int         `json:"number"`
	Totals PriceTotals `json:"totals"`
}

// ShareOf is share k (0-based) of amount split evenly into n parts: the
// floor of amount/n, plus one cent for each of the first amount mod n
// parts, so the parts sum to amount.
func ShareOf(amount int64, n, k int) int64 {
	q, r := amount/int64(n), amount%int64(n)
	if int64(k) < r {
		q++
	}
	return q
}

// OrderPricing is what PriceOrder computes for an order.
type OrderPricing struct {
	Totals PriceTotals
	// Taxes sums the checks' tax per class, in the order of the rules.
	Taxes  []TaxPricing
	Checks []Check
	// Discounts are the applied cents of each of the order's discounts,
	// one for one.
	Discounts []int64
}

// CheckNumbers are the order's checks, ascending: 1, and every check a
// line, a share or a payment names.
func (o *Order) CheckNumbers() []int {
	nums := []int{1}
	add := func(n int) {
		if n >= 1 && !slices.Contains(nums, n) {
			nums = append(nums, n)
		}
	}
	for _, l := range o.Lines {
		add(l.Check)
		for _, c := range l.SharedBy {
			add(c)
		}
	}
	for _, p := range o.Payments {
		add(p.Check)
	}
	slices.Sort(nums)
	return nums
}

// split reports whether the order has more than check 1.
func (o *Order) split() bool {
	for _, l := range o.Lines {
		if l.Check > 1 || len(l.SharedBy) > 0 {
			return true
		}
	}
	for _, p := range o.Payments {
		if p.Check > 1 {
			return true
		}
	}
	return false
}

// PriceOrder prices the order check by check by the rules above.
func PriceOrder(o *Order) (OrderPricing, error) {
	in := o.PricingInput()
	if !o.split() {
		p, err := Price(in)
		if err != nil {
			return OrderPricing{}, fmt.Errorf("price order %s: %w", o.ID, err)
		}
		out := OrderPricing{Totals: p.Totals, Taxes: p.Taxes, Checks: []Check{{Number: 1, Totals: p.Totals}},
			Discounts: make([]int64, len(p.Discounts))}
		for i, d := range p.Discounts {
			out.Discounts[i] = d.AppliedCents
		}
		return out, nil
	}
	return priceChecks(o, in)
}

// checkInput is one check's pricing input, and for each of its discounts
// the index of the order's discount it comes from.
type checkInput struct {
	in   PricingInput
	from []int
}

func priceChecks(o *Order, in PricingInput) (OrderPricing, error) {
	nums := o.CheckNumbers()
	inputs := make([]checkInput, len(nums))
	lineAt := make(map[uuid.UUID]int, len(o.Lines))
	for i, l := range o.Lines {
		lineAt[l.ID] = i
	}
	for c, num := range nums {
		ci := checkInput{in: in}
		ci.in.Lines, ci.in.Discounts, ci.in.Payments = nil, nil, nil
		parts := map[int][2]int{} // line index → (parts, part) of a share
		for i, l := range o.Lines {
			switch k := slices.Index(l.SharedBy, num); {
			case k >= 0:
				pl := in.Lines[i]
				pl.Parts, pl.Part = len(l.SharedBy), k
				parts[i] = [2]int{len(l.SharedBy), k}
				ci.in.Lines = append(ci.in.Lines, pl)
			case len(l.SharedBy) == 0 && lineCheck(l) == num:
				parts[i] = [2]int{1, 0}
				ci.in.Lines = append(ci.in.Lines, in.Lines[i])
			}
		}
		for j, d := range in.Discounts {
			if d.LineID == nil {
				continue
			}
			share, ok := parts[lineAt[*d.LineID]]
			if !ok {
				continue
			}
			if d.AmountCents != nil && share[0] > 1 {
				a := ShareOf(*d.AmountCents, share[0], share[1])
				if a == 0 {
					continue
				}
				d.AmountCents = &a
			}
			ci.in.Discounts = append(ci.in.Discounts, d)
			ci.from = append(ci.from, j)
		}
		for _, p := range o.Payments {
			if paymentCheck(p) == num {
				ci.in.Payments = append(ci.in.Payments, p)
			}
		}
		inputs[c] = ci
	}

	// The order-level discounts, on the whole order, then split over the
	// checks by their amounts after line discounts.
	zero := int64(0)
	shares := make([]LinePricing, len(nums))
	var base int64
	for c := range inputs {
		first := inputs[c].in
		first.OrderDiscountCents = &zero
		p, err := Price(first)
		if err != nil {
			return OrderPricing{}, fmt.Errorf("price check %d of order %s: %w", nums[c], o.ID, err)
		}
		shares[c].AmountCents = p.Totals.SubtotalCents - p.Totals.DiscountCents
		base += shares[c].AmountCents
	}
	orderApplied := make([]DiscountPricing, len(in.Discounts))
	orderDiscount := orderDiscounts(in.Discounts, base, orderApplied)
	allocate(shares, orderDiscount, base)

	out := OrderPricing{Checks: make([]Check, len(nums)), Discounts: make([]int64, len(in.Discounts))}
	for j, d := range orderApplied {
		out.Discounts[j] = d.AppliedCents
	}
	taxAt := map[string]int{}
	for c := range inputs {
		ci := inputs[c]
		od := shares[c].OrderDiscountCents
		ci.in.OrderDiscountCents = &od
		p, err := Price(ci.in)
		if err != nil {
			return OrderPricing{}, fmt.Errorf("price check %d of order %s: %w", nums[c], o.ID, err)
		}
		out.Checks[c] = Check{Number: nums[c], Totals: p.Totals}
		out.Totals = addTotals(out.Totals, p.Totals)
		for k, d := range p.Discounts {
			if in.Discounts[ci.from[k]].LineID != nil {
				out.Discounts[ci.from[k]] += d.AppliedCents
			}
		}
		for _, t := range p.Taxes {
			k, ok := taxAt[t.TaxClass]
			if !ok {
				k = len(out.Taxes)
				taxAt[t.TaxClass] = k
				out.Taxes = append(out.Taxes, TaxPricing{TaxClass: t.TaxClass, RateBps: t.RateBps, Inclusive: t.Inclusive})
			}
			out.Taxes[k].TaxableCents += t.TaxableCents
			out.Taxes[k].TaxCents += t.TaxCents
		}
	}
	// The classes in the order of the rules, as for one check.
	slices.SortStableFunc(out.Taxes, func(a, b TaxPricing) int {
		return slices.IndexFunc(in.TaxClasses, func(tc TaxClass) bool { return tc.ID == a.TaxClass }) -
			slices.IndexFunc(in.TaxClasses, func(tc TaxClass) bool { return tc.ID == b.TaxClass })
	})
	return out, nil
}

// addTotals adds two checks' totals field by field.
func addTotals(a, b PriceTotals) PriceTotals {
	return PriceTotals{
		SubtotalCents:      a.SubtotalCents + b.SubtotalCents,
		DiscountCents:      a.DiscountCents + b.DiscountCents,
		ServiceChargeCents: a.ServiceChargeCents + b.ServiceChargeCents,
		TaxCents:           a.TaxCents + b.TaxCents,
		TotalCents:         a.TotalCents + b.TotalCents,
		PaidCents:          a.PaidCents + b.PaidCents,
		TipCents:           a.TipCents + b.TipCents,
		DueCents:           a.DueCents + b.DueCents,
	}
}

// lineCheck is the check of an unshared line (1 for a line written before
// checks).
func lineCheck(l Line) int { return max(l.Check, 1) }

// paymentCheck is the check of a payment (1 for one taken before checks).
func paymentCheck(p Payment) int { return max(p.Check, 1) }

// CheckTotals is the totals of check n (computed by ComputeTotals), and
// whether the order has it.
func (o *Order) CheckTotals(n int) (PriceTotals, bool) {
	for _, c := range o.Checks {
		if c.Number == n {
			return c.Totals, true
		}
	}
	return PriceTotals{}, false
}

// checkList names the order's checks for a refusal ("1, 2 and 3").
func (o *Order) checkList() string {
	nums := o.CheckNumbers()
	parts := make([]string, len(nums))
	for i, n := range nums {
		parts[i] = fmt.Sprint(n)
	}
	if len(parts) == 1 {
		return "check " + parts[0]
	}
	return "checks " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// overpaidChecks are the checks of o (totals computed) that took more than
// they now cost.
func (o *Order) overpaidChecks() map[int]bool {
	over := map[int]bool{}
	for _, c := range o.Checks {
		if c.Totals.DueCents < 0 {
			over[c.Number] = true
		}
	}
	return over
}
