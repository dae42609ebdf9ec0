// Package store keeps orders in Postgres. Every accepted change is one
// versioned UPDATE of the order row plus its line and payment rows and exactly
// one order_events row, in one transaction; a write computed from a version
// that is no longer current changes nothing and comes back as a conflict.
package store

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/orderrow"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/pgscope"
)

// maxForceAttempts bounds how often a forced write re-reads the order when
// other writes keep landing between its read and its UPDATE.
const maxForceAttempts = 20

// Store reads and writes orders of any venue; every method is scoped to the
// venue it is given.
type Store struct {
	pool     *pgxpool.Pool
	q        *dbsqlc.Queries
	now      func() time.Time
	newID    func() uuid.UUID
	menus    menuCache
	onCommit atomic.Pointer[func()]
	// unchained skips computing the hash chain (every link is ZeroHash). It
	// exists only so the benchmark can measure what chaining costs; nothing
	// outside this package's tests can set it.
	unchained bool
	// eventKey signs each event written (SignEvents); nil: unsigned.
	eventKey ed25519.PrivateKey
}

// OnCommit registers f to run after every committed write (the outbox relay
// uses it to publish without waiting for its next poll). f must not block.
func (s *Store) OnCommit(f func()) { s.onCommit.Store(&f) }

func (s *Store) committed() {
	if f := s.onCommit.Load(); f != nil {
		(*f)()
	}
}

// scope is the DB for reads on behalf of venue.
func (s *Store) scope(venue string) pgscope.DB { return pgscope.Venue(s.pool, venue) }

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
func New(pool *pgxpool.Pool) *Store {
	return &Store{
		pool: pool,
		q:    dbsqlc.New(),
		now:  func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		newID: func() uuid.UUID {
			return uuid.Must(uuid.NewV7())
		},
	}
}

// Table is a dining table and the order open on it, if any.
type Table struct {
	ID          string     `json:"id"`
	Label       string     `json:"label"`
	Seats       int        `json:"seats"`
	OpenOrderID *uuid.UUID `json:"open_order_id"`
}

// Menu lists the venue's menu.
func (s *Store) Menu(ctx context.Context, venue string) ([]order.MenuItem, error) {
	rows, err := s.q.ListMenuItems(ctx, s.scope(venue), venue)
	if err != nil {
		return nil, fmt.Errorf("list menu: %w", err)
	}
	items := make([]order.MenuItem, len(rows))
	for i, r := range rows {
		items[i] = order.MenuItem{SKU: r.Sku, Name: r.Name, PriceCents: r.PriceCents, Station: r.Station}
	}
	return items, nil
}

// Tables lists the venue's tables with the id of the order open on each.
func (s *Store) Tables(ctx context.Context, venue string) ([]Table, error) {
	rows, err := s.q.ListTablesWithOpenOrder(ctx, s.scope(venue), venue)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	tables := make([]Table, len(rows))
	for i, r := range rows {
		tables[i] = Table{ID: r.ID, Label: r.Label, Seats: int(r.Seats), OpenOrderID: r.OpenOrderID}
	}
	return tables, nil
}

// Open opens an order on a free table: the order row at version 1 and its
// order.opened event commit together. A table that already has an open order
// gives *order.TableOccupiedError carrying that order, also when two opens
// race: the database's unique index lets exactly one of them in.
func (s *Store) Open(ctx context.Context, venue, table string, guests int, actor order.Actor, idem *Idem) (order.Order, error) {
	if err := order.ValidateOpen(table, guests); err != nil {
		return order.Order{}, err
	}
	at := s.now()
	o := order.Order{
		ID: s.newID(), Venue: venue, Table: table, Status: order.StatusOpen, Guests: guests,
		Version: 1, Server: actor.Staff, Lines: []order.Line{}, Payments: []order.Payment{},
		OpenedAt: at, UpdatedAt: at,
	}
	ev := order.Event{
		ID: s.newID(), Venue: venue, OrderID: o.ID, Version: 1, Type: order.EventOpened, At: at,
		Actor: actor, Ops: []order.Op{order.OpenOp(table, guests)},
	}
	ops, err := s.chain(audit.ZeroHash, &ev)
	if err != nil {
		return order.Order{}, err
	}
	var b batchDB
	if idem != nil {
		if err := s.claimKey(ctx, &b, idem); err != nil {
			return order.Order{}, err
		}
	}
	if err := s.q.InsertOrder(ctx, &b, dbsqlc.InsertOrderParams{
		VenueID: venue, ID: o.ID, TableID: table, Guests: int32(guests),
		ServerStaff: actor.Staff, OpenedAt: at, LastHash: ev.HashBytes(),
	}); err != nil {
		return order.Order{}, err
	}
	if err := s.queueChange(ctx, &b, o, ev, ops, nil); err != nil {
		return order.Order{}, err
	}
	if err := s.queueKeyAnswer(ctx, &b, idem, o); err != nil {
		return order.Order{}, err
	}
	err = keyError(b.commit(ctx, s.pool, venue, nil))
	if errors.Is(err, ErrInFlight) || errors.Is(err, ErrAnswered) {
		return order.Order{}, err
	}
	if err == nil {
		s.committed()
	}
	if err != nil {
		return order.Order{}, s.translate(ctx, venue, table, nil, err)
	}
	return o, nil
}

