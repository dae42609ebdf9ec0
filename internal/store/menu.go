package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/posd/posd/internal/order"
)

// DefaultMenuTTL is how long a venue's menu is served from memory unless
// SetMenuTTL says otherwise. Freshness does not depend on it: every menu
// change moves the venue's menu version, and a write planned on an older
// version is refused by the database and planned again (AssertOrderHead),
// so the next write after a change uses it on every replica. Lines already
// on an order keep the price they were added with.
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
	// version is the venue's menu version the entry was read at. A write
	// planned on the entry asserts it (AssertOrderHead), so a stale entry
	// can never commit: the write is refused with errMenuStale and re-planned.
	version int64
	loaded  time.Time
}

// menu returns the venue's menu by SKU, its modifier groups by id and the
// menu version they were read at, from memory when they are fresh.
func (s *Store) menu(ctx context.Context, venue string) (menuEntry, error) {
	s.menus.mu.Lock()
	e, ok := s.menus.byVenue[venue]
	s.menus.mu.Unlock()
	if ok && time.Since(e.loaded) < s.menuTTL {
		return e, nil
	}
	// One snapshot: items and their groups agree.
	cat, err := ReadCatalog(ctx, s.pool, venue)
	if err != nil {
		return menuEntry{}, fmt.Errorf("read menu: %w", err)
	}
	e = menuEntry{items: make(map[string]order.MenuItem, len(cat.Catalog.Items)),
		groups:  make(map[string]order.ModifierGroup, len(cat.Catalog.ModifierGroups)),
		version: cat.MenuVersion, loaded: time.Now()}
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
	return e, nil
}

// forgetMenu drops the venue's cached menu if it was read at version or
// before, so the next read fetches the menu afresh.
func (s *Store) forgetMenu(venue string, version int64) {
	s.menus.mu.Lock()
	defer s.menus.mu.Unlock()
	if e, ok := s.menus.byVenue[venue]; ok && e.version <= version {
		delete(s.menus.byVenue, venue)
	}
}
