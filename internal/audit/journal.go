package audit

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// This file is what audit reads and writes of the journal, and in which
// form. audit holds no SQL: the store implements these interfaces
// (store.JournalOn, *store.Store), so Verify, Seal and Shift are the pure
// checks and arithmetic over rows handed to them.

// Journal is what Verify reads of a venue's journal, ideally all from one
// snapshot (a repeatable-read transaction scoped to the venue). The
// methods that take a limit return one page of at most limit rows in the
// order of their ids, from after the id given; the others hold one row per
// seal, device, event of one order or ticket of one page of orders.
type Journal interface {
	VenueExists(ctx context.Context, venue string) (bool, error)
	// Seals are the venue's seals in order of seq.
	Seals(ctx context.Context, venue string) ([]StoredSeal, error)
	// Devices are every device the venue has had (revoked ones too), as
	// the actors of its events.
	Devices(ctx context.Context, venue string) ([]order.Actor, error)
	// SignedSince is when posd began signing events, ticket events and
	// refused writes (journal_signed_since).
	SignedSince(ctx context.Context) (time.Time, error)
	// PendingOutbox is, per order of the venue, the newest version with an
	// outbox row the relay has not passed yet.
	PendingOutbox(ctx context.Context, venue string) (map[uuid.UUID]int64, error)
	// OrdersPage is a page of the venue's orders as stored (with lines,
	// payments and the chain head).
	OrdersPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]order.Order, error)
	// OrderTickets are the kitchen tickets of the orders given, by order,
	// order version and id.
	OrderTickets(ctx context.Context, venue string, orders []uuid.UUID) ([]StoredTicket, error)
	// OrderEvents are one order's events by version.
	OrderEvents(ctx context.Context, venue string, orderID uuid.UUID) ([]StoredEvent, error)
	// OrphanEvents names an order (at most one) with events but no order
	// row, with its newest version.
	OrphanEvents(ctx context.Context, venue string) ([]OrderVersion, error)
	// ImpossibleConflicts names a recorded refused write (at most one)
	// that cannot be true: no such order, a current version the order
	// never reached, an expected version equal to it or negative.
	ImpossibleConflicts(ctx context.Context, venue string) ([]Conflict, error)
	TicketEventsPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]StoredTicketEvent, error)
	// MovedTicketsPage is a page, by id, of the venue's kitchen tickets
	// whose lines moved (ID, OrderID, Table, OrderVersion, Lines, Moves).
	MovedTicketsPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]StoredTicket, error)
	ConflictsPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]StoredConflict, error)
	// OutboxOrphans names an outbox row (at most one) whose message id is
	// no event or ticket event of its order.
	OutboxOrphans(ctx context.Context, venue string) ([]OutboxMessage, error)
	MenuJournal
}

// SealJournal is what Seal reads and writes, in a transaction scoped to
// the venue.
type SealJournal interface {
	// LastSeal is the venue's newest seal (its heads left out); found is
	// false when the venue has none.
	LastSeal(ctx context.Context, venue string) (s StoredSeal, found bool, err error)
	// HeadsSince are the heads of the orders changed at or after since, by
	// order id.
	HeadsSince(ctx context.Context, venue string, since time.Time) ([]OrderHead, error)
	// InsertSeal appends s (its heads as the JSON text given).
	InsertSeal(ctx context.Context, venue string, s StoredSeal) error
}

// SealStore is what the Sealer needs: the venues, and a transaction per
// venue under the sealing lock.
type SealStore interface {
	Venues(ctx context.Context) ([]string, error)
	// SealTx runs f in a transaction scoped to venue if it can take the
	// sealing lock (one process seals at a time); when another holds it,
	// f is not run and SealTx returns nil.
	SealTx(ctx context.Context, venue string, f func(SealJournal) error) error
}