// Get reads one order with its lines and payments from a single snapshot.
func (s *Store) Get(ctx context.Context, venue string, id uuid.UUID) (order.Order, error) {
	row, err := s.q.GetOrderFull(ctx, s.scope(venue), dbsqlc.GetOrderFullParams{VenueID: venue, ID: id})
	if err != nil {
		return order.Order{}, s.translate(ctx, venue, "", nil, err)
	}
	return orderrow.FromRow(row)
}

// ListFilter narrows List; empty fields do not filter.
type ListFilter struct {
	Status string
	Table  string
	Limit  int
	// After, when set, asks for the orders listed after that one (older).
	After *uuid.UUID
}

// List returns the venue's orders, newest first.
func (s *Store) List(ctx context.Context, venue string, f ListFilter) ([]order.Order, error) {
	p := dbsqlc.ListOrdersFullParams{VenueID: venue, RowLimit: int32(f.Limit), AfterID: f.After}
	if f.Status != "" {
		p.Status = &f.Status
	}
	if f.Table != "" {
		p.TableID = &f.Table
	}
	rows, err := s.q.ListOrdersFull(ctx, s.scope(venue), p)
	if err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	orders := make([]order.Order, 0, len(rows))
	for _, r := range rows {
		o, err := orderrow.FromRow(r)
		if err != nil {
			return nil, err
		}
		orders = append(orders, o)
	}
	return orders, nil
}

// Events returns the order's events with a version above after, oldest
// first, at most limit of them. A missing order is order.ErrNotFound, not an empty list.
func (s *Store) Events(ctx context.Context, venue string, id uuid.UUID, after, limit int64) ([]order.Event, error) {
	evs, err := s.events(ctx, s.scope(venue), venue, id, after, after+limit)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		// Either the order does not exist or nothing happened after "after".
		if _, err := s.q.GetOrderFull(ctx, s.scope(venue), dbsqlc.GetOrderFullParams{VenueID: venue, ID: id}); err != nil {
			return nil, s.translate(ctx, venue, "", nil, err)
		}
	}
	return evs, nil
}

// At rebuilds the order as it was at version by folding its log. A version
// the order never had is a *order.ValidationError on at_version.
func (s *Store) At(ctx context.Context, venue string, id uuid.UUID, version int64) (order.Order, error) {
	evs, err := s.events(ctx, s.scope(venue), venue, id, 0, version)
	if err != nil {
		return order.Order{}, err
	}
	if len(evs) == 0 {
		if _, err := s.Get(ctx, venue, id); err != nil {
			return order.Order{}, err
		}
	}
	if int64(len(evs)) < version || version < 1 {
		return order.Order{}, &order.ValidationError{Problems: []order.FieldProblem{{
			Field: "at_version", Detail: fmt.Sprintf("the order has versions 1 to %d", len(evs)),
		}}}
	}
	return order.Fold(evs)
}

// Patch is one versioned write request.
type Patch struct {
	// Expected is the version the client's change was made against; nil only
	// when Force is set.
	Expected *int64
	// IfMatch records that Expected came from the If-Match header.
	IfMatch bool
	// Force skips the version check (managers only; checked by the caller).
	Force bool
	Ops   []order.Op
	// Idem, when set, stores the answer to a change with the change.
	Idem *Idem
}

// errStale is the versioned UPDATE touching no row: the order moved on between
// the read the change was planned on and the write.
var errStale = errors.New("order version moved")

