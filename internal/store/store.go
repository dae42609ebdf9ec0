// Package store keeps orders in Postgres and is the only package that runs
// posd's generated SQL (internal/store/internal/dbsqlc). Every accepted change is one
// versioned UPDATE of the order row plus its line and payment rows and exactly
// one order_events row, in one transaction; a write computed from a version
// that is no longer current changes nothing and comes back as a conflict.
//
// Where things are: reads in read.go, the write pipeline in write.go, the
// encoding of events, tickets and outbox messages in encode.go, line and
// payment diffs in lines.go, refused stale writes in conflict.go, the one
// translation of Postgres errors in errors.go, and the one way to run a
// transaction in tx.go. Device administration, the token lookup and seeding
// are in device.go, auth.go and seed.go.
package store

import (
	"crypto/ed25519"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// Store reads and writes orders of any venue; every method is scoped to the
// venue it is given.
type Store struct {
	pool     *pgxpool.Pool
	q        *dbsqlc.Queries
	now      func() time.Time
	newID    func() uuid.UUID
	menus    menuCache
	menuTTL  time.Duration
	orders   *orderCache
	onCommit atomic.Pointer[func()]
	// unchained skips computing the hash chain (every link is ZeroHash). It
	// exists only so the benchmark can measure what chaining costs; nothing
	// outside this package's tests can set it.
	unchained bool
	// eventKey signs each event written (SignEvents); nil: unsigned.
	eventKey ed25519.PrivateKey
	// offPrimary marks a store over a standby (NewReplica): its Shift and
	// Verify say where and how far behind they read.
	offPrimary bool
}

// OnCommit registers f to run after every committed write (the outbox relay
// uses it to publish without waiting for its next poll). f must not block.
func (s *Store) OnCommit(f func()) { s.onCommit.Store(&f) }

func (s *Store) committed() {
	if f := s.onCommit.Load(); f != nil {
		(*f)()
	}
}

// SignEvents makes the store sign every event it writes with key (the seal
// key; docs/AUDIT.md), so audit verify can tell posd's events from rows
// appended with its database role alone.
func (s *Store) SignEvents(key ed25519.PrivateKey) { s.eventKey = key }

// signEvent is ev's signature, or nil when the store does not sign.
func (s *Store) signEvent(ev order.Event) []byte {
	if s.eventKey == nil {
		return nil
	}
	return audit.SignEvent(s.eventKey, ev.Venue, ev.HashBytes())
}

// signTicketEvent is a kitchen ticket event's signature, or nil.
func (s *Store) signTicketEvent(venue string, e audit.TicketEvent) []byte {
	if s.eventKey == nil {
		return nil
	}
	return audit.SignTicketEvent(s.eventKey, venue, e)
}

// New returns a Store over pool.
// NewReplica is a store over pool whose server is meant to be a standby
// (posd's replica URL): only its reads (Shift, Verify) are for use, and
// each answer says where it was read and how far behind the primary that
// was (audit.ReadFrom).
func NewReplica(pool *pgxpool.Pool) *Store {
	s := New(pool)
	s.offPrimary = true
	return s
}

func New(pool *pgxpool.Pool) *Store {
	return &Store{
		pool:    pool,
		q:       dbsqlc.New(),
		menuTTL: DefaultMenuTTL,
		orders:  newOrderCache(DefaultOrderCache),
		now:     func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		newID: func() uuid.UUID {
			return uuid.Must(uuid.NewV7())
		},
	}
}
