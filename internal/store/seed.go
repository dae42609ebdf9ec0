package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// SeedVenue is a venue to write with its catalog (ApplyCatalog's) and the
// running state of some of its items (86'd, counted).
type SeedVenue struct {
	Venue        order.Venue
	Catalog      order.Catalog
	Availability []ItemAvailability
}

// SeedDevice is a device to write under a stable id, by its token's digest.
type SeedDevice struct {
	ID                       uuid.UUID
	Venue, Name, Staff, Role string
	TokenHash                []byte
}

// seedAuthor is the operator the seed's menu log rows name (unsigned).
var seedAuthor = Operator("posd seed", "seed", nil)

// Seed writes venues (upserts), makes each one's catalog equal to its
// Catalog as ApplyCatalog does, sets the availability given (each a row
// of the venue's menu log when it changes the menu, by the operator
// "seed", unsigned and not announced on NATS), and upserts
// devices, in one transaction across venues. Seeding the same data again
// changes nothing and bumps no version. It never touches orders and never
// clears a device's revocation. db must be allowed to write them (the
// table owner).
func Seed(ctx context.Context, db Conn, venues []SeedVenue, devices []SeedDevice) error {
	for i, v := range venues {
		if err := v.Venue.Validate(); err != nil {
			return fmt.Errorf("seed venue %d: %w", i, err)
		}
		if err := v.Catalog.Validate(); err != nil {
			return fmt.Errorf("seed venue %s: %w", v.Venue.ID, err)
		}
	}
	q := dbsqlc.New()
	err := inTx(ctx, db, systemBatch(), func(tx pgx.Tx) error {
		b := &batch{}
		for _, v := range venues {
			p := dbsqlc.UpsertVenueParams{ID: v.Venue.ID, Name: v.Venue.Name, Timezone: v.Venue.TimeZone, Currency: v.Venue.Currency}
			if err := queueExec(b, func(tx dbsqlc.DBTX) error { return q.UpsertVenue(ctx, tx, p) }); err != nil {
				return err
			}
		}
		if err := b.sendIn(ctx, tx); err != nil {
			return err
		}
		for _, v := range venues {
			id := v.Venue.ID
			log := catalogLog(id, seedAuthor)
			log.quiet = true
			if _, err := applyCatalogTx(ctx, tx, id, wholeCatalog(v.Catalog), true, log); err != nil {
				return fmt.Errorf("venue %s: %w", id, err)
			}
			before, err := readCatalogTx(ctx, tx, id)
			if err != nil {
				return fmt.Errorf("venue %s: %w", id, err)
			}
			changed, version, err := setAvailabilityTx(ctx, tx, id, v.Availability)
			if err != nil {
				return fmt.Errorf("venue %s: %w", id, err)
			}
			if changed {
				if err := appendCatalogChange(ctx, tx, id, log, before, version); err != nil {
					return fmt.Errorf("venue %s: %w", id, err)
				}
			}
		}
		b = &batch{}
		for _, d := range devices {
			p := dbsqlc.UpsertDeviceParams{VenueID: d.Venue, ID: d.ID, Name: d.Name, Role: d.Role, Staff: d.Staff, TokenHash: d.TokenHash}
			if err := queueExec(b, func(tx dbsqlc.DBTX) error { return q.UpsertDevice(ctx, tx, p) }); err != nil {
				return err
			}
		}
		return b.sendIn(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	return nil
}