// Patch applies p to the order. Without Force it succeeds only if the order is
// at *p.Expected when the UPDATE runs, and otherwise returns
// *order.ConflictError with the current order and the events since
// *p.Expected; it never retries or merges. With Force it re-reads and
// re-plans until its write lands, and its event records forced and the version
// it overrode. A patch that changes nothing returns the order unchanged and
// changed == false, with no event written.
func (s *Store) Patch(ctx context.Context, venue string, id uuid.UUID, p Patch, actor order.Actor) (o order.Order, changed bool, err error) {
	if !p.Force && p.Expected == nil {
		return order.Order{}, false, errors.New("patch without precondition")
	}
	for attempt := 1; ; attempt++ {
		cur, err := s.Get(ctx, venue, id)
		if err != nil {
			return order.Order{}, false, err
		}
		if !p.Force && cur.Version != *p.Expected {
			return order.Order{}, false, s.conflict(ctx, cur, *p.Expected, p.IfMatch, actor)
		}
		env, err := s.env(ctx, venue, p.Ops)
		if err != nil {
			return order.Order{}, false, err
		}
		at := s.now()
		if at.Before(cur.UpdatedAt) {
			// Another replica's clock ran ahead: an order's times never go
			// backwards (audit verify checks it).
			at = cur.UpdatedAt
		}
		next, applied, err := order.Plan(cur, p.Ops, at, env)
		if err != nil {
			return order.Order{}, false, err
		}
		if len(applied) == 0 {
			return cur, false, nil
		}
		ev := order.Event{
			ID: s.newID(), Venue: venue, OrderID: id, Version: next.Version, Type: order.EventPatched,
			At: at, Actor: actor, Ops: applied,
		}
		if p.Force {
			overridden := cur.Version
			ev.Forced, ev.OverriddenVersion = true, &overridden
		}
		err = s.write(ctx, cur, next, &ev, kitchen.TicketsFor(next, applied, actor.Staff, at, s.newID), p.Idem)
		if errors.Is(err, ErrInFlight) || errors.Is(err, ErrAnswered) {
			return order.Order{}, false, err
		}
		if errors.Is(err, errStale) {
			if p.Force && attempt < maxForceAttempts {
				continue
			}
			latest, gerr := s.Get(ctx, venue, id)
			if gerr != nil {
				return order.Order{}, false, gerr
			}
			return order.Order{}, false, s.conflict(ctx, latest, cur.Version, p.IfMatch, actor)
		}
		if err != nil {
			err = s.translate(ctx, venue, next.Table, p.Ops, err)
			var occ *order.TableOccupiedError
			if errors.As(err, &occ) {
				// The refusal shows the order the client addressed (the
				// occupying one is named by OccupiedBy).
				occ.Current = nil
				if o, gerr := s.Get(ctx, venue, id); gerr == nil {
					occ.Current = &o
				}
			}
			return order.Order{}, false, err
		}
		next.ChainHead = ev.HashBytes()
		return next, true, nil
	}
}

// write commits one accepted change in one round trip after BEGIN: the
// versioned UPDATE first (which takes the row lock and re-checks the version;
// zero rows means the order moved on and nothing is kept), then lines,
// payments, the event, its outbox messages and any kitchen tickets.
func (s *Store) write(ctx context.Context, cur, next order.Order, ev *order.Event, tickets []kitchen.Ticket, idem *Idem) error {
	ops, err := s.chain(cur.ChainHead, ev)
	if err != nil {
		return err
	}
	var b batchDB
	if idem != nil {
		if err := s.claimKey(ctx, &b, idem); err != nil {
			return err
		}
	}
	b.checkNext()
	_, _ = s.q.BumpOrderVersion(ctx, &b, dbsqlc.BumpOrderVersionParams{
		VenueID: next.Venue, ID: next.ID, ExpectedVersion: cur.Version,
		TableID: next.Table, Status: next.Status, Guests: int32(next.Guests), Note: next.Note,
		UpdatedAt: next.UpdatedAt, ClosedAt: next.ClosedAt, LastHash: ev.HashBytes(),
	})
	// Without this the pipeline's COMMIT could keep the rows below even
	// when the UPDATE found the order at another version.
	if err := s.q.AssertOrderHead(ctx, &b, dbsqlc.AssertOrderHeadParams{
		VenueID: next.Venue, ID: next.ID, Version: next.Version, LastHash: ev.HashBytes(),
	}); err != nil {
		return err
	}
	if err := s.queueChange(ctx, &b, next, *ev, ops, tickets); err != nil {
		return err
	}
	if err := s.writeLines(ctx, &b, cur, next); err != nil {
		return err
	}
	if err := s.writePayments(ctx, &b, cur, next); err != nil {
		return err
	}
	next.ChainHead = ev.HashBytes()
	if err := s.queueKeyAnswer(ctx, &b, idem, next); err != nil {
		return err
	}
	err = b.commit(ctx, s.pool, next.Venue, func(tag pgconn.CommandTag) error {
		if tag.RowsAffected() == 0 {
			return errStale
		}
		return nil
	})
	if err == nil {
		s.committed()
	}
	return keyError(err)
}

