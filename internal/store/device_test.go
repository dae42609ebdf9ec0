package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// TestDeviceLifecycle: a device added by the table owner authenticates with
// its token from the next request on, is listed without its token, and once
// revoked is refused, inactive, and listed as revoked; its name may then be
// given to a new device. The refusals are the device package's errors.
func TestDeviceLifecycle(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	a := auth.NewAuthenticator(s)
	ctx := context.Background()

	d, token, err := store.AddDevice(ctx, db.Admin, device.Spec{Venue: "demo", Name: "till-1", Role: order.RoleWaiter})
	require.NoError(t, err)
	require.Equal(t, "till-1", d.Staff, "staff defaults to the name")
	require.NotEqual(t, uuid.Nil, d.ID)
	require.False(t, d.CreatedAt.IsZero())
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM devices WHERE id = $1 AND token_hash = $2", d.ID, auth.HashToken(token)),
		"the digest is stored, under which the token is found")

	p, err := a.Authenticate(ctx, token)
	require.NoError(t, err)
	require.Equal(t, auth.Principal{Venue: "demo", DeviceID: d.ID, Device: "till-1", Staff: "till-1", Role: order.RoleWaiter}, p)
	active, err := a.Active(ctx, p)
	require.NoError(t, err)
	require.True(t, active)

	_, _, err = store.AddDevice(ctx, db.Admin, device.Spec{Venue: "demo", Name: "till-1", Role: order.RoleManager})
	var dup *device.DuplicateError
	require.True(t, errors.As(err, &dup), "got %v", err)
	_, _, err = store.AddDevice(ctx, db.Admin, device.Spec{Venue: "nowhere", Name: "x", Role: order.RoleWaiter})
	require.ErrorIs(t, err, device.ErrUnknownVenue)
	_, _, err = store.AddDevice(ctx, db.Admin, device.Spec{Venue: "demo", Name: "x", Role: "chef"})
	var inv *device.InvalidError
	require.True(t, errors.As(err, &inv), "got %v", err)
	require.Equal(t, "role", inv.Field)
	_, _, err = store.AddDevice(ctx, db.Pool, device.Spec{Venue: "demo", Name: "minted", Role: order.RoleManager})
	require.ErrorIs(t, err, device.ErrNotOwner, "posd's own role cannot mint tokens")

	list, err := store.ListDevices(ctx, db.Admin, "demo")
	require.NoError(t, err)
	names := map[string]device.Device{}
	for _, l := range list {
		names[l.Name] = l
	}
	require.Contains(t, names, "till-1")
	require.Nil(t, names["till-1"].RevokedAt)
	_, err = store.ListDevices(ctx, db.Admin, "nowhere")
	require.ErrorIs(t, err, device.ErrUnknownVenue)

	r, err := store.RevokeDevice(ctx, db.Admin, "demo", "till-1")
	require.NoError(t, err)
	require.Equal(t, d.ID, r.ID)
	require.NotNil(t, r.RevokedAt)
	_, err = a.Authenticate(ctx, token)
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
	active, err = a.Active(ctx, p)
	require.NoError(t, err)
	require.False(t, active)

	_, err = store.RevokeDevice(ctx, db.Admin, "demo", "till-1")
	var gone *device.AlreadyRevokedError
	require.True(t, errors.As(err, &gone), "got %v", err)
	_, err = store.RevokeDevice(ctx, db.Admin, "demo", "never")
	require.ErrorIs(t, err, device.ErrNotFound)
	_, err = store.RevokeDevice(ctx, db.Admin, "demo", "")
	require.True(t, errors.As(err, &inv), "got %v", err)
	_, err = store.RevokeDevice(ctx, db.Admin, "", "till-1")
	require.True(t, errors.As(err, &inv), "got %v", err)

	// The name is free again; the old token stays refused.
	d2, token2, err := store.AddDevice(ctx, db.Admin, device.Spec{Venue: "demo", Name: "till-1", Role: order.RoleWaiter, Staff: "Nina"})
	require.NoError(t, err)
	require.NotEqual(t, token, token2)
	p2, err := a.Authenticate(ctx, token2)
	require.NoError(t, err)
	require.Equal(t, d2.ID, p2.DeviceID)
	require.Equal(t, "Nina", p2.Staff)
	_, err = a.Authenticate(ctx, token)
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
	list, err = store.ListDevices(ctx, db.Admin, "demo")
	require.NoError(t, err)
	revoked := 0
	for _, l := range list {
		if l.Name == "till-1" && l.RevokedAt != nil {
			revoked++
		}
	}
	require.Equal(t, 1, revoked)

	// A token of one venue's device is that venue's principal only.
	_, err = a.Authenticate(ctx, "no-such-token")
	require.ErrorIs(t, err, auth.ErrUnauthenticated)
	p, err = a.Authenticate(ctx, seed.TokenDemo2Waiter)
	require.NoError(t, err)
	require.Equal(t, "demo2", p.Venue)
}
