package store

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/orderrow"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// This file holds the journal's queries (db/queries/audit.sql) behind the
// interfaces audit declares: audit.Journal (what verify reads),
// audit.SealJournal and audit.SealStore (what the sealer reads and
// writes), audit.ShiftJournal (the post-shift report).

// JournalDB is where a Journal runs its queries: a transaction or a
// connection (pgx.Tx, *pgx.Conn, a pool), already scoped to the venue.
type JournalDB interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// Journal reads (and, for seals, writes) the journal through db. It
// implements audit.Journal, audit.SealJournal and audit.ShiftJournal.
type Journal struct {
	db JournalDB
	q  *dbsqlc.Queries
}

// JournalOn is the journal as db sees it. db should be scoped to the venue
// (or be the system session) and, for Verify and Shift, be one snapshot.
func JournalOn(db JournalDB) Journal { return Journal{db: db, q: dbsqlc.New()} }

var (
	_ audit.Journal      = Journal{}
	_ audit.SealJournal  = Journal{}
	_ audit.ShiftJournal = Journal{}
	_ audit.SealStore    = (*Store)(nil)
)

// sealLockKey is the advisory lock that lets one process seal at a time.
const sealLockKey = int64(0x706f73640002)

// Venues lists every venue (audit.SealStore).
func (s *Store) Venues(ctx context.Context) ([]string, error) {
	return runOne(ctx, s.pool, systemBatch(), func(db dbsqlc.DBTX) ([]string, error) { return s.q.ListVenues(ctx, db) })
}

// SealTx runs f in a transaction scoped to venue when this process can take
// the sealing lock; otherwise it does nothing (audit.SealStore).
func (s *Store) SealTx(ctx context.Context, venue string, f func(audit.SealJournal) error) error {
	return journalTx(ctx, s, venue, pgx.TxOptions{}, func(tx pgx.Tx) error {
		got, err := s.q.TrySealLock(ctx, tx, sealLockKey)
		if err != nil || !got {
			return err
		}
		return f(JournalOn(tx))
	})
}

// journalTx runs f in a transaction with opts whose queries see venue's
// rows; BEGIN and the venue setting take one round trip.
func journalTx(ctx context.Context, s *Store, venue string, opts pgx.TxOptions, f func(tx pgx.Tx) error) error {
	return inTx(ctx, s.pool, venueTxBatch(venue, opts), f)
}

// VenueExists reports whether venue exists.
func (j Journal) VenueExists(ctx context.Context, venue string) (bool, error) {
	return j.q.VenueExists(ctx, j.db, venue)
}

// Seals are the venue's seals by seq.
func (j Journal) Seals(ctx context.Context, venue string) ([]audit.StoredSeal, error) {
	rows, err := j.q.ListSeals(ctx, j.db, venue)
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredSeal, len(rows))
	for i, r := range rows {
		out[i] = audit.StoredSeal{Seq: r.Seq, SealedAt: r.SealedAt, Heads: r.Heads, Hash: r.Hash, Signature: r.Signature}
	}
	return out, nil
}

// Devices are every device the venue has had, as actors.
func (j Journal) Devices(ctx context.Context, venue string) ([]order.Actor, error) {
	rows, err := j.q.VerifyDevices(ctx, j.db, venue)
	if err != nil {
		return nil, err
	}
	out := make([]order.Actor, len(rows))
	for i, d := range rows {
		out[i] = order.Actor{Device: d.Name, Staff: d.Staff, Role: d.Role}
	}
	return out, nil
}

// SignedSince is when posd began signing the journal's rows.
func (j Journal) SignedSince(ctx context.Context) (time.Time, error) {
	return j.q.JournalSignedSince(ctx, j.db)
}

// PendingOutbox is, per order, the newest version the relay has not
// passed yet.
func (j Journal) PendingOutbox(ctx context.Context, venue string) (map[uuid.UUID]int64, error) {
	rows, err := j.q.VerifyPendingOutbox(ctx, j.db, dbsqlc.VerifyPendingOutboxParams{Relay: outbox.CursorName, VenueID: venue})
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]int64, len(rows))
	for _, r := range rows {
		out[r.OrderID] = r.OrderVersion
	}
	return out, nil
}

