package order_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// The tax classes of the table cases: food is 10 % added on top, wine 20 %
// contained in the price, zero a zero-rated class.
var (
	food    = order.TaxClass{ID: "food", Name: "Food", RateBps: 1000}
	wine    = order.TaxClass{ID: "wine", Name: "Wine", RateBps: 2000, Inclusive: true}
	zero    = order.TaxClass{ID: "zero", Name: "Zero-rated", RateBps: 0}
	classes = []order.TaxClass{food, wine, zero}
)

// lid is the id of the n-th line of a case.
func lid(n int) uuid.UUID { return uuid.UUID{15: byte(n)} }

func pline(n, qty int, unit int64, class string) order.PricingLine {
	return order.PricingLine{ID: lid(n), Qty: qty, UnitPriceCents: unit, TaxClass: class}
}

func voided(l order.PricingLine) order.PricingLine { l.Voided = true; return l }
func comped(l order.PricingLine) order.PricingLine { l.Comped = true; return l }

// pct and amt are order discounts; onLine makes one a line discount.
func pct(id string, bps int64) order.Discount {
	return order.Discount{ID: id, PercentBps: &bps, Reason: "regular", By: "manager-1"}
}

func amt(id string, cents int64) order.Discount {
	return order.Discount{ID: id, AmountCents: &cents, Reason: "regular", By: "manager-1"}
}

func onLine(n int, d order.Discount) order.Discount {
	id := lid(n)
	d.LineID = &id
	return d
}

func pay(amount, tip int64) order.Payment {
	return order.Payment{Tender: "card", AmountCents: amount, TipCents: tip}
}

func sc(minGuests int, bps int64, class string) *order.ServiceCharge {
	return &order.ServiceCharge{MinGuests: minGuests, RateBps: bps, TaxClass: class}
}

// totals builds the expected totals of a case; due is total − paid.
func totals(sub, disc, svc, tax, total, paid, tip int64) order.PriceTotals {
	return order.PriceTotals{SubtotalCents: sub, DiscountCents: disc, ServiceChargeCents: svc, TaxCents: tax,
		TotalCents: total, PaidCents: paid, TipCents: tip, DueCents: total - paid}
}

