// Package auth turns a bearer token into the device, venue and role behind it.
// Tokens are never stored: only their SHA-256 digest is, and lookups go by the
// digest.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
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

// Directory is where the authenticator looks tokens up (the store).
type Directory interface {
	// PrincipalByTokenHash returns the principal of the active device
	// whose token has that digest, or ErrUnauthenticated.
	PrincipalByTokenHash(ctx context.Context, hash []byte) (Principal, error)
	// DeviceActive reports whether the venue's device is still there and
	// not revoked.
	DeviceActive(ctx context.Context, venue string, id uuid.UUID) (bool, error)
}

// Authenticator looks tokens up in the devices table. It keeps no cache, so a
// revoked device is refused on its very next request.
type Authenticator struct {
	dir Directory
}

// NewAuthenticator returns an Authenticator looking tokens up in dir.
func NewAuthenticator(dir Directory) *Authenticator {
	return &Authenticator{dir: dir}
}

// MaxTokenLen is the longest token looked up; a longer one is refused
// without a query.
const MaxTokenLen = 512

// Authenticate returns the principal of token, or ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > MaxTokenLen {
		return Principal{}, ErrUnauthenticated
	}
	return a.dir.PrincipalByTokenHash(ctx, HashToken(token))
}

// Active reports whether p's device is still there and not revoked. A
// long-lived request (the kitchen stream) asks again while it runs, so a
// revoked device's open stream ends too.
func (a *Authenticator) Active(ctx context.Context, p Principal) (bool, error) {
	return a.dir.DeviceActive(ctx, p.Venue, p.DeviceID)
}
