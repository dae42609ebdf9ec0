// Package device manages a venue's devices: waiters' handhelds, kitchen
// screens and back-office logins, each with a role and a bearer token. A
// token exists in clear only once, when its device is added; the database
// keeps its SHA-256 digest (auth.HashToken), and nothing here ever returns
// or prints the digest. Revoking a device refuses its token from the next
// request on, because the authenticator keeps no cache.
package device

import (
	"context"
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
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/dbsqlc"
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
	ErrNotOwner = errors.New("this database role may not change devices; use the table owner's DATABASE_URL (the one posd migrate runs with)")
)

// InvalidError is a device definition that breaks a rule; Field names the
// flag it came from.
type InvalidError struct {
	Field  string
	Detail string
}

func (e *InvalidError) Error() string { return "--" + e.Field + " " + e.Detail }

// DuplicateError is an add whose name an active device of the venue already
// has. posd never replaces a device silently.
type DuplicateError struct {
	Venue, Name string
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("venue %s already has an active device named %q; revoke it first with "+
		"\"posd device revoke --venue %s --name %s\", or choose another name", e.Venue, e.Name, e.Venue, e.Name)
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

// Add adds a device and returns it with its token, the only time the token
// exists outside the device. An unknown venue is ErrUnknownVenue, a name an
// active device of the venue has is *DuplicateError.
func Add(ctx context.Context, db dbsqlc.DBTX, spec Spec) (Device, string, error) {
	if err := spec.Validate(); err != nil {
		return Device{}, "", err
	}
	if err := requireVenue(ctx, db, spec.Venue); err != nil {
		return Device{}, "", err
	}
	token, err := NewToken()
	if err != nil {
		return Device{}, "", err
	}
	d := Device{ID: uuid.Must(uuid.NewV7()), Venue: spec.Venue, Name: spec.Name, Role: spec.Role, Staff: spec.Staff}
	d.CreatedAt, err = dbsqlc.New().InsertDevice(ctx, db, dbsqlc.InsertDeviceParams{
		VenueID: d.Venue, ID: d.ID, Name: d.Name, Role: d.Role, Staff: d.Staff, TokenHash: auth.HashToken(token),
	})
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "devices_active_name":
		return Device{}, "", &DuplicateError{Venue: spec.Venue, Name: spec.Name}
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return Device{}, "", fmt.Errorf("%w: %q", ErrUnknownVenue, spec.Venue)
	case err != nil:
		return Device{}, "", translate("add device", err)
	}
	return d, token, nil
}

// List returns every device of a venue, active and revoked, by name.
func List(ctx context.Context, db dbsqlc.DBTX, venue string) ([]Device, error) {
	if err := requireVenue(ctx, db, venue); err != nil {
		return nil, err
	}
	rows, err := dbsqlc.New().ListDevices(ctx, db, venue)
	if err != nil {
		return nil, translate("list devices", err)
	}
	out := make([]Device, len(rows))
	for i, r := range rows {
		out[i] = Device{ID: r.ID, Venue: venue, Name: r.Name, Role: r.Role, Staff: r.Staff, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}
	}
	return out, nil
}

// Revoke revokes the venue's active device of that name and returns it. Its
// token is refused from the next request on. A name no device ever had is
// ErrNotFound, one whose device is already revoked *AlreadyRevokedError.
func Revoke(ctx context.Context, db dbsqlc.DBTX, venue, name string) (Device, error) {
	if err := requireVenue(ctx, db, venue); err != nil {
		return Device{}, err
	}
	if name == "" {
		return Device{}, &InvalidError{"name", "is required"}
	}
	q := dbsqlc.New()
	r, err := q.RevokeDevice(ctx, db, dbsqlc.RevokeDeviceParams{VenueID: venue, Name: name})
	if err == nil {
		return Device{ID: r.ID, Venue: venue, Name: r.Name, Role: r.Role, Staff: r.Staff, CreatedAt: r.CreatedAt, RevokedAt: r.RevokedAt}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Device{}, translate("revoke device", err)
	}
	last, err := q.LatestDeviceNamed(ctx, db, dbsqlc.LatestDeviceNamedParams{VenueID: venue, Name: name})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Device{}, fmt.Errorf("%w named %q in venue %s (posd device list --venue %s shows them)", ErrNotFound, name, venue, venue)
	case err != nil:
		return Device{}, translate("look up device", err)
	case last.RevokedAt != nil:
		return Device{}, &AlreadyRevokedError{Venue: venue, Name: name, At: *last.RevokedAt}
	}
	// An active device here was added after the UPDATE looked.
	return Device{}, fmt.Errorf("revoke device %q: it changed while being revoked; try again", name)
}

func requireVenue(ctx context.Context, db dbsqlc.DBTX, venue string) error {
	if venue == "" {
		return &InvalidError{"venue", "is required"}
	}
	ok, err := dbsqlc.New().VenueExists(ctx, db, venue)
	if err != nil {
		return translate("look up venue", err)
	}
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
	}
	return nil
}

// translate turns a refused privilege into ErrNotOwner and wraps the rest.
func translate(what string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return ErrNotOwner
	}
	return fmt.Errorf("%s: %w", what, err)
}