// TestPriceTable: each case's totals, to the cent, and where the case is
// about them the per-class taxes, the lines' net amounts and what each
// discount took off.
func TestPriceTable(t *testing.T) {
	type taxes = []order.TaxPricing
	cases := []struct {
		name    string
		in      order.PricingInput
		want    order.PriceTotals
		taxes   taxes   // nil: not checked
		nets    []int64 // nil: not checked
		applied []int64 // nil: not checked
	}{
		{name: "exclusive tax is added on top",
			in:    order.PricingInput{Lines: []order.PricingLine{pline(1, 2, 2400, "food")}},
			want:  totals(4800, 0, 0, 480, 5280, 0, 0),
			taxes: taxes{{TaxClass: "food", RateBps: 1000, TaxableCents: 4800, TaxCents: 480}}},
		{name: "inclusive tax is contained in the price",
			in:    order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1200, "wine")}},
			want:  totals(1200, 0, 0, 200, 1200, 0, 0),
			taxes: taxes{{TaxClass: "wine", RateBps: 2000, Inclusive: true, TaxableCents: 1200, TaxCents: 200}}},
		{name: "inclusive tax rounds to the nearest cent (166.67)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1000, "wine")}},
			want: totals(1000, 0, 0, 167, 1000, 0, 0)},
		{name: "mixed classes: only the exclusive tax adds to the total",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 2400, "food"), pline(2, 1, 1000, "wine")}},
			want: totals(3400, 0, 0, 407, 3640, 0, 0),
			taxes: taxes{{TaxClass: "food", RateBps: 1000, TaxableCents: 2400, TaxCents: 240},
				{TaxClass: "wine", RateBps: 2000, Inclusive: true, TaxableCents: 1000, TaxCents: 167}}},
		{name: "tax rounds once per class, not per line (3 × 1.5 would be 6)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 15, "food"), pline(2, 1, 15, "food"), pline(3, 1, 15, "food")}},
			want: totals(45, 0, 0, 4, 49, 0, 0)},
		{name: "exclusive tie rounds down to even (2.5)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 25, "food")}},
			want: totals(25, 0, 0, 2, 27, 0, 0)},
		{name: "exclusive tie rounds up to even (3.5)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 35, "food")}},
			want: totals(35, 0, 0, 4, 39, 0, 0)},
		{name: "inclusive tie rounds down to even (0.5)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 3, "wine")}},
			want: totals(3, 0, 0, 0, 3, 0, 0)},
		{name: "inclusive tie rounds up to even (1.5)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 9, "wine")}},
			want: totals(9, 0, 0, 2, 9, 0, 0)},
		{name: "service charge at the threshold, taxed under its class",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 4, 2400, "food")}, Guests: 8, ServiceCharge: sc(8, 1800, "food")},
			want: totals(9600, 0, 1728, 1133, 12461, 0, 0)},
		{name: "no service charge one guest below the threshold",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 4, 2400, "food")}, Guests: 7, ServiceCharge: sc(8, 1800, "food")},
			want: totals(9600, 0, 0, 960, 10560, 0, 0)},
		{name: "waived service charge",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 4, 2400, "food")}, Guests: 8, ServiceChargeWaived: true,
				ServiceCharge: sc(8, 1800, "food")},
			want: totals(9600, 0, 0, 960, 10560, 0, 0)},
		{name: "min_guests 0: the venue has no service charge",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 4, 2400, "food")}, Guests: 20, ServiceCharge: sc(0, 1800, "food")},
			want: totals(9600, 0, 0, 960, 10560, 0, 0)},
		{name: "service charge is on the discounted subtotal",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 4, 2400, "food")}, Guests: 8, ServiceCharge: sc(8, 1800, "food"),
				Discounts: []order.Discount{pct("d1", 1000)}},
			want: totals(9600, 960, 1555, 1020, 11215, 0, 0)},
		{name: "service charge under an inclusive class contains its tax",
			in:    order.PricingInput{Lines: []order.PricingLine{pline(1, 2, 1000, "wine")}, Guests: 10, ServiceCharge: sc(8, 1000, "wine")},
			want:  totals(2000, 0, 200, 367, 2200, 0, 0),
			taxes: taxes{{TaxClass: "wine", RateBps: 2000, Inclusive: true, TaxableCents: 2200, TaxCents: 367}}},
		{name: "untaxed service charge",
			in:    order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1000, "food")}, Guests: 8, ServiceCharge: sc(8, 1000, "")},
			want:  totals(1000, 0, 100, 100, 1200, 0, 0),
			taxes: taxes{{TaxClass: "food", RateBps: 1000, TaxableCents: 1000, TaxCents: 100}}},
		{name: "a line without a tax class carries no tax",
			in:    order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1000, "")}},
			want:  totals(1000, 0, 0, 0, 1000, 0, 0),
			taxes: taxes{}},
		{name: "a zero-rated class is reported",
			in:    order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1000, "zero")}},
			want:  totals(1000, 0, 0, 0, 1000, 0, 0),
			taxes: taxes{{TaxClass: "zero", TaxableCents: 1000}}},
		{name: "line percent discount",
			in:      order.PricingInput{Lines: []order.PricingLine{pline(1, 2, 2400, "food")}, Discounts: []order.Discount{onLine(1, pct("d1", 1000))}},
			want:    totals(4800, 480, 0, 432, 4752, 0, 0),
			applied: []int64{480}},
		{name: "line amount discount is capped at the line",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 2400, "food"), pline(2, 1, 700, "food")},
				Discounts: []order.Discount{onLine(2, amt("d1", 1000))}},
			want: totals(3100, 700, 0, 240, 2640, 0, 0), nets: []int64{2400, 0}, applied: []int64{700}},
		{name: "discounts on a comped line take nothing",
			in: order.PricingInput{Lines: []order.PricingLine{comped(pline(1, 1, 2400, "food")), pline(2, 1, 500, "food")},
				Discounts: []order.Discount{onLine(1, pct("d1", 1000)), onLine(1, amt("d2", 300))}},
			want: totals(500, 0, 0, 50, 550, 0, 0), nets: []int64{0, 500}, applied: []int64{0, 0}},
		{name: "a voided line takes no line discount and no share of an order discount",
			in: order.PricingInput{Lines: []order.PricingLine{voided(pline(1, 1, 2400, "food")), pline(2, 1, 500, "food")},
				Discounts: []order.Discount{onLine(1, amt("d1", 300)), pct("d2", 1000)}},
			want: totals(500, 50, 0, 45, 495, 0, 0), nets: []int64{0, 450}, applied: []int64{0, 50}},
		{name: "order discount split: a tied remainder cent goes to the earlier line",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 100, "food"), pline(2, 1, 100, "food"), pline(3, 1, 100, "food")},
				Discounts: []order.Discount{amt("d1", 100)}},
			want: totals(300, 100, 0, 20, 220, 0, 0), nets: []int64{66, 67, 67}},
		{name: "order discount split by largest remainder across classes",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 101, "food"), pline(2, 1, 203, "wine"), pline(3, 1, 7, "food")},
				Discounts: []order.Discount{amt("d1", 50)}},
			want: totals(311, 50, 0, 37, 270, 0, 0), nets: []int64{85, 170, 6},
			taxes: taxes{{TaxClass: "food", RateBps: 1000, TaxableCents: 91, TaxCents: 9},
				{TaxClass: "wine", RateBps: 2000, Inclusive: true, TaxableCents: 170, TaxCents: 28}}},
		{name: "order percent discount lowers each class's taxable amount",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1000, "food"), pline(2, 1, 500, "wine")},
				Discounts: []order.Discount{pct("d1", 1000)}},
			want: totals(1500, 150, 0, 165, 1440, 0, 0), nets: []int64{900, 450}},
		{name: "percent discount tie rounds down to even (100.5)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1005, "food")}, Discounts: []order.Discount{pct("d1", 1000)}},
			want: totals(1005, 100, 0, 90, 995, 0, 0)},
		{name: "percent discount tie rounds up to even (101.5)",
			in:   order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1015, "food")}, Discounts: []order.Discount{pct("d1", 1000)}},
			want: totals(1015, 102, 0, 91, 1004, 0, 0)},
		{name: "line discounts come before the order discount's base",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 2400, "food"), pline(2, 1, 500, "food")},
				Discounts: []order.Discount{onLine(1, amt("d1", 400)), pct("d2", 2000)}},
			want: totals(2900, 900, 0, 200, 2200, 0, 0), nets: []int64{1600, 400}, applied: []int64{400, 500}},
		{name: "order discounts are capped at the order",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 500, "food")},
				Discounts: []order.Discount{amt("d1", 1000), pct("d2", 1000)}},
			want: totals(500, 500, 0, 0, 0, 0, 0), nets: []int64{0}, applied: []int64{500, 0}},
		{name: "percent discounts do not compound",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 1000, "food")},
				Discounts: []order.Discount{pct("d1", 1000), pct("d2", 1000)}},
			want: totals(1000, 200, 0, 80, 880, 0, 0), applied: []int64{100, 100}},
		{name: "payments settle the check, tips are separate",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 2, 2400, "food")},
				Payments: []order.Payment{pay(3000, 300), pay(2280, 0)}},
			want: totals(4800, 0, 0, 480, 5280, 5280, 300)},
		{name: "a refund is a negative movement, of the amount and of the tip",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 2, 2400, "food")},
				Payments: []order.Payment{pay(5280, 500), pay(-1000, -200)}},
			want: totals(4800, 0, 0, 480, 5280, 4280, 300)},
		{name: "a discount after payment leaves money owed back (due < 0)",
			in: order.PricingInput{Lines: []order.PricingLine{pline(1, 1, 2400, "food")},
				Discounts: []order.Discount{onLine(1, pct("d1", 1000))}, Payments: []order.Payment{pay(2640, 0)}},
			want: totals(2400, 240, 0, 216, 2376, 2640, 0)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.in.TaxClasses == nil {
				c.in.TaxClasses = classes
			}
			p, err := order.Price(c.in)
			require.NoError(t, err)
			require.Equal(t, c.want, p.Totals)
			if c.taxes != nil {
				require.Equal(t, c.taxes, append(taxes{}, p.Taxes...))
			}
			if c.nets != nil {
				nets := make([]int64, len(p.Lines))
				for i, l := range p.Lines {
					nets[i] = l.NetCents
				}
				require.Equal(t, c.nets, nets)
			}
			if c.applied != nil {
				applied := make([]int64, len(p.Discounts))
				for i, d := range p.Discounts {
					applied[i] = d.AppliedCents
				}
				require.Equal(t, c.applied, applied)
			}
			requireAddsUp(t, c.in, p)
		})
	}
}

