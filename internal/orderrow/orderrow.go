// Package orderrow decodes the orders_full view into the order aggregate, for
// every package that reads orders from Postgres.
package orderrow

import (
	"encoding/json"
	"fmt"

	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/order"
)

// lineJSON is a line as GetOrderFull aggregates it.
type lineJSON struct {
	order.Line
	Position int `json:"position"`
}

// FromRow turns an orders_full row into the order: lines in position order,
// payments in the order taken, totals computed.
func FromRow(r dbsqlc.OrdersFull) (order.Order, error) {
	o := order.Order{
		ID: r.ID, Venue: r.VenueID, Table: r.TableID, Status: r.Status, Guests: int(r.Guests),
		Note: r.Note, Version: r.Version, Server: r.ServerStaff, OpenedAt: r.OpenedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(), ChainHead: r.LastHash,
	}
	if r.ClosedAt != nil {
		t := r.ClosedAt.UTC()
		o.ClosedAt = &t
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
	o.ComputeTotals()
	return o, nil
}