// queueKeyAnswer queues the stored answer of a keyed change, rendered from
// the order the change produces.
func (s *Store) queueKeyAnswer(ctx context.Context, b *batchDB, idem *Idem, o order.Order) error {
	if idem == nil {
		return nil
	}
	a, err := idem.Answer(o)
	if err != nil {
		return fmt.Errorf("render answer: %w", err)
	}
	return s.queueAnswer(ctx, b, idem, a)
}

// chain encodes ev's ops once (the stored text is what the hash covers),
// links ev to the order's chain after prev and records the hash on ev.
func (s *Store) chain(prev []byte, ev *order.Event) (ops []byte, err error) {
	ops, err = json.Marshal(ev.Ops)
	if err != nil {
		return nil, fmt.Errorf("encode ops: %w", err)
	}
	if s.unchained {
		ev.SetHash(audit.ZeroHash)
		return ops, nil
	}
	ev.SetHash(audit.EventHash(prev, *ev, ops))
	return ops, nil
}

// queueChange queues the event of a change (ops is its stored JSON text), the
// tickets it creates, and one outbox message for the event and for each
// ticket.
func (s *Store) queueChange(ctx context.Context, b *batchDB, o order.Order, ev order.Event, ops []byte, tickets []kitchen.Ticket) error {
	evJSON, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if err := s.q.InsertEvent(ctx, b, dbsqlc.InsertEventParams{
		VenueID: ev.Venue, OrderID: ev.OrderID, Version: ev.Version, ID: ev.ID, Type: ev.Type,
		At: ev.At, ActorDevice: ev.Actor.Device, ActorStaff: ev.Actor.Staff, ActorRole: ev.Actor.Role,
		Ops: ops, Forced: ev.Forced, OverriddenVersion: ev.OverriddenVersion, Hash: ev.HashBytes(),
		Signature: s.signEvent(ev),
	}); err != nil {
		return err
	}
	if len(evJSON) > outbox.MaxMessageBytes {
		return tooLarge(len(evJSON))
	}
	out := dbsqlc.InsertOutboxParams{
		VenueID: ev.Venue, OrderID: ev.OrderID, OrderVersion: ev.Version,
		Subjects: []string{kitchen.OrderSubject(ev.Venue, ev.OrderID)},
		MsgIds:   []string{ev.ID.String()}, MsgTypes: []string{ev.Type}, Payloads: [][]byte{evJSON},
	}
	if len(tickets) > 0 {
		tp := dbsqlc.InsertTicketsParams{VenueID: o.Venue, OrderID: o.ID, TableID: o.Table, Server: o.Server,
			OrderVersion: ev.Version, CreatedAt: ev.At, OrderNote: tickets[0].OrderNote, Guests: int32(tickets[0].Guests)}
		te := dbsqlc.InsertTicketEventsParams{VenueID: o.Venue, At: ev.At, ActorDevice: ev.Actor.Device, ActorStaff: ev.Actor.Staff}
		for _, t := range tickets {
			lines, err := json.Marshal(t.Lines)
			if err != nil {
				return fmt.Errorf("encode ticket lines: %w", err)
			}
			msg, err := json.Marshal(kitchen.Message{Type: kitchen.MsgCreated, Ticket: t})
			if err != nil {
				return fmt.Errorf("encode ticket: %w", err)
			}
			if len(msg) > outbox.MaxMessageBytes {
				return tooLarge(len(msg))
			}
			evID := s.newID()
			tp.Ids, tp.Stations, tp.Kinds, tp.Lines = append(tp.Ids, t.ID), append(tp.Stations, t.Station), append(tp.Kinds, t.Kind), append(tp.Lines, lines)
			tp.Reasons, tp.VoidedBy = append(tp.Reasons, t.Reason), append(tp.VoidedBy, t.VoidedBy)
			tp.PartNums, tp.PartCounts = append(tp.PartNums, int32(t.Part)), append(tp.PartCounts, int32(t.Parts))
			te.Ids, te.TicketIds, te.Actions = append(te.Ids, evID), append(te.TicketIds, t.ID), append(te.Actions, "created")
			te.Signatures = append(te.Signatures, s.signTicketEvent(o.Venue, audit.TicketEvent{ID: evID, TicketID: t.ID,
				Action: "created", At: ev.At, ActorDevice: ev.Actor.Device, Staff: ev.Actor.Staff}))
			out.Subjects = append(out.Subjects, kitchen.Subject(o.Venue, t.Station))
			out.MsgIds = append(out.MsgIds, evID.String())
			out.MsgTypes = append(out.MsgTypes, kitchen.MsgCreated)
			out.Payloads = append(out.Payloads, msg)
		}
		if err := s.q.InsertTickets(ctx, b, tp); err != nil {
			return err
		}
		if err := s.q.InsertTicketEvents(ctx, b, te); err != nil {
			return err
		}
	}
	return s.q.InsertOutbox(ctx, b, out)
}