// TestPriceRefusesBadInput: every bound and consistency rule Price relies
// on is refused, wrapping ErrPricingInput, with the offending value named.
func TestPriceRefusesBadInput(t *testing.T) {
	ok := func() order.PricingInput {
		return order.PricingInput{TaxClasses: classes, Lines: []order.PricingLine{pline(1, 1, 100, "food")}}
	}
	many := func(n int) []order.PricingLine {
		ls := make([]order.PricingLine, n)
		for i := range ls {
			ls[i] = order.PricingLine{ID: uuid.UUID{14: byte(i >> 8), 15: byte(i)}, Qty: 1, UnitPriceCents: 1}
		}
		return ls
	}
	cases := []struct {
		name   string
		change func(in *order.PricingInput)
		says   string
	}{
		{"unknown tax class on a line", func(in *order.PricingInput) { in.Lines[0].TaxClass = "beer" }, `unknown tax class "beer"`},
		{"qty 0", func(in *order.PricingInput) { in.Lines[0].Qty = 0 }, "qty 0"},
		{"qty past MaxQty", func(in *order.PricingInput) { in.Lines[0].Qty = order.MaxQty + 1 }, "qty 100"},
		{"negative price", func(in *order.PricingInput) { in.Lines[0].UnitPriceCents = -1 }, "unit_price_cents -1"},
		{"price past MaxPriceCents", func(in *order.PricingInput) { in.Lines[0].UnitPriceCents = order.MaxPriceCents + 1 }, "unit_price_cents"},
		{"duplicate line id", func(in *order.PricingInput) { in.Lines = append(in.Lines, in.Lines[0]) }, "duplicate id"},
		{"too many lines", func(in *order.PricingInput) { in.Lines = many(order.MaxLinesPerOrder + 1) }, "501 lines"},
		{"percent past 100 %", func(in *order.PricingInput) { in.Discounts = []order.Discount{pct("d", order.MaxRateBps+1)} }, "percent_bps 10001"},
		{"percent 0", func(in *order.PricingInput) { in.Discounts = []order.Discount{pct("d", 0)} }, "percent_bps 0"},
		{"amount 0", func(in *order.PricingInput) { in.Discounts = []order.Discount{amt("d", 0)} }, "amount_cents 0"},
		{"amount past MaxAmountCents", func(in *order.PricingInput) { in.Discounts = []order.Discount{amt("d", order.MaxAmountCents+1)} }, "amount_cents"},
		{"both percent and amount", func(in *order.PricingInput) {
			d := pct("d", 10)
			d.AmountCents = amt("d", 10).AmountCents
			in.Discounts = []order.Discount{d}
		}, "exactly one"},
		{"neither percent nor amount", func(in *order.PricingInput) { in.Discounts = []order.Discount{{ID: "d"}} }, "exactly one"},
		{"discount without id", func(in *order.PricingInput) { in.Discounts = []order.Discount{amt("", 1)} }, "id is empty"},
		{"duplicate discount id", func(in *order.PricingInput) { in.Discounts = []order.Discount{amt("d", 1), pct("d", 1)} }, `duplicate id "d"`},
		{"discount of a line not on the order", func(in *order.PricingInput) { in.Discounts = []order.Discount{onLine(9, amt("d", 1))} }, "no line"},
		{"too many discounts", func(in *order.PricingInput) {
			for i := range order.MaxDiscountsPerOrder + 1 {
				in.Discounts = append(in.Discounts, amt(fmt.Sprint(i), 1))
			}
		}, "51 discounts"},
		{"tax rate past 100 %", func(in *order.PricingInput) {
			in.TaxClasses = []order.TaxClass{{ID: "food", RateBps: order.MaxRateBps + 1}}
		}, "rate_bps 10001"},
		{"negative tax rate", func(in *order.PricingInput) { in.TaxClasses = []order.TaxClass{{ID: "food", RateBps: -1}} }, "rate_bps -1"},
		{"duplicate tax class", func(in *order.PricingInput) { in.TaxClasses = []order.TaxClass{food, food} }, "duplicate id"},
		{"tax class without id", func(in *order.PricingInput) { in.TaxClasses = append(in.TaxClasses, order.TaxClass{}) }, "id is empty"},
		{"service charge past 100 %", func(in *order.PricingInput) { in.ServiceCharge = sc(8, order.MaxRateBps+1, "food") }, "rate_bps 10001"},
		{"service charge of an unknown class", func(in *order.PricingInput) { in.ServiceCharge = sc(8, 1000, "beer") }, `unknown tax class "beer"`},
		{"negative min_guests", func(in *order.PricingInput) { in.ServiceCharge = sc(-1, 1000, "food") }, "min_guests -1"},
		{"refund past what was paid", func(in *order.PricingInput) { in.Payments = []order.Payment{pay(100, 0), pay(-101, 0)} }, "refunds exceed"},
		{"tip refund past the tips", func(in *order.PricingInput) { in.Payments = []order.Payment{pay(100, 5), pay(0, -6)} }, "refunds exceed"},
		{"movement of mixed sign", func(in *order.PricingInput) { in.Payments = []order.Payment{pay(100, 0), pay(-10, 10)} }, "differ in sign"},
		{"payment past MaxAmountCents", func(in *order.PricingInput) { in.Payments = []order.Payment{pay(order.MaxAmountCents+1, 0)} }, "outside"},
		{"too many movements", func(in *order.PricingInput) {
			in.Payments = make([]order.Payment, order.MaxPaymentsPerOrder+order.MaxRefundsPerOrder+1)
		}, "2001 payments"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := ok()
			c.change(&in)
			_, err := order.Price(in)
			require.ErrorIs(t, err, order.ErrPricingInput)
			require.Contains(t, err.Error(), c.says)
		})
	}
	_, err := order.Price(ok())
	require.NoError(t, err, "the unchanged input is fine")
}