// OrdersPage is a page of the venue's orders after the id given.
func (j Journal) OrdersPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]order.Order, error) {
	rows, err := j.q.VerifyOrdersFull(ctx, j.db, dbsqlc.VerifyOrdersFullParams{VenueID: venue, AfterOrder: after, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		if out[i], err = orderrow.FromRow(orderrow.Row(r)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OrderTickets are the kitchen tickets of the orders given.
func (j Journal) OrderTickets(ctx context.Context, venue string, orders []uuid.UUID) ([]audit.StoredTicket, error) {
	rows, err := j.q.VerifyOrderTickets(ctx, j.db, dbsqlc.VerifyOrderTicketsParams{VenueID: venue, OrderIds: orders})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredTicket, len(rows))
	for i, t := range rows {
		out[i] = audit.StoredTicket{ID: t.ID, OrderID: t.OrderID, Table: t.TableID, Station: t.Station, Kind: t.Kind,
			Lines: t.Lines, Status: t.Status, Server: t.Server, OrderVersion: t.OrderVersion, CreatedAt: t.CreatedAt,
			BumpedAt: t.BumpedAt, Actions: t.Actions, Moves: t.Moves}
	}
	return out, nil
}

// MovedTicketsPage is a page of the venue's kitchen tickets whose lines
// moved.
func (j Journal) MovedTicketsPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]audit.StoredTicket, error) {
	rows, err := j.q.VerifyMovedTickets(ctx, j.db, dbsqlc.VerifyMovedTicketsParams{VenueID: venue, AfterID: after, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredTicket, len(rows))
	for i, t := range rows {
		out[i] = audit.StoredTicket{ID: t.ID, OrderID: t.OrderID, Table: t.TableID, OrderVersion: t.OrderVersion, Lines: t.Lines, Moves: t.Moves}
	}
	return out, nil
}

// OrderEvents are one order's events by version.
func (j Journal) OrderEvents(ctx context.Context, venue string, orderID uuid.UUID) ([]audit.StoredEvent, error) {
	rows, err := j.q.VerifyOrderEvents(ctx, j.db, dbsqlc.VerifyOrderEventsParams{VenueID: venue, OrderID: orderID})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredEvent, len(rows))
	for i, r := range rows {
		out[i] = audit.StoredEvent{Version: r.Version, ID: r.ID, Type: r.Type, At: r.At,
			Actor: order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole},
			Ops:   r.Ops, Forced: r.Forced, OverriddenVersion: r.OverriddenVersion, Hash: r.Hash, Signature: r.Signature}
	}
	return out, nil
}

// OrphanEvents names an order with events but no row.
func (j Journal) OrphanEvents(ctx context.Context, venue string) ([]audit.OrderVersion, error) {
	rows, err := j.q.OrphanEvents(ctx, j.db, venue)
	if err != nil {
		return nil, err
	}
	out := make([]audit.OrderVersion, len(rows))
	for i, r := range rows {
		out[i] = audit.OrderVersion{OrderID: r.OrderID, Version: r.Version}
	}
	return out, nil
}

// ImpossibleConflicts names a recorded refused write that cannot be true.
func (j Journal) ImpossibleConflicts(ctx context.Context, venue string) ([]audit.Conflict, error) {
	rows, err := j.q.VerifyConflicts(ctx, j.db, venue)
	if err != nil {
		return nil, err
	}
	out := make([]audit.Conflict, len(rows))
	for i, c := range rows {
		out[i] = audit.Conflict{ID: c.ID, OrderID: c.OrderID, ExpectedVersion: c.ExpectedVersion, CurrentVersion: c.CurrentVersion}
	}
	return out, nil
}