func (s *Store) writeLines(ctx context.Context, tx dbsqlc.DBTX, cur, next order.Order) error {
	old := make(map[uuid.UUID]order.Line, len(cur.Lines))
	for _, l := range cur.Lines {
		old[l.ID] = l
	}
	var ins dbsqlc.InsertLinesParams
	var upd dbsqlc.UpdateLinesParams
	for _, l := range next.Lines {
		prev, ok := old[l.ID]
		delete(old, l.ID)
		switch {
		case !ok:
			mods, err := json.Marshal(l.Modifiers)
			if err != nil {
				return fmt.Errorf("encode modifiers: %w", err)
			}
			ins.Ids = append(ins.Ids, l.ID)
			ins.Positions = append(ins.Positions, int32(l.Position))
			ins.Skus = append(ins.Skus, l.SKU)
			ins.Names = append(ins.Names, l.Name)
			ins.Qtys = append(ins.Qtys, int32(l.Qty))
			ins.UnitPrices = append(ins.UnitPrices, l.UnitPriceCents)
			ins.Seats = append(ins.Seats, int32(l.Seat))
			ins.Courses = append(ins.Courses, int32(l.Course))
			ins.Modifiers = append(ins.Modifiers, mods)
			ins.Notes = append(ins.Notes, l.Note)
			ins.Stations = append(ins.Stations, l.Station)
			ins.Statuses = append(ins.Statuses, l.Status)
			ins.Compeds = append(ins.Compeds, l.Comped)
		case prev.Qty != l.Qty || prev.Status != l.Status || prev.Comped != l.Comped:
			upd.Ids = append(upd.Ids, l.ID)
			upd.Qtys = append(upd.Qtys, int32(l.Qty))
			upd.Statuses = append(upd.Statuses, l.Status)
			upd.Compeds = append(upd.Compeds, l.Comped)
		}
	}
	if len(ins.Ids) > 0 {
		ins.VenueID, ins.OrderID = next.Venue, next.ID
		if err := s.q.InsertLines(ctx, tx, ins); err != nil {
			return err
		}
	}
	if len(upd.Ids) > 0 {
		upd.VenueID, upd.OrderID = next.Venue, next.ID
		if err := s.q.UpdateLines(ctx, tx, upd); err != nil {
			return err
		}
	}
	if len(old) > 0 {
		ids := make([]uuid.UUID, 0, len(old))
		for id := range old {
			ids = append(ids, id)
		}
		if err := s.q.DeleteLines(ctx, tx, dbsqlc.DeleteLinesParams{VenueID: next.Venue, OrderID: next.ID, Ids: ids}); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writePayments(ctx context.Context, tx dbsqlc.DBTX, cur, next order.Order) error {
	if len(next.Payments) == len(cur.Payments) {
		return nil
	}
	p := dbsqlc.InsertPaymentsParams{VenueID: next.Venue, OrderID: next.ID}
	for i := len(cur.Payments); i < len(next.Payments); i++ {
		pay := next.Payments[i]
		p.Positions = append(p.Positions, int32(i))
		p.Tenders = append(p.Tenders, pay.Tender)
		p.Amounts = append(p.Amounts, pay.AmountCents)
		p.Tips = append(p.Tips, pay.TipCents)
	}
	return s.q.InsertPayments(ctx, tx, p)
}

// MaxConflictChanges and MaxConflictChangesBytes bound the changes a
// stale write's refusal carries: the newest events since the client's
// version, at most MaxConflictChanges of them and at most
// MaxConflictChangesBytes of their JSON (the newest event always). Without
// them one stale PATCH on a long order answered megabytes.
const (
	MaxConflictChanges      = 20
	MaxConflictChangesBytes = 256 << 10
)

// conflict builds the answer to a stale write (the authoritative order and
// the newest events after the version the client had, within
// MaxConflictChanges and MaxConflictChangesBytes) and records the refusal in
// order_conflicts, outside the refused transaction. A write against a
// version the order does not have yet is a client bug, not a colleague's
// change: it is refused the same way but not recorded. A failure to record
// does not change the answer; it is reported on the error for the caller to
// log.
func (s *Store) conflict(ctx context.Context, cur order.Order, expected int64, ifMatch bool, actor order.Actor) error {
	after, truncated := expected, false
	if cur.Version-expected > MaxConflictChanges {
		after, truncated = cur.Version-MaxConflictChanges, true
	}
	changes, err := s.events(ctx, s.scope(cur.Venue), cur.Venue, cur.ID, after, cur.Version)
	if err != nil {
		return err
	}
	size := 0
	for i := len(changes) - 1; i >= 0; i-- {
		b, err := json.Marshal(changes[i])
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		if size += len(b); size > MaxConflictChangesBytes && i < len(changes)-1 {
			changes, truncated = changes[i+1:], true
			break
		}
	}
	refusal := &order.ConflictError{Expected: expected, Current: cur, Changes: changes, Truncated: truncated, IfMatch: ifMatch}
	if expected > cur.Version {
		return refusal
	}
	via := "expected_version"
	if ifMatch {
		via = "if-match"
	}
	// The record is a statistic for the post-shift report, written on every
	// refusal (a busy banquet refuses many): an asynchronous commit keeps it
	// cheap, at the price of losing the last few records if Postgres itself
	// crashes within a fraction of a second.
	var b batchDB
	b.b.Queue("SET LOCAL synchronous_commit TO off")
	rec := audit.Conflict{ID: s.newID(), OrderID: cur.ID, Table: cur.Table, Device: actor.Device, Staff: actor.Staff,
		Role: actor.Role, ExpectedVersion: expected, CurrentVersion: cur.Version, Via: via, At: s.now()}
	var sig []byte
	if s.eventKey != nil {
		sig = audit.SignConflict(s.eventKey, cur.Venue, rec)
	}
	recErr := s.q.InsertConflict(ctx, &b, dbsqlc.InsertConflictParams{
		VenueID: cur.Venue, ID: rec.ID, OrderID: rec.OrderID, TableID: rec.Table, Device: rec.Device,
		Staff: rec.Staff, Role: rec.Role, ExpectedVersion: rec.ExpectedVersion, CurrentVersion: rec.CurrentVersion,
		Via: rec.Via, At: rec.At, Signature: sig,
	})
	if recErr == nil {
		recErr = b.commit(ctx, s.pool, cur.Venue, nil)
	}
	if recErr != nil {
		refusal.RecordErr = fmt.Errorf("record conflict: %w", recErr)
	}
	return refusal
}

// env loads what planning the ops needs: menu entries of added SKUs and the
// existence of tables moved to. Nothing is read for ops that need nothing.
func (s *Store) env(ctx context.Context, venue string, ops []order.Op) (order.Env, error) {
	env := order.Env{Menu: map[string]order.MenuItem{}, Tables: map[string]bool{}, NewID: s.newID}
	var skus []string
	for _, op := range ops {
		switch op.Op {
		case order.OpAddItem:
			skus = append(skus, op.SKU)
		case order.OpMoveTable:
			ok, err := s.q.TableExists(ctx, s.scope(venue), dbsqlc.TableExistsParams{VenueID: venue, TableID: op.Table})
			if err != nil {
				return env, fmt.Errorf("check table: %w", err)
			}
			env.Tables[op.Table] = ok
		}
	}
	if len(skus) > 0 {
		menu, err := s.menu(ctx, venue)
		if err != nil {
			return env, err
		}
		env.Menu = menu
	}
	return env, nil
}

func (s *Store) events(ctx context.Context, db dbsqlc.DBTX, venue string, id uuid.UUID, after, until int64) ([]order.Event, error) {
	rows, err := s.q.ListEvents(ctx, db, dbsqlc.ListEventsParams{
		VenueID: venue, OrderID: id, AfterVersion: after, UntilVersion: until,
	})
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	evs := make([]order.Event, len(rows))
	for i, r := range rows {
		evs[i] = order.Event{
			ID: r.ID, Venue: r.VenueID, OrderID: r.OrderID, Version: r.Version, Type: r.Type, At: r.At.UTC(),
			Actor:  order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole},
			Forced: r.Forced, OverriddenVersion: r.OverriddenVersion,
		}
		evs[i].SetHash(r.Hash)
		if err := json.Unmarshal(r.Ops, &evs[i].Ops); err != nil {
			return nil, fmt.Errorf("decode ops of event %s: %w", r.ID, err)
		}
	}
	return evs, nil
}

// translate maps database errors to domain errors, in one place. table and
// ops give context for constraint violations.
func (s *Store) translate(ctx context.Context, venue, table string, ops []order.Op, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return order.ErrNotFound
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case pgErr.Code == "23505" && pgErr.ConstraintName == "orders_one_open_per_table":
		occ := &order.TableOccupiedError{Table: table}
		if id, gerr := s.q.GetOpenOrderIDByTable(ctx, s.scope(venue), dbsqlc.GetOpenOrderIDByTableParams{VenueID: venue, TableID: table}); gerr == nil {
			occ.OccupiedBy = &id
			if o, gerr := s.Get(ctx, venue, id); gerr == nil {
				occ.Current = &o
			}
		}
		return occ
	case pgErr.Code == "23505" && pgErr.ConstraintName == "order_lines_pkey":
		idx := -1
		for i, op := range ops {
			if op.Op == order.OpAddItem && op.LineID != nil {
				idx = i
				break
			}
		}
		return &order.ValidationError{Problems: []order.FieldProblem{opProblem(idx, "line_id", "already used by another line")}}
	case pgErr.Code == "23514" && boundFields[pgErr.ConstraintName] != "":
		// posd's validation refuses these first; the schema is the backstop.
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: boundFields[pgErr.ConstraintName],
			Detail: "outside the bound the database enforces (" + pgErr.ConstraintName + ")"}}}
	case pgErr.Code == "23503" && pgErr.ConstraintName == "orders_venue_id_table_id_fkey":
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: "table", Detail: fmt.Sprintf("unknown table %q", table)}}}
	}
	return fmt.Errorf("postgres: %w", err)
}

