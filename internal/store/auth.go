package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// PrincipalByTokenHash returns the principal of the active device whose
// token has that digest (auth.HashToken), or auth.ErrUnauthenticated. The
// lookup runs across venues (the token says which venue it belongs to): it
// is the one request-time read outside a venue's row-level scope.
func (s *Store) PrincipalByTokenHash(ctx context.Context, hash []byte) (auth.Principal, error) {
	d, err := runOne(ctx, s.pool, systemBatch(), func(db dbsqlc.DBTX) (dbsqlc.GetDeviceByTokenHashRow, error) {
		return s.q.GetDeviceByTokenHash(ctx, db, hash)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.Principal{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("look up token: %w", err)
	}
	return auth.Principal{Venue: d.VenueID, DeviceID: d.ID, Device: d.Name, Staff: d.Staff, Role: d.Role}, nil
}

// DeviceActive reports whether the venue's device is still there and not
// revoked. Like the token lookup it reads across venues.
func (s *Store) DeviceActive(ctx context.Context, venue string, id uuid.UUID) (bool, error) {
	ok, err := runOne(ctx, s.pool, systemBatch(), func(db dbsqlc.DBTX) (bool, error) {
		return s.q.DeviceActive(ctx, db, dbsqlc.DeviceActiveParams{VenueID: venue, ID: id})
	})
	if err != nil {
		return false, fmt.Errorf("check device: %w", err)
	}
	return ok, nil
}
