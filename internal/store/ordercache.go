package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/posd/posd/internal/order"
)

// DefaultOrderCache is how many orders a store keeps in memory unless
// SetOrderCache says otherwise.
const DefaultOrderCache = 1024

// maxCachedLines is the largest order (in lines) the cache keeps, so its
// memory stays bounded (about DefaultOrderCache × maxCachedLines lines).
const maxCachedLines = 64

// orderCache keeps the orders this store last wrote or read, each at one
// version with its chain head, so the write that follows a client's own
// answer is planned without reading the order again (the common case: a
// handheld sends the version its last answer carried).
//
// It is a cost saving, never what decides: the versioned UPDATE names the
// version and the chain head the change was planned on (BumpOrderVersion's
// expected_hash), and the head is the hash of the order's whole history, so
// a write planned on an entry that another replica, a forced write or
// anything else has since moved past matches no row and is handled as a
// stale write. Any other outcome of a plan made on an entry (a refusal, a
// change that changes nothing) is decided again on a fresh read, so clients
// see exactly what they would without the cache.
type orderCache struct {
	mu sync.Mutex // orders' Get-then-Add
	// orders is nil when the cache is off.
	orders *lru.Cache[orderKey, order.Order]
	hits   atomic.Int64
	misses atomic.Int64
	// check reads every entry a write is planned on back from Postgres
	// and fails the write if the two differ (POSD_ORDER_CACHE_CHECK=1;
	// make test sets it).
	check bool
}

type orderKey struct {
	venue string
	id    uuid.UUID
}

func newOrderCache(size int) *orderCache {
	c := &orderCache{check: os.Getenv("POSD_ORDER_CACHE_CHECK") == "1"}
	if size > 0 {
		c.orders, _ = lru.New[orderKey, order.Order](size) // only fails for size <= 0
	}
	return c
}

// SetOrderCache sets how many orders the store keeps in memory (0: none).
// Call it before the store is used.
func (s *Store) SetOrderCache(size int) {
	check := s.orders.check
	s.orders = newOrderCache(size)
	s.orders.check = check
}

// OrderCacheStats reports how many writes were planned on a cached order
// (hits) and how many read it first (misses).
func (s *Store) OrderCacheStats() (hits, misses int64) {
	return s.orders.hits.Load(), s.orders.misses.Load()
}

// remember keeps o (a copy) unless the cache holds a later version of it.
// Closed orders and orders over maxCachedLines are forgotten instead.
func (c *orderCache) remember(o order.Order) {
	if c.orders == nil {
		return
	}
	k := orderKey{o.Venue, o.ID}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o.Status == order.StatusClosed || len(o.Lines) > maxCachedLines || len(o.ChainHead) == 0 {
		c.orders.Remove(k)
		return
	}
	if old, ok := c.orders.Peek(k); ok && old.Version > o.Version {
		return
	}
	c.orders.Add(k, o.Clone())
}

// forget drops the order's entry.
func (c *orderCache) forget(venue string, id uuid.UUID) {
	if c.orders != nil {
		c.orders.Remove(orderKey{venue, id})
	}
}

// at returns a copy of the cached order if it is at version v.
func (c *orderCache) at(venue string, id uuid.UUID, v int64) (order.Order, bool) {
	if c.orders == nil {
		return order.Order{}, false
	}
	o, ok := c.orders.Get(orderKey{venue, id})
	if !ok || o.Version != v {
		c.misses.Add(1)
		return order.Order{}, false
	}
	c.hits.Add(1)
	return o.Clone(), true
}

// base is the order a write is planned on: the cached one when it is at the
// version the client expects (cached true), else a fresh read.
func (s *Store) base(ctx context.Context, venue string, id uuid.UUID, expected *int64, useCache bool) (o order.Order, cached bool, err error) {
	if useCache && expected != nil {
		if o, ok := s.orders.at(venue, id, *expected); ok {
			if s.orders.check {
				if err := s.checkCached(ctx, o); err != nil {
					return order.Order{}, false, err
				}
			}
			return o, true, nil
		}
	}
	o, err = s.Get(ctx, venue, id)
	return o, false, err
}

// checkCached compares a cached order with the database's, when the database
// is still at its version and chain head (otherwise the versioned UPDATE
// refuses the write planned on it).
func (s *Store) checkCached(ctx context.Context, c order.Order) error {
	db, err := s.Get(ctx, c.Venue, c.ID)
	if err != nil || db.Version != c.Version || !bytes.Equal(db.ChainHead, c.ChainHead) {
		return err
	}
	a, err := cacheView(db)
	if err != nil {
		return err
	}
	b, err := cacheView(c)
	if err != nil {
		return err
	}
	if !bytes.Equal(a, b) {
		return fmt.Errorf("order cache: order %s version %d differs from the database's:\ndatabase %s\ncache    %s", c.ID, c.Version, a, b)
	}
	return nil
}

// cacheView is everything of o a plan depends on, as JSON.
func cacheView(o order.Order) ([]byte, error) {
	return json.Marshal(struct {
		O     order.Order
		Head  []byte
		Rules *order.PriceRules
	}{o, o.ChainHead, o.Rules})
}
