package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// MaxShiftRange is the longest period one report may cover.
const MaxShiftRange = 31 * 24 * time.Hour

// Report is the post-shift report for [From, To).
type Report struct {
	From    time.Time      `json:"from"`
	To      time.Time      `json:"to"`
	ByStaff []StaffSummary `json:"by_staff"`
	// Voids and Comps are the range's first voids and comps (at most
	// MaxShiftRows each), by time, order, version and place in the
	// change; VoidsTotal and CompsTotal count them all, listed or not.
	Voids      []LineAction `json:"voids"`
	VoidsTotal int64        `json:"voids_total"`
	Comps      []LineAction `json:"comps"`
	CompsTotal int64        `json:"comps_total"`
	// ForcedOverrides are the range's first forced writes (at most
	// MaxShiftRows), by time, order and version; ForcedOverridesTotal
	// counts them all.
	ForcedOverrides      []ForcedOverride `json:"forced_overrides"`
	ForcedOverridesTotal int64            `json:"forced_overrides_total"`
	Conflicts            Conflicts        `json:"conflicts"`
	// Money sums the orders closed in the range, priced as their checks
	// were (docs/PRICING.md).
	Money Money `json:"money"`
	// MenuChanges are the shift's first menu changes (prices,
	// availability, imports), in the menu log's order, within the bound
	// MaxShiftMenuChanges and MaxShiftMenuChangeBytes.
	MenuChanges []MenuChangeEntry `json:"menu_changes"`
	// MenuChangesTotal counts the shift's menu changes, listed or not: more
	// than len(MenuChanges) when the bound cut the list short.
	MenuChangesTotal int64 `json:"menu_changes_total"`
	// ReadFrom is where the report was read when it was read off the
	// primary (absent when read on posd's own database).
	ReadFrom *ReadFrom `json:"read_from,omitempty"`
}

// MaxShiftRows bounds each of a report's lists of voids, comps, forced
// overrides and tables with refused writes (DESIGN.md invariant 12): a
// report lists the range's first MaxShiftRows of each (the tables with the
// most refused writes) and counts them all (Report.VoidsTotal, CompsTotal,
// ForcedOverridesTotal, Conflicts.ByTableTotal); a narrower range lists
// the rest.
const MaxShiftRows = 1000

// The bound of a report's menu changes (DESIGN.md invariant 12): it lists
// the range's first MaxShiftMenuChanges changes in log order, and past the
// first only while their before and after add up to at most
// MaxShiftMenuChangeBytes (those of a posd menu import are whole
// catalogs). Report.MenuChangesTotal counts them all; a narrower range
// lists the rest.
const (
	MaxShiftMenuChanges     = 1000
	MaxShiftMenuChangeBytes = 8 << 20
)

// Money is the shift's takings: the totals of the orders closed in the
// range (an order merged into another is counted there) summed figure by figure (each order's taxes rounded as on its
// check, then added), tax per tax class and rate, and per tender what was
// paid, refunded and tipped. NetSalesCents = GrossSalesCents −
// DiscountCents; TotalCents = NetSalesCents + ServiceChargeCents + the
// exclusive tax; PaidCents (payments less refunds) is what the tenders
// took net, tips apart.
type Money struct {
	OrdersClosed       int64       `json:"orders_closed"`
	GrossSalesCents    int64       `json:"gross_sales_cents"`
	DiscountCents      int64       `json:"discount_cents"`
	NetSalesCents      int64       `json:"net_sales_cents"`
	ServiceChargeCents int64       `json:"service_charge_cents"`
	TaxCents           int64       `json:"tax_cents"`
	TotalCents         int64       `json:"total_cents"`
	PaidCents          int64       `json:"paid_cents"`
	RefundCents        int64       `json:"refund_cents"`
	Refunds            int64       `json:"refunds"`
	TipCents           int64       `json:"tip_cents"`
	Taxes              []TaxTotal  `json:"taxes"`
	Tenders            []TenderSum `json:"tenders"`
}

