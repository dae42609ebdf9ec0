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
	From            time.Time        `json:"from"`
	To              time.Time        `json:"to"`
	ByStaff         []StaffSummary   `json:"by_staff"`
	Voids           []LineAction     `json:"voids"`
	Comps           []LineAction     `json:"comps"`
	ForcedOverrides []ForcedOverride `json:"forced_overrides"`
	Conflicts       Conflicts        `json:"conflicts"`
	// MenuChanges are the shift's menu changes (prices, availability,
	// imports), in the menu log's order.
	MenuChanges []MenuChangeEntry `json:"menu_changes"`
}

// StaffSummary is one staff member's shift. Orders, sales and tips count the
// orders the staff member opened (their server) that closed in the range;
// voids and comps count those the staff member made.
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

// Conflicts counts refused stale writes.
type Conflicts struct {
	Total   int64        `json:"total"`
	ByTable []TableCount `json:"by_table"`
}

// TableCount is the refused writes on one table.
type TableCount struct {
	Table string `json:"table"`
	Count int64  `json:"count"`
}

// ErrRange is a report range that is reversed, empty or too long.
var ErrRange = errors.New("invalid report range")

// CheckRange validates [from, to).
func CheckRange(from, to time.Time) error {
	switch {
	case !from.Before(to):
		return fmt.Errorf("%w: from must be before to", ErrRange)
	case to.Sub(from) > MaxShiftRange:
		return fmt.Errorf("%w: at most %d days", ErrRange, int(MaxShiftRange.Hours()/24))
	}
	return nil
}

// Shift builds the report for venue over [from, to) from j. All figures
// come from one snapshot when j reads one.
func Shift(ctx context.Context, j ShiftJournal, venue string, from, to time.Time) (Report, error) {
	if err := CheckRange(from, to); err != nil {
		return Report{}, err
	}
	r := Report{From: from.UTC(), To: to.UTC(), ByStaff: []StaffSummary{}, Voids: []LineAction{}, Comps: []LineAction{},
		ForcedOverrides: []ForcedOverride{}, Conflicts: Conflicts{ByTable: []TableCount{}},
		MenuChanges: []MenuChangeEntry{}}
	staff := map[string]*StaffSummary{}
	get := func(name string) *StaffSummary {
		if s, ok := staff[name]; ok {
			return s
		}
		s := &StaffSummary{Staff: name}
		staff[name] = s
		return s
	}

	sales, err := j.SalesByServer(ctx, venue, from, to)
	if err != nil {
		return r, fmt.Errorf("sales: %w", err)
	}
	for _, row := range sales {
		s := get(row.Staff)
		s.OrdersClosed, s.SalesCents, s.TipsCents = row.OrdersClosed, row.SalesCents, row.TipsCents
	}

	lineEvents, err := j.PatchedEvents(ctx, venue, from, to)
	if err != nil {
		return r, fmt.Errorf("voids and comps: %w", err)
	}
	for _, e := range lineEvents {
		// Decoded, never matched as text: the same op written with other
		// spacing or escapes is still a void or a comp.
		ops, err := decodeStoredOps([]byte(e.Ops))
		if err != nil {
			return r, fmt.Errorf("decode ops of order %s version %d (posd audit verify names the broken link): %w", e.OrderID, e.Version, err)
		}
		for _, op := range ops {
			if op.Op != order.OpVoidItem && op.Op != order.OpCompItem {
				continue
			}
			la := LineAction{OrderID: e.OrderID, Version: e.Version, Table: e.Table, SKU: op.SKU,
				Reason: op.Reason, By: e.Staff, At: e.At.UTC()}
			if op.Table != "" {
				la.Table = op.Table // where the order was at the time
			}
			if op.LineID != nil {
				la.LineID = op.LineID.String()
			}
			if op.Qty != nil {
				la.Qty = int64(*op.Qty)
			}
			if op.UnitPriceCents != nil {
				la.AmountCents = la.Qty * *op.UnitPriceCents
			}
			if op.Op == order.OpVoidItem {
				r.Voids = append(r.Voids, la)
				get(e.Staff).Voids++
			} else {
				r.Comps = append(r.Comps, la)
				get(e.Staff).Comps++
			}
		}
	}

	forced, err := j.ForcedOverrides(ctx, venue, from, to)
	if err != nil {
		return r, fmt.Errorf("forced overrides: %w", err)
	}
	for _, f := range forced {
		f.At = f.At.UTC()
		r.ForcedOverrides = append(r.ForcedOverrides, f)
	}

	conflicts, err := j.ConflictsByTable(ctx, venue, from, to)
	if err != nil {
		return r, fmt.Errorf("conflicts: %w", err)
	}
	for _, c := range conflicts {
		r.Conflicts.Total += c.Count
		r.Conflicts.ByTable = append(r.Conflicts.ByTable, c)
	}

	menu, err := j.MenuChanges(ctx, venue, from, to)
	if err != nil {
		return r, fmt.Errorf("menu changes: %w", err)
	}
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
