// Package device manages a venue's devices: waiters' handhelds, kitchen
// screens and back-office logins, each with a role and a bearer token. A
// token exists in clear only once, when its device is added; the database
// keeps its SHA-256 digest (auth.HashToken), and nothing here ever returns
// or prints the digest. Revoking a device refuses its token from the next
// request on, because the authenticator keeps no cache. This package holds
// the rules (names, roles, tokens) and the errors; the store adds, lists and
// revokes devices (store.AddDevice, ListDevices, RevokeDevice).
package device

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// TokenPrefix starts every token posd issues, so a leaked one is easy to
// recognise (and to search for in logs and repositories).
const TokenPrefix = "posd_"

// tokenBytes is the token's entropy: 256 bits from crypto/rand.
const tokenBytes = 32

// MaxNameLen is the longest device or staff name, in characters.
const MaxNameLen = 64

// Roles are the roles a device may hold.
var Roles = []string{order.RoleWaiter, order.RoleManager, order.RoleKitchen, order.RoleAuditor}

var (
	// ErrUnknownVenue is a venue that does not exist.
	ErrUnknownVenue = errors.New("no such venue")
	// ErrNotFound is a venue that never had a device of that name.
	ErrNotFound = errors.New("no such device")
	// ErrNotOwner means the connection's role may not change devices: posd's
	// own role can only read them, so a compromised server cannot mint tokens.
	ErrNotOwner = errors.New("this database role may not change devices")
)

// InvalidError is a device definition that breaks a rule; Field names the
// field (the CLI's flag of that name).
type InvalidError struct {
	Field  string
	Detail string
}

func (e *InvalidError) Error() string { return e.Field + " " + e.Detail }

// DuplicateError is an add whose name an active device of the venue already
// has. posd never replaces a device silently.
type DuplicateError struct {
	Venue, Name string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("venue %s already has an active device named %q", e.Venue, e.Name)
}

// AlreadyRevokedError is a revoke of a device that is no longer active.
type AlreadyRevokedError struct {
	Venue, Name string
	At          time.Time
}

func (e *AlreadyRevokedError) Error() string {
	return fmt.Sprintf("device %q of venue %s was already revoked at %s", e.Name, e.Venue, e.At.UTC().Format(time.RFC3339))
}

// Device is a device as it is listed: never its token or the token's digest.
type Device struct {
	ID        uuid.UUID  `json:"id"`
	Venue     string     `json:"venue"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Staff     string     `json:"staff"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// Spec is a device to add. Staff defaults to Name.
type Spec struct {
	Venue, Name, Role, Staff string
}

// NewToken returns a fresh bearer token: TokenPrefix followed by 32 random
// bytes in unpadded URL-safe base64 (43 characters).
func NewToken() (string, error) {
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Validate checks a spec and fills in its defaults.
func (s *Spec) Validate() error {
	if s.Venue == "" {
		return &InvalidError{"venue", "is required"}
	}
	if s.Role == "" {
		return &InvalidError{"role", "is required (one of " + strings.Join(Roles, ", ") + ")"}
	}
	if !slices.Contains(Roles, s.Role) {
		return &InvalidError{"role", fmt.Sprintf("must be one of %s; got %q", strings.Join(Roles, ", "), s.Role)}
	}
	if err := checkName("name", s.Name); err != nil {
		return err
	}
	if s.Staff == "" {
		s.Staff = s.Name
	}
	return checkName("staff", s.Staff)
}

// checkName allows 1 to MaxNameLen printable characters without surrounding
// spaces: names end up in events, reports and terminals.
func checkName(field, v string) error {
	switch {
	case v == "":
		return &InvalidError{field, "is required"}
	case !utf8.ValidString(v):
		return &InvalidError{field, "must be valid UTF-8"}
	case utf8.RuneCountInString(v) > MaxNameLen:
		return &InvalidError{field, fmt.Sprintf("must be at most %d characters; got %d", MaxNameLen, utf8.RuneCountInString(v))}
	case strings.TrimSpace(v) != v:
		return &InvalidError{field, "must not begin or end with spaces"}
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return &InvalidError{field, "must not contain control characters"}
		}
	}
	return nil
}
