package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// Device administration runs on the table owner's connection (db): posd's
// own role may only read devices, so a compromised server cannot mint
// tokens. Each statement is its own transaction across venues.

// AddDevice adds a device and returns it with its token, the only time the
// token exists outside the device. An unknown venue is
// device.ErrUnknownVenue, a name an active device of the venue has is
// *device.DuplicateError, a connection that is not the owner's
// device.ErrNotOwner.
func AddDevice(ctx context.Context, db Conn, spec device.Spec) (device.Device, string, error) {
	if err := spec.Validate(); err != nil {
		return device.Device{}, "", err
	}
	if err := requireVenue(ctx, db, spec.Venue); err != nil {
		return device.Device{}, "", err
	}
	token, err := device.NewToken()
	if err != nil {
		return device.Device{}, "", err
	}
	d := device.Device{ID: uuid.Must(uuid.NewV7()), Venue: spec.Venue, Name: spec.Name, Role: spec.Role, Staff: spec.Staff}
	p := dbsqlc.InsertDeviceParams{
		VenueID: d.Venue, ID: d.ID, Name: d.Name, Role: d.Role, Staff: d.Staff, TokenHash: auth.HashToken(token),
	}
	d.CreatedAt, err = runOne(ctx, db, systemBatch(), func(q dbsqlc.DBTX) (time.Time, error) {
		return dbsqlc.New().InsertDevice(ctx, q, p)
	})
	if err != nil {
		return device.Device{}, "", adminError("add device", err, &spec)
	}
	return d, token, nil
}

// ListDevices returns every device of a venue, active and revoked, by name.
func ListDevices(ctx context.Context, db Conn, venue string) ([]device.Device, error) {
	if err := requireVenue(ctx, db, venue); err != nil {
		return nil, err
	}
	rows, err := runOne(ctx, db, systemBatch(), func(q dbsqlc.DBTX) ([]dbsqlc.ListDevicesRow, error) {
		return dbsqlc.New().ListDevices(ctx, q, venue)
	})
	if err != nil {
		return nil, adminError("list devices", err, nil)
	}
	out := make([]device.Device, len(rows))
	for i, r := range rows {
		out[i] = device.Device{ID: r.ID, Venue: venue, Name: r.Name, Role: r.Role, Staff: r.Staff, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
	}
	return out, nil
}

// RevokeDevice revokes the venue's active device of that name and returns
// it. Its token is refused from the next request on. A name no device ever
// had is device.ErrNotFound, one whose device is already revoked
// *device.AlreadyRevokedError.
func RevokeDevice(ctx context.Context, db Conn, venue, name string) (device.Device, error) {
	if err := requireVenue(ctx, db, venue); err != nil {
		return device.Device{}, err
	}
	if name == "" {
		return device.Device{}, &device.InvalidError{Field: "name", Detail: "is required"}
	}
	q := dbsqlc.New()
	r, err := runOne(ctx, db, systemBatch(), func(tx dbsqlc.DBTX) (dbsqlc.RevokeDeviceRow, error) {
		return q.RevokeDevice(ctx, tx, dbsqlc.RevokeDeviceParams{VenueID: venue, Name: name})
	})
	if err == nil {
		return device.Device{ID: r.ID, Venue: venue, Name: r.Name, Role: r.Role, Staff: r.Staff, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return device.Device{}, adminError("revoke device", err, nil)
	}
	last, err := runOne(ctx, db, systemBatch(), func(tx dbsqlc.DBTX) (dbsqlc.LatestDeviceNamedRow, error) {
		return q.LatestDeviceNamed(ctx, tx, dbsqlc.LatestDeviceNamedParams{VenueID: venue, Name: name})
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return device.Device{}, fmt.Errorf("%w named %q in venue %s", device.ErrNotFound, name, venue)
	case err != nil:
		return device.Device{}, adminError("look up device", err, nil)
	case last.RevokedAt != nil:
		return device.Device{}, &device.AlreadyRevokedError{Venue: venue, Name: name, At: *last.RevokedAt}
	}
	// An active device here was added after the UPDATE looked.
	return device.Device{}, fmt.Errorf("revoke device %q: it changed while being revoked; try again", name)
}

func requireVenue(ctx context.Context, db Conn, venue string) error {
	if venue == "" {
		return &device.InvalidError{Field: "venue", Detail: "is required"}
	}
	ok, err := runOne(ctx, db, systemBatch(), func(q dbsqlc.DBTX) (bool, error) {
		return dbsqlc.New().VenueExists(ctx, q, venue)
	})
	if err != nil {
		return adminError("look up venue", err, nil)
	}
	if !ok {
		return fmt.Errorf("%w: %q", device.ErrUnknownVenue, venue)
	}
	return nil
}

// adminError translates a device administration failure; what names the
// step for errors that stay Postgres'.
func adminError(what string, err error, spec *device.Spec) error {
	terr := translate(err, errContext{device: spec, admin: true})
	var pgErr *pgconn.PgError
	if terr == err || errors.As(terr, &pgErr) {
		// Not a refusal translate knows.
		return fmt.Errorf("%s: %w", what, err)
	}
	return terr
}