// TestPayable: a payment may settle at most what is due, never more; a
// check owed money back takes no payment.
func TestPayable(t *testing.T) {
	due := order.PriceTotals{TotalCents: 5280, PaidCents: 3000, DueCents: 2280}
	require.Equal(t, int64(2280), due.PayableCents())
	require.NoError(t, due.CheckPayment(2280))
	err := due.CheckPayment(2281)
	var over *order.OverpaymentError
	require.ErrorAs(t, err, &over)
	require.Equal(t, order.OverpaymentError{AmountCents: 2281, PayableCents: 2280}, *over)

	owed := order.PriceTotals{TotalCents: 2376, PaidCents: 2640, DueCents: -264}
	require.Equal(t, int64(0), owed.PayableCents())
	require.ErrorAs(t, owed.CheckPayment(1), &over)
}

// TestPriceAtBounds: the largest order the bounds allow (500 lines of 99 at
// MaxPriceCents, 100 % rates, an order discount that leaves odd remainders)
// prices without overflow and agrees with exact big-integer arithmetic.
func TestPriceAtBounds(t *testing.T) {
	for _, inclusive := range []bool{false, true} {
		in := order.PricingInput{
			TaxClasses:    []order.TaxClass{{ID: "a", RateBps: order.MaxRateBps, Inclusive: inclusive}, {ID: "b", RateBps: 9999}},
			ServiceCharge: sc(1, order.MaxRateBps, "a"),
			Guests:        order.MaxGuests,
		}
		for i := range order.MaxLinesPerOrder {
			class := []string{"a", "b"}[i%2]
			in.Lines = append(in.Lines, order.PricingLine{ID: uuid.UUID{14: byte(i >> 8), 15: byte(i)}, Qty: order.MaxQty,
				UnitPriceCents: order.MaxPriceCents - int64(i), TaxClass: class})
		}
		for i := range order.MaxDiscountsPerOrder {
			in.Discounts = append(in.Discounts, amt(fmt.Sprint(i), order.MaxAmountCents-int64(i)*7))
		}
		for range order.MaxPaymentsPerOrder {
			in.Payments = append(in.Payments, pay(order.MaxAmountCents, order.MaxAmountCents))
		}
		p, err := order.Price(in)
		require.NoError(t, err)
		require.Greater(t, p.Totals.TotalCents, int64(4_950_000_000_000))
		requireAddsUp(t, in, p)
	}
}

