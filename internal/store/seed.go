package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// SeedVenue is a venue to write with its tables and menu.
type SeedVenue struct {
	ID, Name string
	Tables   []SeedTable
	Menu     []order.MenuItem
}

// SeedTable is a dining table to write.
type SeedTable struct {
	ID, Label string
	Seats     int
}

// SeedDevice is a device to write under a stable id, by its token's digest.
type SeedDevice struct {
	ID                       uuid.UUID
	Venue, Name, Staff, Role string
	TokenHash                []byte
}

// Seed writes venues, their tables and menus, and devices, as upserts in
// one transaction across venues (one round trip). It never touches orders
// and never clears a device's revocation. db must be allowed to write them
// (the table owner).
func Seed(ctx context.Context, db Conn, venues []SeedVenue, devices []SeedDevice) error {
	q := dbsqlc.New()
	b := systemBatch()
	for _, v := range venues {
		if err := queueExec(b, func(tx dbsqlc.DBTX) error {
			return q.UpsertVenue(ctx, tx, dbsqlc.UpsertVenueParams{ID: v.ID, Name: v.Name})
		}); err != nil {
			return err
		}
		for _, t := range v.Tables {
			p := dbsqlc.UpsertTableParams{VenueID: v.ID, ID: t.ID, Label: t.Label, Seats: int32(t.Seats)}
			if err := queueExec(b, func(tx dbsqlc.DBTX) error { return q.UpsertTable(ctx, tx, p) }); err != nil {
				return err
			}
		}
		for _, m := range v.Menu {
			p := dbsqlc.UpsertMenuItemParams{VenueID: v.ID, Sku: m.SKU, Name: m.Name, PriceCents: m.PriceCents, Station: m.Station}
			if err := queueExec(b, func(tx dbsqlc.DBTX) error { return q.UpsertMenuItem(ctx, tx, p) }); err != nil {
				return err
			}
		}
	}
	for _, d := range devices {
		p := dbsqlc.UpsertDeviceParams{VenueID: d.Venue, ID: d.ID, Name: d.Name, Role: d.Role, Staff: d.Staff, TokenHash: d.TokenHash}
		if err := queueExec(b, func(tx dbsqlc.DBTX) error { return q.UpsertDevice(ctx, tx, p) }); err != nil {
			return err
		}
	}
	if err := b.commit(ctx, db); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}