// TaxTotal is the tax collected in one tax class at one rate (a class
// whose rate changed during the range has a row per rate: an order keeps
// the rate it was opened with).
type TaxTotal struct {
	TaxClass     string `json:"tax_class"`
	RateBps      int64  `json:"rate_bps"`
	Inclusive    bool   `json:"inclusive"`
	TaxableCents int64  `json:"taxable_cents"`
	TaxCents     int64  `json:"tax_cents"`
}

// TenderSum is one tender's takings: payments, refunds (as a positive
// amount) and tips.
type TenderSum struct {
	Tender       string `json:"tender"`
	PaymentCents int64  `json:"payment_cents"`
	RefundCents  int64  `json:"refund_cents"`
	TipCents     int64  `json:"tip_cents"`
}

// shiftPage is how many closed orders Shift reads per query.
const shiftPage = 1000

// add adds the money of closed orders to m, their taxes and tenders to
// the maps by key.
func (m *Money) add(orders []order.Order, taxes map[TaxTotal]*TaxTotal, tenders map[string]*TenderSum) {
	for _, o := range orders {
		if o.MergedInto != nil {
			continue // its lines are counted on the order it merged into
		}
		t := o.Totals
		m.OrdersClosed++
		m.GrossSalesCents += t.SubtotalCents
		m.DiscountCents += t.DiscountCents
		m.ServiceChargeCents += t.ServiceChargeCents
		m.TaxCents += t.TaxCents
		m.TotalCents += t.TotalCents
		m.PaidCents += t.PaidCents
		m.TipCents += t.TipCents
		for _, tx := range o.Taxes {
			key := TaxTotal{TaxClass: tx.TaxClass, RateBps: tx.RateBps, Inclusive: tx.Inclusive}
			if taxes[key] == nil {
				k := key
				taxes[key] = &k
			}
			taxes[key].TaxableCents += tx.TaxableCents
			taxes[key].TaxCents += tx.TaxCents
		}
		for _, p := range o.Payments {
			ts := tenders[p.Tender]
			if ts == nil {
				ts = &TenderSum{Tender: p.Tender}
				tenders[p.Tender] = ts
			}
			if p.RefundOf != nil { // a refund may give back a tip alone
				m.RefundCents -= p.AmountCents
				m.Refunds++
				ts.RefundCents -= p.AmountCents
			} else {
				ts.PaymentCents += p.AmountCents
			}
			ts.TipCents += p.TipCents
		}
	}
	m.NetSalesCents = m.GrossSalesCents - m.DiscountCents
}

// StaffSummary is one staff member's shift. Orders, sales and tips count the
// orders the staff member opened (their server) that closed in the range
// (sales are net sales: lines less discounts, without service charge, tax
// or tips); voids and comps count those the staff member made. Lines moved
// to another table's order, or merged into it, are sales of the order they
// are paid on, so of its server; an order merged into another (closed with
// merged_into, holding nothing) is not counted as an order closed.
type StaffSummary struct {
	Staff        string `json:"staff"`
	OrdersClosed int64  `json:"orders_closed"`
	SalesCents   int64  `json:"sales_cents"`
	TipsCents    int64  `json:"tips_cents"`
	Voids        int64  `json:"voids"`
	Comps        int64  `json:"comps"`
}

// LineAction is one void or comp. OrderID and Version lead to the event
// (GET /v1/orders/{order_id}/events, ?at_version=).
type LineAction struct {
	OrderID     uuid.UUID `json:"order_id"`
	Version     int64     `json:"version"`
	Table       string    `json:"table"`
	LineID      string    `json:"line_id"`
	SKU         string    `json:"sku"`
	Qty         int64     `json:"qty"`
	AmountCents int64     `json:"amount_cents"`
	Reason      string    `json:"reason"`
	By          string    `json:"by"`
	At          time.Time `json:"at"`
}

