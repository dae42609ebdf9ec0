// Package auth turns a bearer token into the device, venue and role behind it.
// Tokens are never stored: only their SHA-256 digest is, and lookups go by the
// digest.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

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

// Authenticator looks tokens up in the devices table, on every request, so
// a revoked device is refused on its very next request. It also remembers
// the principals it found (at most MaxCachedTokens, by token digest) for
// the one caller that checks the device inside its own transaction instead
// (Cached: the order write, whose transaction asserts that the device is
// still active and the same, store.Patch.TokenHash).
type Authenticator struct {
	dir    Directory
	cached *lru.Cache[string, Principal]
}

// MaxCachedTokens bounds the principals an Authenticator remembers.
const MaxCachedTokens = 4096

// NewAuthenticator returns an Authenticator looking tokens up in dir.
func NewAuthenticator(dir Directory) *Authenticator {
	c, err := lru.New[string, Principal](MaxCachedTokens)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &Authenticator{dir: dir, cached: c}
}

// Cached returns the principal a lookup of token found before, with the
// token's digest, without reading the devices table: the device may have
// been revoked or changed since, so the caller must check it (the digest,
// and the principal's device, role and staff) in the transaction that acts
// on it, and Forget it when that check fails. ok is false when the token
// was not looked up before (or was forgotten).
func (a *Authenticator) Cached(token string) (p Principal, hash []byte, ok bool) {
	if token == "" || len(token) > MaxTokenLen {
		return Principal{}, nil, false
	}
	hash = HashToken(token)
	p, ok = a.cached.Get(string(hash))
	return p, hash, ok
}

// Forget drops what Cached returns for the token with digest hash.
func (a *Authenticator) Forget(hash []byte) { a.cached.Remove(string(hash)) }

// MaxTokenLen is the longest token looked up; a longer one is refused
// without a query.
const MaxTokenLen = 512

// Authenticate returns the principal of token, or ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > MaxTokenLen {
		return Principal{}, ErrUnauthenticated
	}
	hash := HashToken(token)
	p, err := a.dir.PrincipalByTokenHash(ctx, hash)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			a.cached.Remove(string(hash))
		}
		return Principal{}, err
	}
	a.cached.Add(string(hash), p)
	return p, nil
}

// Active reports whether p's device is still there and not revoked. A
// long-lived request (the kitchen stream) asks again while it runs, so a
// revoked device's open stream ends too.
func (a *Authenticator) Active(ctx context.Context, p Principal) (bool, error) {
	return a.dir.DeviceActive(ctx, p.Venue, p.DeviceID)
}
