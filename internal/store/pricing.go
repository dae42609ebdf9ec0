package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// VenuePricing is what the venue prices and takes payment with now: the
// rules a newly opened order keeps for its life, and the tenders
// add_payment accepts.
type VenuePricing struct {
	Rules   order.PriceRules
	Tenders []string
}

// venuePricing reads the venue's pricing rules and tenders (one statement,
// so they agree). An unknown venue is ErrUnknownVenue.
func (s *Store) venuePricing(ctx context.Context, venue string) (VenuePricing, error) {
	row, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (dbsqlc.VenuePricingRow, error) {
		return s.q.VenuePricing(ctx, db, venue)
	})
	if err != nil {
		err = translate(err, errContext{})
		if errors.Is(err, order.ErrNotFound) {
			return VenuePricing{}, fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
		}
		return VenuePricing{}, fmt.Errorf("read venue pricing: %w", err)
	}
	vp := VenuePricing{Tenders: row.Tenders, Rules: order.PriceRules{TaxClasses: []order.TaxClass{}}}
	if err := json.Unmarshal(row.TaxClasses, &vp.Rules.TaxClasses); err != nil {
		return VenuePricing{}, fmt.Errorf("decode tax classes: %w", err)
	}
	if row.ServiceChargeMinGuests > 0 {
		vp.Rules.ServiceCharge = &order.ServiceCharge{MinGuests: int(row.ServiceChargeMinGuests),
			RateBps: row.ServiceChargeRateBps, TaxClass: row.ServiceChargeTaxClass}
	}
	return vp, nil
}
