package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// maxForceAttempts bounds how often a forced write re-reads the order when
// other writes keep landing between its read and its UPDATE.
const maxForceAttempts = 20

// maxMenuReplans bounds how often a write is planned because the venue's
// menu moved since the menu it was planned with was read (each menu change
// costs one more; three within one write is a menu rewritten in a loop).
const maxMenuReplans = 3

// Open opens an order on a free table: the order row at version 1 and its
// order.opened event commit together. A table that already has an open order
// gives *order.TableOccupiedError carrying that order, also when two opens
// race: the database's unique index lets exactly one of them in.
func (s *Store) Open(ctx context.Context, venue, table string, guests int, actor order.Actor, idem *Idem) (order.Order, error) {
	if err := order.ValidateOpen(table, guests); err != nil {
		return order.Order{}, err
	}
	vp, err := s.venuePricing(ctx, venue)
	if err != nil {
		return order.Order{}, err
	}
	rules := vp.Rules
	rulesJSON, err := json.Marshal(rules)
	if err != nil {
		return order.Order{}, fmt.Errorf("encode pricing rules: %w", err)
	}
	at := s.now()
	o := order.Order{
		ID: s.newID(), Venue: venue, Table: table, Status: order.StatusOpen, Guests: guests,
		Version: 1, Server: actor.Staff, Lines: []order.Line{}, Payments: []order.Payment{},
		Discounts: []order.OrderDiscount{}, Rules: &rules, OpenedAt: at, UpdatedAt: at,
	}
	if err := o.ComputeTotals(); err != nil {
		return order.Order{}, err
	}
	ev := order.Event{
		ID: s.newID(), Venue: venue, OrderID: o.ID, Version: 1, Type: order.EventOpened, At: at,
		Actor: actor, Ops: []order.Op{order.OpenOp(table, guests, &rules)},
	}
	ops, err := s.chain(audit.ZeroHash, &ev)
	if err != nil {
		return order.Order{}, err
	}
	b := venueBatch(venue)
	if err := s.claimKey(ctx, b, idem); err != nil {
		return order.Order{}, err
	}
	if err := queueExec(b, func(db dbsqlc.DBTX) error {
		return s.q.InsertOrder(ctx, db, dbsqlc.InsertOrderParams{
			VenueID: venue, ID: o.ID, TableID: table, Guests: int32(guests),
			ServerStaff: actor.Staff, OpenedAt: at, LastHash: ev.HashBytes(), Pricing: rulesJSON,
		})
	}); err != nil {
		return order.Order{}, err
	}
	if err := s.queueChange(ctx, b, o, ev, ops, nil); err != nil {
		return order.Order{}, err
	}
	if err := s.queueKeyAnswer(ctx, b, idem, o); err != nil {
		return order.Order{}, err
	}
	if err := b.commit(ctx, s.pool); err != nil {
		err = translate(err, errContext{table: table})
		var occ *order.TableOccupiedError
		if errors.As(err, &occ) {
			s.occupiedBy(ctx, venue, occ)
		}
		return order.Order{}, err
	}
	s.committed()
	o.ChainHead = ev.HashBytes()
	s.orders.remember(o)
	return o, nil
}

// occupiedBy names the order open on occ's table on the refusal, when it
// can still be read (it may have closed since).
func (s *Store) occupiedBy(ctx context.Context, venue string, occ *order.TableOccupiedError) {
	id, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (uuid.UUID, error) {
		return s.q.GetOpenOrderIDByTable(ctx, db, dbsqlc.GetOpenOrderIDByTableParams{VenueID: venue, TableID: occ.Table})
	})
	if err != nil {
		return
	}
	occ.OccupiedBy = &id
	if o, err := s.Get(ctx, venue, id); err == nil {
		occ.Current = &o
	}
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
	// TokenHash, when set, is the token (auth.HashToken) of the device
	// the caller authenticated from its cache, without reading it: the
	// write asserts in its transaction that the active device with this
	// token is still the actor (name, role, staff). One revoked or changed
	// since is ErrDeviceChanged, and nothing is written.
	TokenHash []byte
}

