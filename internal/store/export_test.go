package store

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
)

// What the external tests (package store_test, which may import pgtest and
// so seed, which imports the store) see of the store's inside.

// ErrStale is errStale.
var ErrStale = errStale

// ConstraintCatalogs is constraintCatalogs.
var ConstraintCatalogs = constraintCatalogs

// TranslateAdmin is translate for device administration adding spec.
func TranslateAdmin(err error, spec *device.Spec) error {
	return translate(err, errContext{device: spec, admin: true})
}

// CatalogFields is catalogFields.
var CatalogFields = catalogFields

// BoundFields is boundFields.
var BoundFields = boundFields

// Write is the store's versioned write, past Patch's pre-check, for
// changes that take nothing from the menu (no stock statements).
func (s *Store) Write(ctx context.Context, cur, next order.Order, ev *order.Event, tickets []kitchen.Ticket, idem *Idem) error {
	return s.write(ctx, cur, next, ev, tickets, idem, stockPlan{}, nil)
}

// NewID is the store's id source.
func (s *Store) NewID() uuid.UUID { return s.newID() }

// SetUnchained switches the hash chain off (the benchmark's baseline).
func (s *Store) SetUnchained(v bool) { s.unchained = v }

// Translate is translate for an order write on table with ops.
func Translate(err error, table string, ops []order.Op) error {
	return translate(err, errContext{table: table, ops: ops})
}

// InVenue runs f in an ordinary transaction scoped to venue, through the
// store's one transaction path.
func (s *Store) InVenue(ctx context.Context, venue string, f func(tx pgx.Tx) error) error {
	return inTx(ctx, s.pool, venueBatch(venue), f)
}

// MenuPrice is the price of the venue's item sku in the store's menu (its
// cache when fresh).
func (s *Store) MenuPrice(ctx context.Context, venue, sku string) (int64, error) {
	items, _, _, err := s.menu(ctx, venue)
	return items[sku].PriceCents, err
}

// CheckOrderCache makes every write planned on a cached order compare it
// with the database's first (what POSD_ORDER_CACHE_CHECK=1 turns on).
func (s *Store) CheckOrderCache() { s.orders.check = true }