// TestPriceAddsUp is invariant 9 for the pricing engine: for many random
// orders the totals add up, the split of the order discounts sums exactly
// and stays within a cent of the exact pro-rata share, the service charge
// and each class's tax agree with exact rational arithmetic rounded half
// even, nothing is negative, due is total − paid, and Price leaves its input
// untouched and gives the same answer twice.
func TestPriceAddsUp(t *testing.T) {
	for seed := uint64(0); seed < 1000; seed++ {
		r := rand.New(rand.NewPCG(seed, 10))
		in := randomPricing(r)
		before := clonePricing(in)
		p, err := order.Price(in)
		require.NoError(t, err, "seed %d", seed)
		require.Equal(t, before, in, "seed %d: Price must not modify its input", seed)
		again, err := order.Price(in)
		require.NoError(t, err)
		require.Equal(t, p, again, "seed %d: Price must be deterministic", seed)
		requireAddsUp(t, in, p)
		if t.Failed() {
			t.Fatalf("seed %d: %+v", seed, in)
		}
	}
}

// randomPricing is an order within the bounds: mostly restaurant-sized,
// sometimes at the extremes (100 % rates, huge prices, many lines).
func randomPricing(r *rand.Rand) order.PricingInput {
	extreme := r.IntN(10) == 0
	var in order.PricingInput
	rates := []int64{0, 550, 1000, 2000, 2100, order.MaxRateBps}
	for i := range r.IntN(5) {
		rate := rates[r.IntN(len(rates))]
		if r.IntN(3) == 0 {
			rate = r.Int64N(order.MaxRateBps + 1)
		}
		in.TaxClasses = append(in.TaxClasses, order.TaxClass{ID: fmt.Sprintf("c%d", i), RateBps: rate, Inclusive: r.IntN(2) == 0})
	}
	class := func() string {
		if len(in.TaxClasses) == 0 || r.IntN(8) == 0 {
			return ""
		}
		return in.TaxClasses[r.IntN(len(in.TaxClasses))].ID
	}
	if r.IntN(2) == 0 {
		in.ServiceCharge = sc(r.IntN(10), r.Int64N(order.MaxRateBps+1), class())
	}
	in.Guests = 1 + r.IntN(20)
	in.ServiceChargeWaived = r.IntN(5) == 0
	n := r.IntN(30)
	if extreme {
		n = r.IntN(order.MaxLinesPerOrder + 1)
	}
	for i := range n {
		l := order.PricingLine{ID: uuid.UUID{14: byte(i >> 8), 15: byte(i)}, Qty: 1 + r.IntN(4),
			UnitPriceCents: r.Int64N(5000), TaxClass: class(), Voided: r.IntN(10) == 0, Comped: r.IntN(10) == 0}
		if extreme {
			l.Qty, l.UnitPriceCents = 1+r.IntN(order.MaxQty), r.Int64N(order.MaxPriceCents+1)
		}
		in.Lines = append(in.Lines, l)
	}
	for i := range r.IntN(9) {
		var d order.Discount
		if r.IntN(2) == 0 {
			d = pct(fmt.Sprintf("d%d", i), 1+r.Int64N(order.MaxRateBps))
		} else {
			d = amt(fmt.Sprintf("d%d", i), 1+r.Int64N(3000))
			if extreme {
				d = amt(d.ID, 1+r.Int64N(order.MaxAmountCents))
			}
		}
		if len(in.Lines) > 0 && r.IntN(2) == 0 {
			id := in.Lines[r.IntN(len(in.Lines))].ID
			d.LineID = &id
		}
		in.Discounts = append(in.Discounts, d)
	}
	var paid, tips int64
	for range r.IntN(6) {
		if paid > 0 && r.IntN(3) == 0 {
			m := pay(-r.Int64N(paid+1), -r.Int64N(tips+1))
			in.Payments = append(in.Payments, m)
			paid, tips = paid+m.AmountCents, tips+m.TipCents
			continue
		}
		m := pay(1+r.Int64N(10000), r.Int64N(1000))
		in.Payments = append(in.Payments, m)
		paid, tips = paid+m.AmountCents, tips+m.TipCents
	}
	return in
}

