package store

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
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
	loaded time.Time
}

// menu returns the venue's menu by SKU, from memory when it is fresh.
func (s *Store) menu(ctx context.Context, venue string) (map[string]order.MenuItem, error) {
	s.menus.mu.Lock()
	e, ok := s.menus.byVenue[venue]
	s.menus.mu.Unlock()
	if ok && time.Since(e.loaded) < s.menuTTL {
		return e.items, nil
	}
	var rows []dbsqlc.ListCatalogItemsRow
	var groups []dbsqlc.ListItemGroupsRow
	// One snapshot: items and their groups agree.
	b := venueTxBatch(venue, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err := queueItems(ctx, b, venue, &rows, &groups); err != nil {
		return nil, err
	}
	if err := b.commit(ctx, s.pool); err != nil {
		return nil, fmt.Errorf("read menu: %w", err)
	}
	items := make(map[string]order.MenuItem, len(rows))
	for _, it := range menuItems(rows, groups) {
		items[it.SKU] = it
	}
	s.menus.mu.Lock()
	if s.menus.byVenue == nil {
		s.menus.byVenue = map[string]menuEntry{}
	}
	s.menus.byVenue[venue] = menuEntry{items: items, loaded: time.Now()}
	s.menus.mu.Unlock()
	return items, nil
}