// actorStill is ErrDeviceChanged unless tokenHash is nil or the active
// device with that token is still actor: a refused write is recorded in the
// journal only for a device that may write.
func (s *Store) actorStill(ctx context.Context, venue string, tokenHash []byte, actor order.Actor) error {
	if tokenHash == nil {
		return nil
	}
	ok, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (bool, error) {
		return s.q.DeviceIsActor(ctx, db, dbsqlc.DeviceIsActorParams{VenueID: venue, TokenHash: tokenHash,
			DeviceName: actor.Device, DeviceRole: actor.Role, DeviceStaff: actor.Staff})
	})
	switch {
	case err != nil:
		return fmt.Errorf("check device: %w", err)
	case !ok:
		return ErrDeviceChanged
	}
	return nil
}

// ErrDeviceChanged is a write of a Patch with TokenHash whose device was
// revoked or changed after the caller cached it: the caller looks the
// token up again.
var ErrDeviceChanged = errors.New("the writing device was revoked or changed")

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
	replans := 0 // writes that found the menu they were planned with stale
	// A forced write wants the latest, which the cache may not hold.
	useCache := !p.Force
	for attempt := 1; ; attempt++ {
		cur, cached, err := s.base(ctx, venue, id, p.Expected, useCache)
		if err != nil {
			return order.Order{}, false, err
		}
		if !p.Force && cur.Version != *p.Expected {
			if err := s.actorStill(ctx, venue, p.TokenHash, actor); err != nil {
				return order.Order{}, false, err
			}
			return order.Order{}, false, s.conflict(ctx, cur, *p.Expected, p.IfMatch, actor)
		}
		env, menuVersion, err := s.env(ctx, venue, p.Ops, actor)
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
		if cached && (err != nil || len(applied) == 0) {
			// Only a write proves a cached order current: decide a
			// refusal or a change that changes nothing on a fresh read.
			useCache = false
			continue
		}
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
		stock := planStock(env.Menu, menuVersion, cur, next, applied)
		err = s.write(ctx, cur, next, &ev, kitchen.TicketsFor(next, applied, actor.Staff, at, s.newID), p.Idem, stock, p.TokenHash)
		if errors.Is(err, errMenuStale) {
			// Another replica changed the menu after this one cached it
			// (invariant 11): nothing was kept; plan again from a fresh
			// read. A menu that changes under every attempt is a retryable
			// refusal, never a write with a stale price.
			s.dropMenu(venue)
			if replans++; replans < maxMenuReplans {
				continue
			}
			return order.Order{}, false, fmt.Errorf("%w: the menu changed under %d attempts of this write", errUnavailable, replans)
		}
		if errors.Is(err, errStale) {
			s.orders.forget(venue, id)
			if p.Force && attempt < maxForceAttempts {
				continue
			}
			latest, gerr := s.Get(ctx, venue, id)
			if gerr != nil {
				return order.Order{}, false, gerr
			}
			if err := s.actorStill(ctx, venue, p.TokenHash, actor); err != nil {
				return order.Order{}, false, err
			}
			return order.Order{}, false, s.conflict(ctx, latest, cur.Version, p.IfMatch, actor)
		}
		if err != nil {
			err = translate(err, errContext{table: next.Table, ops: p.Ops})
			err = s.explainStock(ctx, err, cur, next, p.Ops, applied)
			var occ *order.TableOccupiedError
			if errors.As(err, &occ) {
				s.occupiedBy(ctx, venue, occ)
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
		s.orders.remember(next)
		return next, true, nil
	}
}

// write commits one accepted change in one round trip: BEGIN, the versioned
// UPDATE (which takes the row lock and re-checks the version; zero rows is
// errStale and nothing is kept), then the event, its outbox messages, any
// kitchen tickets, lines, payments, the availability check and portions
// (queueStock) and COMMIT. It returns errStale, errMenuStale (the menu the
// change was planned on is no longer the venue's) or Postgres' other errors
// untranslated.
func (s *Store) write(ctx context.Context, cur, next order.Order, ev *order.Event, tickets []kitchen.Ticket, idem *Idem, stock stockPlan, tokenHash []byte) error {
	ops, err := s.chain(cur.ChainHead, ev)
	if err != nil {
		return err
	}
	b := venueBatch(next.Venue)
	if err := s.claimKey(ctx, b, idem); err != nil {
		return err
	}
	if err := s.queueBump(ctx, b, cur, next, *ev, stock.menuVersion, tokenHash); err != nil {
		return err
	}
	if err := s.queueBody(ctx, b, cur, next, *ev, ops, tickets); err != nil {
		return err
	}
	if err := s.queueStock(ctx, b, next.Venue, ev.At, stock); err != nil {
		return err
	}
	next.ChainHead = ev.HashBytes()
	if err := s.queueKeyAnswer(ctx, b, idem, next); err != nil {
		return err
	}
	if err := b.commit(ctx, s.pool); err != nil {
		if errors.Is(translate(err, errContext{}), errMenuStale) {
			return errMenuStale
		}
		return err
	}
	s.committed()
	return nil
}

// queueBump queues the versioned UPDATE of the order row from cur to next
// (which takes the row lock and re-checks version and head hash; zero rows
// is errStale) and the assertion that aborts the transaction when it found
// no row, when menuVersion is not 0 and the venue's menu moved past it, or
// when tokenHash is set and the active device with that token is no longer
// ev's actor (Patch.TokenHash). ev is next's event, chained.
func (s *Store) queueBump(ctx context.Context, b *batch, cur, next order.Order, ev order.Event, menuVersion int64, tokenHash []byte) error {
	discounts, waiver, err := encodeDiscounts(next)
	if err != nil {
		return err
	}
	if err := queue(b, func(db dbsqlc.DBTX) (int64, error) {
		return s.q.BumpOrderVersion(ctx, db, dbsqlc.BumpOrderVersionParams{
			VenueID: next.Venue, ID: next.ID, ExpectedVersion: cur.Version, ExpectedHash: cur.ChainHead,
			TableID: next.Table, Status: next.Status, Guests: int32(next.Guests), Note: next.Note,
			UpdatedAt: next.UpdatedAt, ClosedAt: next.ClosedAt, LastHash: ev.HashBytes(),
			Discounts: discounts, ServiceChargeWaiver: waiver, MergedInto: next.MergedInto,
		})
	}, func(n int64) error {
		if n == 0 {
			return errStale
		}
		return nil
	}); err != nil {
		return err
	}
	// The callback above only reports what happened: without this
	// assertion Postgres would run the rest of the pipeline, COMMIT
	// included, even when the UPDATE found the order at another version.
	return queueExec(b, func(db dbsqlc.DBTX) error {
		return s.q.AssertOrderHead(ctx, db, dbsqlc.AssertOrderHeadParams{
			VenueID: next.Venue, ID: next.ID, Version: next.Version, LastHash: ev.HashBytes(),
			MenuVersion: menuVersion, TokenHash: tokenHash,
			DeviceName: ev.Actor.Device, DeviceRole: ev.Actor.Role, DeviceStaff: ev.Actor.Staff,
		})
	})
}

// queueBody queues what a change from cur to next writes besides the order
// row: its event (ops its encoded ops), the outbox messages, kitchen
// tickets, and the lines and payments that changed.
func (s *Store) queueBody(ctx context.Context, b *batch, cur, next order.Order, ev order.Event, ops []byte, tickets []kitchen.Ticket) error {
	if err := s.queueChange(ctx, b, next, ev, ops, tickets); err != nil {
		return err
	}
	if err := s.queueLines(ctx, b, cur, next); err != nil {
		return err
	}
	return s.queuePayments(ctx, b, cur, next)
}

// queueKeyAnswer queues the stored answer of a keyed change, rendered from
// the order the change produces.
func (s *Store) queueKeyAnswer(ctx context.Context, b *batch, idem *Idem, o order.Order) error {
	if idem == nil {
		return nil
	}
	a, err := idem.Answer(o)
	if err != nil {
		return fmt.Errorf("render answer: %w", err)
	}
	return s.queueAnswer(ctx, b, idem, a)
}
