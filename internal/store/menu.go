package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/order"
)

// DefaultMenuTTL is how long a venue's menu is served from memory unless
// SetMenuTTL says otherwise. The cache is a cost saving, never what decides
// a price (invariant 11): a menu change drops the venue's cached menu on
// every posd that listens (ListenMenu), and a write planned with a cached
// menu commits only if the venue's menu is still at the version it was
// planned with (AssertOrderHead, in the write's own transaction); otherwise
// it re-plans from a fresh read. The TTL bounds how long a menu stays
// in memory when notifications are lost while no write notices.
const DefaultMenuTTL = 5 * time.Second

// DefaultMenuListenRetry is how long ListenMenu waits before reconnecting.
const DefaultMenuListenRetry = time.Second

// SetMenuTTL sets how long a venue's menu is served from memory; call it
// before the store serves requests.
func (s *Store) SetMenuTTL(d time.Duration) { s.menuTTL = d }

// menuCache keeps each venue's menu for the store's menuTTL, so adding
// items costs no extra round trip.
type menuCache struct {
	mu      sync.Mutex
	byVenue map[string]menuEntry
	// gen counts drops per venue ("" counts drops of every venue): a load
	// that began before a drop does not store what it read.
	gen map[string]uint64
}

type menuEntry struct {
	items   map[string]order.MenuItem
	groups  map[string]order.ModifierGroup
	version int64
	loaded  time.Time
}

// generation is what a load compares before storing (mu held).
func (c *menuCache) generation(venue string) uint64 { return c.gen[venue] + c.gen[""] }

// dropMenu forgets the venue's cached menu ("" forgets every venue's).
func (s *Store) dropMenu(venue string) {
	c := &s.menus
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == nil {
		c.gen = map[string]uint64{}
	}
	c.gen[venue]++
	if venue == "" {
		c.byVenue = nil
		return
	}
	delete(c.byVenue, venue)
}

// menu returns the venue's menu by SKU, its modifier groups by id and the
// menu version they are, from memory when they are fresh.
func (s *Store) menu(ctx context.Context, venue string) (map[string]order.MenuItem, map[string]order.ModifierGroup, int64, error) {
	c := &s.menus
	c.mu.Lock()
	e, ok := c.byVenue[venue]
	gen := c.generation(venue)
	c.mu.Unlock()
	if ok && time.Since(e.loaded) < s.menuTTL {
		return e.items, e.groups, e.version, nil
	}
	// One snapshot: items, their groups and the menu version agree.
	cat, err := ReadCatalog(ctx, s.pool, venue)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read menu: %w", err)
	}
	e = menuEntry{items: make(map[string]order.MenuItem, len(cat.Catalog.Items)),
		groups: make(map[string]order.ModifierGroup, len(cat.Catalog.ModifierGroups)), version: cat.MenuVersion, loaded: time.Now()}
	for _, it := range cat.Catalog.Items {
		e.items[it.SKU] = it
	}
	for _, g := range cat.Catalog.ModifierGroups {
		e.groups[g.ID] = g
	}
	c.mu.Lock()
	if c.generation(venue) == gen {
		if c.byVenue == nil {
			c.byVenue = map[string]menuEntry{}
		}
		c.byVenue[venue] = e
	}
	c.mu.Unlock()
	return e.items, e.groups, e.version, nil
}

// ListenMenu keeps one connection of its own (made with cfg) listening on
// MenuChannel until ctx ends: each notification drops the cached menu of
// the venue it names, and every (re)connection drops every cached menu
// (what was sent while it was away is lost). A lost connection is retried
// after retry; each failure goes to onError. ready, if set, is called each
// time the connection listens.
func (s *Store) ListenMenu(ctx context.Context, cfg *pgx.ConnConfig, retry time.Duration, onError func(error), ready func()) {
	if retry <= 0 {
		retry = DefaultMenuListenRetry
	}
	for ctx.Err() == nil {
		err := s.listenMenu(ctx, cfg, ready)
		if ctx.Err() != nil {
			return
		}
		if onError != nil && err != nil {
			onError(fmt.Errorf("menu notifications: %w", err))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(retry):
		}
	}
}

func (s *Store) listenMenu(ctx context.Context, cfg *pgx.ConnConfig, ready func()) error {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+MenuChannel); err != nil {
		return err
	}
	s.dropMenu("")
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		}
		s.dropMenu(n.Payload)
	}
}