// ForcedOverride is one manager write that skipped the version check.
type ForcedOverride struct {
	OrderID           uuid.UUID `json:"order_id"`
	Table             string    `json:"table"`
	Version           int64     `json:"version"`
	OverriddenVersion int64     `json:"overridden_version"`
	By                string    `json:"by"`
	At                time.Time `json:"at"`
}

// Conflicts counts refused stale writes: Total all of them, ByTable those
// of the tables with the most (at most MaxShiftRows tables, most first),
// ByTableTotal the tables they were on, listed or not.
type Conflicts struct {
	Total        int64        `json:"total"`
	ByTable      []TableCount `json:"by_table"`
	ByTableTotal int64        `json:"by_table_total"`
}

// TableCount is the refused writes on one table.
type TableCount struct {
	Table string `json:"table"`
	Count int64  `json:"count"`
}

// ErrRange is a report range that is reversed, empty or too long, or a
// time of it outside the years 0000 to 9999 in UTC.
var ErrRange = errors.New("invalid report range")

// CheckTime validates the end name ("from", "to") of a report range: the
// report writes its times in UTC as RFC 3339, which has no year before
// 0000 or after 9999 (an offset can carry a time that parses out of them).
func CheckTime(name string, t time.Time) error {
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("%w: %s must fall within the years 0000 to 9999 in UTC", ErrRange, name)
	}
	return nil
}

// CheckRange validates [from, to): each end (CheckTime), from before to,
// at most MaxShiftRange.
func CheckRange(from, to time.Time) error {
	if err := CheckTime("from", from); err != nil {
		return err
	}
	if err := CheckTime("to", to); err != nil {
		return err
	}
	switch {
	case !from.Before(to):
		return fmt.Errorf("%w: from must be before to", ErrRange)
	case to.Sub(from) > MaxShiftRange:
		return fmt.Errorf("%w: at most %d days", ErrRange, int(MaxShiftRange.Hours()/24))
	}
	return nil
}

