package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/posd/posd/internal/order"
)

// DefaultMenuTTL is how long a venue's menu is served from memory unless
// SetMenuTTL says otherwise. A price or item changed in the database reaches
// new lines within this time; lines already on an order keep the price they
// were added with.
const DefaultMenuTTL = 5 * time.Second

// SetMenuTTL sets how long a venue's menu is served from memory; call it
// before the store serves requests.
func (s *Store) SetMenuTTL(d time.Duration) { s.menuTTL = d }

// menuCache keeps each venue's menu for the store's menuTTL, so adding items costs no
// extra round trip.
type menuCache struct {
	mu      sync.Mutex
	byVenue map[string]menuEntry
}

type menuEntry struct {
	items  map[string]order.MenuItem
	groups map[string]order.ModifierGroup
	loaded time.Time
}

// menu returns the venue's menu by SKU and its modifier groups by id, from
// memory when they are fresh.
func (s *Store) menu(ctx context.Context, venue string) (map[string]order.MenuItem, map[string]order.ModifierGroup, error) {
	s.menus.mu.Lock()
	e, ok := s.menus.byVenue[venue]
	s.menus.mu.Unlock()
	if ok && time.Since(e.loaded) < s.menuTTL {
		return e.items, e.groups, nil
	}
	// One snapshot: items and their groups agree.
	cat, err := ReadCatalog(ctx, s.pool, venue)
	if err != nil {
		return nil, nil, fmt.Errorf("read menu: %w", err)
	}
	e = menuEntry{items: make(map[string]order.MenuItem, len(cat.Catalog.Items)),
		groups: make(map[string]order.ModifierGroup, len(cat.Catalog.ModifierGroups)), loaded: time.Now()}
	for _, it := range cat.Catalog.Items {
		e.items[it.SKU] = it
	}
	for _, g := range cat.Catalog.ModifierGroups {
		e.groups[g.ID] = g
	}
	s.menus.mu.Lock()
	if s.menus.byVenue == nil {
		s.menus.byVenue = map[string]menuEntry{}
	}
	s.menus.byVenue[venue] = e
	s.menus.mu.Unlock()
	return e.items, e.groups, nil
}