// tooLarge refuses a change whose NATS message would pass
// outbox.MaxMessageBytes: nothing is written.
func tooLarge(n int) error {
	return &order.ValidationError{Problems: []order.FieldProblem{{Field: "ops", Detail: fmt.Sprintf(
		"this change makes a %d-byte message; a message is at most %d bytes (MaxMessageBytes): send it in smaller PATCHes", n, outbox.MaxMessageBytes)}}}
}

// boundFields maps the schema's bound constraints (db/schema/0001_baseline.sql)
// to the field of the request that breaks them.
var boundFields = map[string]string{
	ConstraintLinesPerOrder:    "lines",
	ConstraintLinePrice:        "sku",
	ConstraintPaymentAmount:    "amount_cents",
	ConstraintPaymentTip:       "tip_cents",
	ConstraintPaymentsPerOrder: "payments",
}

// Names of the schema's bound constraints that writes can hit.
const (
	ConstraintLinesPerOrder    = "order_lines_per_order"
	ConstraintLinePrice        = "order_lines_price_bound"
	ConstraintPaymentAmount    = "order_payments_amount_bound"
	ConstraintPaymentTip       = "order_payments_tip_bound"
	ConstraintPaymentsPerOrder = "order_payments_per_order"
)

func opProblem(i int, field, detail string) order.FieldProblem {
	p := order.FieldProblem{Field: field, Detail: detail}
	if i >= 0 {
		p.OpIndex = &i
	}
	return p
}