// lineActions lists the range's first MaxShiftRows ops named op (a void
// or a comp) as the report does, each decoded as posd's decoder reads it
// (Postgres found them by name: an op it names otherwise is a broken link).
func lineActions(ctx context.Context, j ShiftJournal, venue string, from, to time.Time, op string) ([]LineAction, error) {
	ops, err := j.LineActions(ctx, venue, from, to, op, MaxShiftRows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	out := make([]LineAction, 0, len(ops))
	for _, e := range ops {
		a, err := decodeStoredOp([]byte(e.Op))
		if err == nil && a.Op != op {
			err = fmt.Errorf("is not a %s", op)
		}
		if err != nil {
			return nil, fmt.Errorf("decode ops of order %s version %d (posd audit verify names the broken link): a %s %v", e.OrderID, e.Version, op, err)
		}
		la := LineAction{OrderID: e.OrderID, Version: e.Version, Table: e.Table, SKU: a.SKU,
			Reason: a.Reason, By: e.Staff, At: e.At.UTC()}
		if a.Table != "" {
			la.Table = a.Table // where the order was at the time
		}
		if a.LineID != nil {
			la.LineID = a.LineID.String()
		}
		if a.Qty != nil {
			la.Qty = int64(*a.Qty)
		}
		if a.UnitPriceCents != nil {
			la.AmountCents = la.Qty * *a.UnitPriceCents
		}
		out = append(out, la)
	}
	return out, nil
}

// Shift builds the report for venue over [from, to) from j. All figures
// come from one snapshot when j reads one.
func Shift(ctx context.Context, j ShiftJournal, venue string, from, to time.Time) (Report, error) {
	if err := CheckRange(from, to); err != nil {
		return Report{}, err
	}
	r := Report{From: from.UTC(), To: to.UTC(), ByStaff: []StaffSummary{}, Voids: []LineAction{}, Comps: []LineAction{},
		ForcedOverrides: []ForcedOverride{}, Conflicts: Conflicts{ByTable: []TableCount{}},
		Money: Money{Taxes: []TaxTotal{}, Tenders: []TenderSum{}}, MenuChanges: []MenuChangeEntry{}}
	staff := map[string]*StaffSummary{}
	get := func(name string) *StaffSummary {
		if s, ok := staff[name]; ok {
			return s
		}
		s := &StaffSummary{Staff: name}
		staff[name] = s
		return s
	}

	counts, err := j.LineActionCounts(ctx, venue, from, to, []string{order.OpVoidItem, order.OpCompItem})
	if err != nil {
		return r, fmt.Errorf("voids and comps: %w", err)
	}
	for _, c := range counts {
		switch c.Op {
		case order.OpVoidItem:
			get(c.Staff).Voids += c.Count
			r.VoidsTotal += c.Count
		case order.OpCompItem:
			get(c.Staff).Comps += c.Count
			r.CompsTotal += c.Count
		}
	}
	for _, sec := range []struct {
		op   string
		list *[]LineAction
	}{{order.OpVoidItem, &r.Voids}, {order.OpCompItem, &r.Comps}} {
		if *sec.list, err = lineActions(ctx, j, venue, from, to, sec.op); err != nil {
			return r, err
		}
	}

	forced, total, err := j.ForcedOverrides(ctx, venue, from, to, MaxShiftRows)
	if err != nil {
		return r, fmt.Errorf("forced overrides: %w", err)
	}
	r.ForcedOverridesTotal = total
	for _, f := range forced {
		f.At = f.At.UTC()
		r.ForcedOverrides = append(r.ForcedOverrides, f)
	}

	if r.Conflicts, err = j.Conflicts(ctx, venue, from, to, MaxShiftRows); err != nil {
		return r, fmt.Errorf("conflicts: %w", err)
	}
	if r.Conflicts.ByTable == nil {
		r.Conflicts.ByTable = []TableCount{}
	}

	taxes, tenders := map[TaxTotal]*TaxTotal{}, map[string]*TenderSum{}
	for after := uuid.Nil; ; {
		page, err := j.ClosedOrdersPage(ctx, venue, from, to, after, shiftPage)
		if err != nil {
			return r, fmt.Errorf("closed orders: %w", err)
		}
		r.Money.add(page, taxes, tenders)
		for _, o := range page {
			if o.MergedInto != nil {
				continue
			}
			s := get(o.Server)
			s.OrdersClosed++
			s.SalesCents += o.Totals.SubtotalCents - o.Totals.DiscountCents
			s.TipsCents += o.Totals.TipCents
		}
		if len(page) < shiftPage {
			break
		}
		after = page[len(page)-1].ID
	}
	for _, t := range taxes {
		r.Money.Taxes = append(r.Money.Taxes, *t)
	}
	sort.Slice(r.Money.Taxes, func(a, b int) bool {
		x, y := r.Money.Taxes[a], r.Money.Taxes[b]
		if x.TaxClass != y.TaxClass {
			return x.TaxClass < y.TaxClass
		}
		if x.RateBps != y.RateBps {
			return x.RateBps < y.RateBps
		}
		return !x.Inclusive && y.Inclusive
	})
	for _, t := range tenders {
		r.Money.Tenders = append(r.Money.Tenders, *t)
	}
	sort.Slice(r.Money.Tenders, func(a, b int) bool { return r.Money.Tenders[a].Tender < r.Money.Tenders[b].Tender })
	menu, total, err := j.MenuChanges(ctx, venue, from, to, MaxShiftMenuChanges, MaxShiftMenuChangeBytes)
	if err != nil {
		return r, fmt.Errorf("menu changes: %w", err)
	}
	r.MenuChangesTotal = total
	for _, c := range menu {
		e, err := menuEntry(c)
		if err != nil {
			return r, fmt.Errorf("%w (posd audit verify names the broken link)", err)
		}
		r.MenuChanges = append(r.MenuChanges, e)
	}

	for _, s := range staff {
		r.ByStaff = append(r.ByStaff, *s)
	}
	sort.Slice(r.ByStaff, func(i, j int) bool { return r.ByStaff[i].Staff < r.ByStaff[j].Staff })
	return r, nil
}
