// Package auth turns a bearer token into the device, venue and role behind it.
// Tokens are never stored: only their SHA-256 digest is, and lookups go by the
// digest.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgscope"
)

var (
	// ErrUnauthenticated is a missing, unknown or revoked token.
	ErrUnauthenticated = errors.New("missing, unknown or revoked token")
	// ErrForbidden is a valid token whose role may not do what was asked.
	ErrForbidden = errors.New("role not allowed")
)

// Principal is the authenticated caller. Every query a request makes is
// scoped to Principal.Venue.
type Principal struct {
	Venue    string
	DeviceID uuid.UUID
	Device   string
	Staff    string
	Role     string
}

// Actor is the principal as it is recorded in events.
func (p Principal) Actor() order.Actor {
	return order.Actor{Device: p.Device, Staff: p.Staff, Role: p.Role}
}

// Is reports whether the principal holds one of roles.
func (p Principal) Is(roles ...string) bool {
	for _, r := range roles {
		if p.Role == r {
			return true
		}
	}
	return false
}

// HashToken is the digest under which a token is stored and looked up.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// Authenticator looks tokens up in the devices table. It keeps no cache, so a
// revoked device is refused on its very next request.
type Authenticator struct {
	db dbsqlc.DBTX
	q  *dbsqlc.Queries
}

// NewAuthenticator returns an Authenticator reading devices from pool. The
// lookup runs across venues (the token says which venue it belongs to), so it
// is the one request-time read outside a venue's row-level scope.
func NewAuthenticator(pool *pgxpool.Pool) *Authenticator {
	return &Authenticator{db: pgscope.System(pool), q: dbsqlc.New()}
}

// Authenticate returns the principal of token, or ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > 512 {
		return Principal{}, ErrUnauthenticated
	}
	d, err := a.q.GetDeviceByTokenHash(ctx, a.db, HashToken(token))
	if errors.Is(err, pgx.ErrNoRows) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up token: %w", err)
	}
	return Principal{Venue: d.VenueID, DeviceID: d.ID, Device: d.Name, Staff: d.Staff, Role: d.Role}, nil
}

// Active reports whether p's device is still there and not revoked. A
// long-lived request (the kitchen stream) asks again while it runs, so a
// revoked device's open stream ends too.
func (a *Authenticator) Active(ctx context.Context, p Principal) (bool, error) {
	ok, err := a.q.DeviceActive(ctx, a.db, dbsqlc.DeviceActiveParams{VenueID: p.Venue, ID: p.DeviceID})
	if err != nil {
		return false, fmt.Errorf("check device: %w", err)
	}
	return ok, nil
}