// ShiftJournal is what Shift reads, for [from, to), ideally from one
// snapshot. The methods that take maxRows (≥ 1) list the first rows of the
// range and count them all, so what they hand over is bounded whatever the
// range holds.
type ShiftJournal interface {
	// LineActions are the first maxRows ops named op (order.OpVoidItem or
	// order.OpCompItem) of the order.patched events, by time, order,
	// version and place in the event.
	LineActions(ctx context.Context, venue string, from, to time.Time, op string, maxRows int) ([]ShiftOp, error)
	// LineActionCounts counts the ops named in ops that LineActions lists,
	// listed or not, per staff member who made them.
	LineActionCounts(ctx context.Context, venue string, from, to time.Time, ops []string) ([]StaffOpCount, error)
	// ForcedOverrides are the first maxRows forced writes, by time, order
	// and version; total counts the range's.
	ForcedOverrides(ctx context.Context, venue string, from, to time.Time, maxRows int) (forced []ForcedOverride, total int64, err error)
	// Conflicts counts the refused writes (Total) and the tables they were
	// on (ByTableTotal), and lists the maxRows tables with the most, most
	// first, then by table.
	Conflicts(ctx context.Context, venue string, from, to time.Time, maxRows int) (Conflicts, error)
	// ClosedOrdersPage is a page of at most limit orders closed in the
	// range, by id after the id given, with their totals computed.
	ClosedOrdersPage(ctx context.Context, venue string, from, to time.Time, after uuid.UUID, limit int) ([]order.Order, error)
	// MenuChanges are the first of the menu log's rows of the range, by
	// seq: at most maxRows, and past the first only while their Before
	// and After add up to at most maxBytes; total counts the range's rows.
	MenuChanges(ctx context.Context, venue string, from, to time.Time, maxRows int, maxBytes int64) (changes []MenuChange, total int64, err error)
}

// StoredEvent is an order event as stored: Ops is the exact JSON text
// hashed.
type StoredEvent struct {
	Version           int64
	ID                uuid.UUID
	Type              string
	At                time.Time
	Actor             order.Actor
	Ops               string
	Forced            bool
	OverriddenVersion *int64
	Hash, Signature   []byte
}

// StoredSeal is a venue seal as stored: Heads is the JSON text hashed.
type StoredSeal struct {
	Seq             int64
	SealedAt        time.Time
	Heads           string
	Hash, Signature []byte
}

// OrderHead is an order's version and chain head hash.
type OrderHead struct {
	OrderID uuid.UUID
	Version int64
	Hash    []byte
}

// OrderVersion names a version of an order.
type OrderVersion struct {
	OrderID uuid.UUID
	Version int64
}

// StoredTicket is a kitchen ticket as stored (Lines is its JSON text), with
// the actions of its log in order.
type StoredTicket struct {
	ID, OrderID           uuid.UUID
	Table, Station, Kind  string
	Lines, Status, Server string
	OrderVersion          int64
	CreatedAt             time.Time
	BumpedAt              *time.Time
	Actions               []string
	// Moves are the ticket's moves (a JSON array of kitchen.Move).
	Moves string
}

// StoredTicketEvent is a kitchen ticket event as stored, with the order
// (and version) of its ticket.
type StoredTicketEvent struct {
	TicketEvent
	Signature    []byte
	OrderID      uuid.UUID
	OrderVersion int64
}

// StoredConflict is a recorded refused write as stored.
type StoredConflict struct {
	Conflict
	Signature []byte
}

// OutboxMessage is an outbox row as verify names it.
type OutboxMessage struct {
	ID             int64
	MsgID, MsgType string
	OrderID        uuid.UUID
	OrderVersion   int64
}

// ShiftOp is one op of an order.patched event as the shift report reads
// it: Op is the op's JSON text as stored; the table is the order's current
// one (the op may name where it was then).
type ShiftOp struct {
	OrderID uuid.UUID
	Table   string
	Version int64
	At      time.Time
	Staff   string
	Op      string
}

// StaffOpCount is how many ops named Op a staff member made.
type StaffOpCount struct {
	Staff string
	Op    string
	Count int64
}