func clonePricing(in order.PricingInput) order.PricingInput {
	b, err := json.Marshal(in)
	if err != nil {
		panic(err)
	}
	var out order.PricingInput
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// requireAddsUp checks p against in by the rules of docs/PRICING.md, using
// exact big-integer arithmetic where Price rounds.
func requireAddsUp(t *testing.T, in order.PricingInput, p order.Pricing) {
	t.Helper()
	tot := p.Totals
	require.Len(t, p.Lines, len(in.Lines))
	require.Len(t, p.Discounts, len(in.Discounts))

	// Lines: amount is qty × unit price unless voided or comped.
	var sub, afterLine int64
	for i, l := range in.Lines {
		var want int64
		if !l.Voided && !l.Comped {
			want = int64(l.Qty) * l.UnitPriceCents
		}
		lp := p.Lines[i]
		require.Equal(t, l.ID, lp.ID)
		require.Equal(t, want, lp.AmountCents, "line %d", i)
		require.Equal(t, lp.AmountCents-lp.LineDiscountCents-lp.OrderDiscountCents, lp.NetCents, "line %d", i)
		require.GreaterOrEqual(t, lp.LineDiscountCents, int64(0))
		require.GreaterOrEqual(t, lp.OrderDiscountCents, int64(0))
		require.GreaterOrEqual(t, lp.NetCents, int64(0), "line %d goes below zero", i)
		sub += lp.AmountCents
		afterLine += lp.AmountCents - lp.LineDiscountCents
	}
	require.Equal(t, sub, tot.SubtotalCents)

	// Discounts: a line's discounts take min(amount, Σ nominal); the order's
	// take min(what is left, Σ nominal); each takes at most its nominal.
	nominal := func(d order.Discount, base int64) int64 {
		if d.PercentBps != nil {
			return halfEven(big.NewInt(base), big.NewInt(*d.PercentBps), big.NewInt(10_000))
		}
		return *d.AmountCents
	}
	lineNominal := make(map[uuid.UUID]int64)
	lineApplied := make(map[uuid.UUID]int64)
	var orderNominal, orderApplied, applied int64
	for j, d := range in.Discounts {
		dp := p.Discounts[j]
		require.Equal(t, d.ID, dp.ID)
		require.GreaterOrEqual(t, dp.AppliedCents, int64(0))
		applied += dp.AppliedCents
		if d.LineID != nil {
			i := lineIndex(in, *d.LineID)
			nom := nominal(d, p.Lines[i].AmountCents)
			require.LessOrEqual(t, dp.AppliedCents, nom)
			lineNominal[*d.LineID] += nom
			lineApplied[*d.LineID] += dp.AppliedCents
			continue
		}
		nom := nominal(d, afterLine)
		require.LessOrEqual(t, dp.AppliedCents, nom)
		orderNominal += nom
		orderApplied += dp.AppliedCents
	}
	var allocated int64
	for i, lp := range p.Lines {
		require.Equal(t, min(lp.AmountCents, lineNominal[lp.ID]), lineApplied[lp.ID], "line %d's discounts", i)
		require.Equal(t, lineApplied[lp.ID], lp.LineDiscountCents, "line %d", i)
		allocated += lp.OrderDiscountCents
	}
	require.Equal(t, min(afterLine, orderNominal), orderApplied)
	require.Equal(t, orderApplied, allocated, "the split of the order discounts sums exactly")
	require.Equal(t, applied, tot.DiscountCents)
	if orderApplied > 0 {
		// Within one cent of the exact share: |share × base − D × w| < base.
		base := big.NewInt(afterLine)
		for i, lp := range p.Lines {
			w := lp.AmountCents - lp.LineDiscountCents
			exact := new(big.Int).Mul(big.NewInt(orderApplied), big.NewInt(w))
			got := new(big.Int).Mul(big.NewInt(lp.OrderDiscountCents), base)
			diff := new(big.Int).Sub(got, exact)
			require.Equal(t, -1, diff.CmpAbs(base), "line %d's share is more than a cent off", i)
		}
	}

	// Service charge and taxes, against exact arithmetic.
	discounted := sub - tot.DiscountCents
	var wantSC int64
	s := in.ServiceCharge
	charged := s != nil && s.MinGuests > 0 && in.Guests >= s.MinGuests && !in.ServiceChargeWaived
	if charged {
		wantSC = halfEven(big.NewInt(discounted), big.NewInt(s.RateBps), big.NewInt(10_000))
	}
	require.Equal(t, wantSC, tot.ServiceChargeCents)
	taxable := make(map[string]int64)
	falls := make(map[string]bool)
	for i, l := range in.Lines {
		if l.TaxClass != "" && !l.Voided && !l.Comped {
			taxable[l.TaxClass] += p.Lines[i].NetCents
			falls[l.TaxClass] = true
		}
	}
	if charged && s.TaxClass != "" {
		taxable[s.TaxClass] += wantSC
		falls[s.TaxClass] = true
	}
	var wantTaxes []order.TaxPricing
	var taxSum, exclusive int64
	for _, tc := range in.TaxClasses {
		if !falls[tc.ID] {
			continue
		}
		den := int64(10_000)
		if tc.Inclusive {
			den += tc.RateBps
		}
		tax := halfEven(big.NewInt(taxable[tc.ID]), big.NewInt(tc.RateBps), big.NewInt(den))
		wantTaxes = append(wantTaxes, order.TaxPricing{TaxClass: tc.ID, RateBps: tc.RateBps, Inclusive: tc.Inclusive,
			TaxableCents: taxable[tc.ID], TaxCents: tax})
		taxSum += tax
		if !tc.Inclusive {
			exclusive += tax
		}
	}
	require.Equal(t, wantTaxes, p.Taxes)
	require.Equal(t, taxSum, tot.TaxCents, "the per-class taxes sum to the tax")

	require.Equal(t, sub-tot.DiscountCents+tot.ServiceChargeCents+exclusive, tot.TotalCents,
		"total = subtotal − discount + service charge + exclusive tax")
	var paid, tips int64
	for _, m := range in.Payments {
		paid += m.AmountCents
		tips += m.TipCents
	}
	require.Equal(t, paid, tot.PaidCents)
	require.Equal(t, tips, tot.TipCents)
	require.Equal(t, tot.TotalCents-tot.PaidCents, tot.DueCents, "due = total − paid")
	for name, v := range map[string]int64{"subtotal": tot.SubtotalCents, "discount": tot.DiscountCents,
		"service charge": tot.ServiceChargeCents, "tax": tot.TaxCents, "total": tot.TotalCents, "paid": tot.PaidCents, "tip": tot.TipCents} {
		require.GreaterOrEqual(t, v, int64(0), name)
	}
	require.Equal(t, max(tot.DueCents, 0), tot.PayableCents())
}

func lineIndex(in order.PricingInput, id uuid.UUID) int {
	for i, l := range in.Lines {
		if l.ID == id {
			return i
		}
	}
	panic("no line " + id.String())
}

// halfEven is a × b / den rounded half to even, in exact arithmetic.
func halfEven(a, b, den *big.Int) int64 {
	num := new(big.Int).Mul(a, b)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	switch new(big.Int).Mul(r, big.NewInt(2)).Cmp(den) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q.Int64()
}

// BenchmarkPrice prices a busy table: 20 lines in three classes, a line and
// an order discount, the service charge and two payments.
func BenchmarkPrice(b *testing.B) {
	in := order.PricingInput{TaxClasses: classes, Guests: 8, ServiceCharge: sc(8, 1800, "food"),
		Discounts: []order.Discount{onLine(3, pct("d1", 1500)), amt("d2", 777)},
		Payments:  []order.Payment{pay(5000, 500), pay(3000, 0)}}
	for i := range 20 {
		in.Lines = append(in.Lines, pline(i, 1+i%3, int64(450+i*125), classes[i%3].ID))
	}
	for b.Loop() {
		if _, err := order.Price(in); err != nil {
			b.Fatal(err)
		}
	}
}