// TicketEventsPage is a page of the venue's kitchen ticket events.
func (j Journal) TicketEventsPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]audit.StoredTicketEvent, error) {
	rows, err := j.q.VerifyTicketEventsPage(ctx, j.db, dbsqlc.VerifyTicketEventsPageParams{VenueID: venue, AfterID: after, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredTicketEvent, len(rows))
	for i, r := range rows {
		out[i] = audit.StoredTicketEvent{
			TicketEvent: audit.TicketEvent{ID: r.ID, TicketID: r.TicketID, Action: r.Action, At: r.At, ActorDevice: r.ActorDevice, Staff: r.ActorStaff},
			Signature:   r.Signature, OrderID: r.OrderID, OrderVersion: r.OrderVersion}
	}
	return out, nil
}

// ConflictsPage is a page of the venue's recorded refused writes.
func (j Journal) ConflictsPage(ctx context.Context, venue string, after uuid.UUID, limit int) ([]audit.StoredConflict, error) {
	rows, err := j.q.VerifyConflictsPage(ctx, j.db, dbsqlc.VerifyConflictsPageParams{VenueID: venue, AfterID: after, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StoredConflict, len(rows))
	for i, r := range rows {
		out[i] = audit.StoredConflict{Conflict: audit.Conflict{ID: r.ID, OrderID: r.OrderID, Table: r.TableID, Device: r.Device,
			Staff: r.Staff, Role: r.Role, ExpectedVersion: r.ExpectedVersion, CurrentVersion: r.CurrentVersion, Via: r.Via, At: r.At},
			Signature: r.Signature}
	}
	return out, nil
}

// OutboxOrphans names an outbox row that is no message of the log.
func (j Journal) OutboxOrphans(ctx context.Context, venue string) ([]audit.OutboxMessage, error) {
	rows, err := j.q.VerifyOutboxOrphans(ctx, j.db, venue)
	if err != nil {
		return nil, err
	}
	out := make([]audit.OutboxMessage, len(rows))
	for i, o := range rows {
		out[i] = audit.OutboxMessage{ID: o.ID, MsgID: o.MsgID, MsgType: o.MsgType, OrderID: o.OrderID, OrderVersion: o.OrderVersion}
	}
	return out, nil
}

// LastSeal is the venue's newest seal, without its heads.
func (j Journal) LastSeal(ctx context.Context, venue string) (audit.StoredSeal, bool, error) {
	r, err := j.q.LastSeal(ctx, j.db, venue)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return audit.StoredSeal{}, false, nil
	case err != nil:
		return audit.StoredSeal{}, false, err
	}
	return audit.StoredSeal{Seq: r.Seq, SealedAt: r.SealedAt, Hash: r.Hash, Signature: r.Signature}, true, nil
}

// HeadsSince are the heads of the orders changed at or after since.
func (j Journal) HeadsSince(ctx context.Context, venue string, since time.Time) ([]audit.OrderHead, error) {
	rows, err := j.q.OrderHeadsSince(ctx, j.db, dbsqlc.OrderHeadsSinceParams{VenueID: venue, Since: since})
	if err != nil {
		return nil, err
	}
	out := make([]audit.OrderHead, len(rows))
	for i, r := range rows {
		out[i] = audit.OrderHead{OrderID: r.ID, Version: r.Version, Hash: r.LastHash}
	}
	return out, nil
}

// InsertSeal appends a seal.
func (j Journal) InsertSeal(ctx context.Context, venue string, s audit.StoredSeal) error {
	return j.q.InsertSeal(ctx, j.db, dbsqlc.InsertSealParams{
		VenueID: venue, Seq: s.Seq, SealedAt: s.SealedAt, Heads: []byte(s.Heads), Hash: s.Hash, Signature: s.Signature})
}

// SQLEventHash is posd_event_hash over prev and a stored event: the
// chain link as Postgres computes it (only the owner may call it; the
// tests compare it with audit.EventHash).
func (j Journal) SQLEventHash(ctx context.Context, prev []byte, venue string, orderID uuid.UUID, version int64) ([]byte, error) {
	return j.q.SQLEventHash(ctx, j.db, dbsqlc.SQLEventHashParams{Prev: prev, VenueID: venue, OrderID: orderID, Version: version})
}

// ClosedOrdersPage is a page of the orders closed in [from, to), by id,
// after the id given, priced.
func (j Journal) ClosedOrdersPage(ctx context.Context, venue string, from, to time.Time, after uuid.UUID, limit int) ([]order.Order, error) {
	rows, err := j.q.ShiftClosedOrders(ctx, j.db, dbsqlc.ShiftClosedOrdersParams{VenueID: venue, FromTime: from, ToTime: to,
		AfterOrder: after, PageSize: int32(limit)})
	if err != nil {
		return nil, err
	}
	out := make([]order.Order, len(rows))
	for i, r := range rows {
		if out[i], err = orderrow.FromRow(orderrow.Row(r)); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LineActions are the first maxRows ops named op of the order.patched
// events in [from, to) (audit.ShiftJournal).
func (j Journal) LineActions(ctx context.Context, venue string, from, to time.Time, op string, maxRows int) ([]audit.ShiftOp, error) {
	rows, err := j.q.ShiftLineActions(ctx, j.db, dbsqlc.ShiftLineActionsParams{VenueID: venue, FromTime: from, ToTime: to,
		Op: op, MaxRows: maxRowsParam(maxRows)})
	if err != nil {
		return nil, err
	}
	out := make([]audit.ShiftOp, len(rows))
	for i, e := range rows {
		out[i] = audit.ShiftOp{OrderID: e.OrderID, Table: e.TableID, Version: e.Version, At: e.At, Staff: e.ActorStaff, Op: e.Op}
	}
	return out, nil
}

// LineActionCounts counts per staff member the ops named in ops of the
// order.patched events in [from, to) (audit.ShiftJournal).
func (j Journal) LineActionCounts(ctx context.Context, venue string, from, to time.Time, ops []string) ([]audit.StaffOpCount, error) {
	rows, err := j.q.ShiftLineActionCounts(ctx, j.db, dbsqlc.ShiftLineActionCountsParams{VenueID: venue, FromTime: from, ToTime: to, Ops: ops})
	if err != nil {
		return nil, err
	}
	out := make([]audit.StaffOpCount, len(rows))
	for i, c := range rows {
		out[i] = audit.StaffOpCount{Staff: c.ActorStaff, Op: c.Op, Count: c.Actions}
	}
	return out, nil
}

// ForcedOverrides are the first maxRows forced writes in [from, to), and
// how many the range has (audit.ShiftJournal).
func (j Journal) ForcedOverrides(ctx context.Context, venue string, from, to time.Time, maxRows int) ([]audit.ForcedOverride, int64, error) {
	rows, err := j.q.ShiftForcedOverrides(ctx, j.db, dbsqlc.ShiftForcedOverridesParams{VenueID: venue, FromTime: from, ToTime: to,
		MaxRows: maxRowsParam(maxRows)})
	if err != nil {
		return nil, 0, err
	}
	out, total := firstOfRange(rows, func(f dbsqlc.ShiftForcedOverridesRow) (audit.ForcedOverride, int64) {
		return audit.ForcedOverride{OrderID: f.OrderID, Table: f.TableID, Version: f.Version,
			OverriddenVersion: f.OverriddenVersion, By: f.ActorStaff, At: f.At}, f.Total
	})
	return out, total, nil
}

// Conflicts counts the refused writes in [from, to) and the tables they
// were on, and lists the maxRows tables with the most (audit.ShiftJournal).
func (j Journal) Conflicts(ctx context.Context, venue string, from, to time.Time, maxRows int) (audit.Conflicts, error) {
	rows, err := j.q.ShiftConflictsByTable(ctx, j.db, dbsqlc.ShiftConflictsByTableParams{VenueID: venue, FromTime: from, ToTime: to,
		MaxRows: maxRowsParam(maxRows)})
	if err != nil {
		return audit.Conflicts{}, err
	}
	var c audit.Conflicts
	c.ByTable, c.ByTableTotal = firstOfRange(rows, func(r dbsqlc.ShiftConflictsByTableRow) (audit.TableCount, int64) {
		c.Total = r.Refused
		return audit.TableCount{Table: r.TableID, Count: r.Conflicts}, r.Tables
	})
	return c, nil
}

// firstOfRange makes the values of the rows of a query that lists the first
// of a range and carries on each row how many the range has (its total:
// 0 when there are no rows, as a range with none has), and that total.
func firstOfRange[R, T any](rows []R, value func(R) (T, int64)) ([]T, int64) {
	out := make([]T, len(rows))
	var total int64
	for i, r := range rows {
		out[i], total = value(r)
	}
	return out, total
}

// maxRowsParam is a bound on the rows a query lists, as its LIMIT takes it.
func maxRowsParam(n int) int32 { return int32(min(n, math.MaxInt32)) }
