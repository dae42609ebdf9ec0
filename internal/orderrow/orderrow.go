// Package orderrow decodes a row of the orders_full view into the order
// aggregate, for every package that reads orders from Postgres (the store,
// and audit verify). It does not import the generated SQL: a caller converts
// its generated row with Row(r), which the compiler allows only while the
// fields agree.
package orderrow

import (
	"fmt"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// Row is a row of the orders_full view (db/schema): the order's columns, its
// lines and its payments aggregated as JSON.
type Row struct {
	VenueID     string
	ID          uuid.UUID
	TableID     string
	Status      string
	Guests      int32
	Note        string
	Version     int64
	ServerStaff string
	OpenedAt    time.Time
	UpdatedAt   time.Time
	ClosedAt    *time.Time
	LastHash    []byte
	Lines       []byte
	Payments    []byte
	// Pricing is the rules fixed when the order opened (NULL: opened
	// before posd priced orders); Discounts and ServiceChargeWaiver the
	// manager's.
	Pricing             []byte
	Discounts           []byte
	ServiceChargeWaiver []byte
	// MergedInto is the order this one was merged into (NULL: none).
	MergedInto *uuid.UUID
}

// lineJSON is a line as GetOrderFull aggregates it.
type lineJSON struct {
	order.Line
	Position int `json:"position"`
}

// FromRow turns an orders_full row into the order: lines in position order,
// payments in the order taken, totals computed. Every PATCH reads its order
// through it, so the JSON Postgres aggregated is decoded with json v2
// (go-json-experiment), about twice as fast as encoding/json on a ten-line
// order (BenchmarkFromRow); the text is posd's own jsonb, so v2's stricter
// rules (exact member names, no duplicates, valid UTF-8) always hold.
func FromRow(r Row) (order.Order, error) {
	o := order.Order{
		ID: r.ID, Venue: r.VenueID, Table: r.TableID, Status: r.Status, Guests: int(r.Guests),
		Note: r.Note, Version: r.Version, Server: r.ServerStaff, OpenedAt: r.OpenedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), ChainHead: r.LastHash,
	}
	if r.ClosedAt != nil {
		t := r.ClosedAt.UTC()
		o.ClosedAt = &t
	}
	if r.MergedInto != nil {
		m := *r.MergedInto
		o.MergedInto = &m
	}
	var lines []lineJSON
	if err := json.Unmarshal(r.Lines, &lines); err != nil {
		return o, fmt.Errorf("decode lines of order %s: %w", r.ID, err)
	}
	o.Lines = make([]order.Line, len(lines))
	for i, l := range lines {
		l.Line.Position = l.Position
		o.Lines[i] = l.Line
	}
	if err := json.Unmarshal(r.Payments, &o.Payments); err != nil {
		return o, fmt.Errorf("decode payments of order %s: %w", r.ID, err)
	}
	if o.Payments == nil {
		o.Payments = []order.Payment{}
	}
	if r.Pricing != nil {
		if err := json.Unmarshal(r.Pricing, &o.Rules); err != nil {
			return o, fmt.Errorf("decode pricing rules of order %s: %w", r.ID, err)
		}
	}
	o.Discounts = []order.OrderDiscount{}
	if r.Discounts != nil {
		var ds []order.Discount
		if err := json.Unmarshal(r.Discounts, &ds); err != nil {
			return o, fmt.Errorf("decode discounts of order %s: %w", r.ID, err)
		}
		for _, d := range ds {
			o.Discounts = append(o.Discounts, order.OrderDiscount{Discount: d})
		}
	}
	if r.ServiceChargeWaiver != nil {
		if err := json.Unmarshal(r.ServiceChargeWaiver, &o.ServiceChargeWaiver); err != nil {
			return o, fmt.Errorf("decode service charge waiver of order %s: %w", r.ID, err)
		}
	}
	if err := o.ComputeTotals(); err != nil {
		return o, err
	}
	return o, nil
}
