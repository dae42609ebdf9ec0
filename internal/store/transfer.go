package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// maxPairAttempts bounds how often a change between two orders re-reads
// them when its write found one moved but the fresh read finds neither
// moved (the other write was rolled back in between).
const maxPairAttempts = 5

// OrderRef names the other order of a change between two orders: an open
// order at the version the client saw, or (transfers only) a free table
// whose order the change opens with Guests guests.
type OrderRef struct {
	OrderID  *uuid.UUID
	Expected int64
	Table    string
	Guests   int
}

// Transfer is POST /v1/orders/{id}/transfer: lines of the order From (at
// version Expected) move to To, onto its check ToCheck (0: check 1).
type Transfer struct {
	From     uuid.UUID
	Expected int64
	To       OrderRef
	Lines    []order.LineMove
	ToCheck  int
	Idem     *Idem
}

// Merge is POST /v1/orders/{id}/merge: the order From merges into the
// order Into (at version Expected).
type Merge struct {
	Into     uuid.UUID
	Expected int64
	From     OrderRef
	Idem     *Idem
}

// Transfer moves lines between two orders in one transaction: one event
// in each order's log, each version +1, or nothing. Either order not at
// its expected version is *order.ConflictsError naming each that moved.
// from and to are both orders as they are after the change.
func (s *Store) Transfer(ctx context.Context, venue string, t Transfer, actor order.Actor) (from, to order.Order, err error) {
	return s.pair(ctx, venue, t.From, t.Expected, t.To, t.Idem, actor, func(src, dst order.Order, at time.Time, env order.Env) (order.Transfer, error) {
		return order.PlanTransfer(src, dst, t.Lines, max(t.ToCheck, 1), at, env)
	})
}

// Merge merges the order m.From into m.Into in one transaction: From
// closes with merged_into (its table freed), its lines join Into. The
// answer is (from, into) after the change.
func (s *Store) Merge(ctx context.Context, venue string, m Merge, actor order.Actor) (from, into order.Order, err error) {
	if m.From.OrderID == nil {
		return order.Order{}, order.Order{}, errors.New("merge without the order to merge")
	}
	return s.pair(ctx, venue, *m.From.OrderID, m.From.Expected, OrderRef{OrderID: &m.Into, Expected: m.Expected}, m.Idem, actor,
		func(src, dst order.Order, at time.Time, env order.Env) (order.Transfer, error) {
			return order.PlanMerge(src, dst, at, env)
		})
}

// pair reads the two orders of a change (src at srcExpected, dst as ref
// says), plans it, and writes both in one transaction.
func (s *Store) pair(ctx context.Context, venue string, srcID uuid.UUID, srcExpected int64, ref OrderRef, idem *Idem, actor order.Actor,
	plan func(src, dst order.Order, at time.Time, env order.Env) (order.Transfer, error)) (order.Order, order.Order, error) {
	useCache := true
	for attempt := 1; ; attempt++ {
		src, srcCached, err := s.base(ctx, venue, srcID, &srcExpected, useCache)
		if err != nil {
			return order.Order{}, order.Order{}, err
		}
		dst, dstCached, err := s.pairTarget(ctx, venue, ref, actor, useCache)
		if err != nil {
			return order.Order{}, order.Order{}, err
		}
		if err := s.pairConflicts(ctx, src, srcExpected, dst, ref, actor); err != nil {
			return order.Order{}, order.Order{}, err
		}
		env, _, err := s.env(ctx, venue, nil, actor)
		if err != nil {
			return order.Order{}, order.Order{}, err
		}
		// An order's times never go backwards (as in Patch).
		at := s.now()
		for _, o := range []order.Order{src, dst} {
			if at.Before(o.UpdatedAt) {
				at = o.UpdatedAt
			}
		}
		t, err := plan(src, dst, at, env)
		if (srcCached || dstCached) && err != nil {
			// A refusal is decided on a fresh read, as in Patch.
			useCache = false
			continue
		}
		if err != nil {
			return order.Order{}, order.Order{}, err
		}
		from, to, err := s.writePair(ctx, src, dst, t, actor, at, idem)
		if errors.Is(err, errStale) {
			s.orders.forget(venue, src.ID)
			s.orders.forget(venue, dst.ID)
			useCache = false
			latestSrc, gerr := s.Get(ctx, venue, src.ID)
			if gerr != nil {
				return order.Order{}, order.Order{}, gerr
			}
			latestDst, _, gerr := s.pairTarget(ctx, venue, ref, actor, false)
			if gerr != nil {
				return order.Order{}, order.Order{}, gerr
			}
			if cerr := s.pairConflicts(ctx, latestSrc, srcExpected, latestDst, ref, actor); cerr != nil || attempt >= maxPairAttempts {
				if cerr == nil {
					cerr = fmt.Errorf("%w: the orders kept moving under %d attempts", errUnavailable, attempt)
				}
				return order.Order{}, order.Order{}, cerr
			}
			continue
		}
		if err != nil {
			return order.Order{}, order.Order{}, s.pairError(ctx, venue, dst, err)
		}
		return from, to, nil
	}
}

// pairTarget reads the other order of a change, or makes the order a
// transfer to a free table opens (version 0, not yet written).
func (s *Store) pairTarget(ctx context.Context, venue string, ref OrderRef, actor order.Actor, useCache bool) (order.Order, bool, error) {
	if ref.OrderID != nil {
		return s.base(ctx, venue, *ref.OrderID, &ref.Expected, useCache)
	}
	if err := order.ValidateOpen(ref.Table, ref.Guests); err != nil {
		var ve *order.ValidationError
		if errors.As(err, &ve) {
			for i := range ve.Problems {
				ve.Problems[i].Field = "to." + ve.Problems[i].Field
			}
		}
		return order.Order{}, false, err
	}
	ok, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (bool, error) {
		return s.q.TableExists(ctx, db, dbsqlc.TableExistsParams{VenueID: venue, TableID: ref.Table})
	})
	if err != nil {
		return order.Order{}, false, fmt.Errorf("check table: %w", err)
	}
	if !ok {
		return order.Order{}, false, &order.ValidationError{Problems: []order.FieldProblem{{Field: "to.table", Detail: "no such table in this venue"}}}
	}
	vp, err := s.venuePricing(ctx, venue)
	if err != nil {
		return order.Order{}, false, err
	}
	rules := vp.Rules
	at := s.now()
	o := order.Order{
		ID: s.newID(), Venue: venue, Table: ref.Table, Status: order.StatusOpen, Guests: ref.Guests,
		Server: actor.Staff, Lines: []order.Line{}, Payments: []order.Payment{}, Discounts: []order.OrderDiscount{},
		Rules: &rules, OpenedAt: at, UpdatedAt: at,
	}
	return o, false, o.ComputeTotals()
}

// pairConflicts is *order.ConflictsError when src or dst (if it exists
// already) is not at the version the request named, and nil otherwise.
func (s *Store) pairConflicts(ctx context.Context, src order.Order, srcExpected int64, dst order.Order, ref OrderRef, actor order.Actor) error {
	var all []*order.ConflictError
	add := func(o order.Order, expected int64) error {
		if o.Version == expected {
			return nil
		}
		var c *order.ConflictError
		if err := s.conflict(ctx, o, expected, false, actor); !errors.As(err, &c) {
			return err
		}
		all = append(all, c)
		return nil
	}
	if err := add(src, srcExpected); err != nil {
		return err
	}
	if ref.OrderID != nil {
		if err := add(dst, ref.Expected); err != nil {
			return err
		}
	}
	if len(all) == 0 {
		return nil
	}
	return &order.ConflictsError{Conflicts: all}
}

// writePair commits a planned change between two orders in one
// transaction: the order rows' versioned UPDATEs in id order (so two
// changes between the same two orders lock them in the same order and
// cannot deadlock), or the INSERT of the order a transfer opens, then each
// order's event, outbox messages, lines and payments, the source's first
// (a line that moves keeps its id, unique in the venue).
func (s *Store) writePair(ctx context.Context, src, dst order.Order, t order.Transfer, actor order.Actor, at time.Time, idem *Idem) (order.Order, order.Order, error) {
	srcEv := order.Event{ID: s.newID(), Venue: src.Venue, OrderID: src.ID, Version: t.From.Version, Type: order.EventPatched,
		At: at, Actor: actor, Ops: []order.Op{t.OutOp}}
	dstEv := order.Event{ID: s.newID(), Venue: dst.Venue, OrderID: dst.ID, Version: t.To.Version, Type: order.EventPatched,
		At: at, Actor: actor, Ops: []order.Op{t.InOp}}
	opening := dst.Version == 0
	if opening {
		dstEv.Type = order.EventOpened
		dstEv.Ops = []order.Op{order.OpenOp(dst.Table, dst.Guests, dst.Rules), t.InOp}
	}
	srcOps, err := s.chain(src.ChainHead, &srcEv)
	if err != nil {
		return order.Order{}, order.Order{}, err
	}
	dstPrev := dst.ChainHead
	if opening {
		dstPrev = audit.ZeroHash
	}
	dstOps, err := s.chain(dstPrev, &dstEv)
	if err != nil {
		return order.Order{}, order.Order{}, err
	}
	b := venueBatch(src.Venue)
	if err := s.claimKey(ctx, b, idem); err != nil {
		return order.Order{}, order.Order{}, err
	}
	type head struct {
		cur, next order.Order
		ev        order.Event
	}
	heads := []head{{src, t.From, srcEv}}
	if opening {
		rulesJSON, err := json.Marshal(dst.Rules)
		if err != nil {
			return order.Order{}, order.Order{}, fmt.Errorf("encode pricing rules: %w", err)
		}
		if err := queueExec(b, func(db dbsqlc.DBTX) error {
			return s.q.InsertOrder(ctx, db, dbsqlc.InsertOrderParams{
				VenueID: dst.Venue, ID: dst.ID, TableID: dst.Table, Guests: int32(t.To.Guests),
				ServerStaff: t.To.Server, OpenedAt: at, LastHash: dstEv.HashBytes(), Pricing: rulesJSON,
			})
		}); err != nil {
			return order.Order{}, order.Order{}, err
		}
	} else {
		heads = append(heads, head{dst, t.To, dstEv})
		if bytes.Compare(dst.ID[:], src.ID[:]) < 0 {
			heads[0], heads[1] = heads[1], heads[0]
		}
	}
	for _, h := range heads {
		if err := s.queueBump(ctx, b, h.cur, h.next, h.ev, 0, nil); err != nil {
			return order.Order{}, order.Order{}, err
		}
	}
	dstCur := dst
	if opening {
		// The opening order's row holds no lines yet: everything it
		// has after the change is new.
		dstCur.Lines, dstCur.Payments = nil, nil
	}
	if err := s.queueBody(ctx, b, src, t.From, srcEv, srcOps, nil); err != nil {
		return order.Order{}, order.Order{}, err
	}
	if err := s.queueBody(ctx, b, dstCur, t.To, dstEv, dstOps, nil); err != nil {
		return order.Order{}, order.Order{}, err
	}
	from, to := t.From, t.To
	if opening {
		to.OpenedAt = at // as its row and its log say
	}
	from.ChainHead, to.ChainHead = srcEv.HashBytes(), dstEv.HashBytes()
	if idem != nil && idem.PairAnswer != nil {
		a, err := idem.PairAnswer(from, to)
		if err != nil {
			return order.Order{}, order.Order{}, fmt.Errorf("render answer: %w", err)
		}
		if err := s.queueAnswer(ctx, b, idem, a); err != nil {
			return order.Order{}, order.Order{}, err
		}
	}
	// Sent lines keep their kitchen tickets: the moves are appended to
	// them (under their row locks) in the first round trip, and the
	// tickets as they then are go to the kitchen in the second.
	moves, err := s.ticketMoves(ctx, src, t.OutOp, at)
	if err != nil {
		return order.Order{}, order.Order{}, err
	}
	if len(moves) == 0 {
		err = b.commit(ctx, s.pool)
	} else {
		var moved []dbsqlc.KitchenTicket
		for _, id := range slices.SortedFunc(maps.Keys(moves), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }) {
			js, err := json.Marshal(moves[id])
			if err != nil {
				return order.Order{}, order.Order{}, fmt.Errorf("encode ticket moves: %w", err)
			}
			if err := queue(b, func(db dbsqlc.DBTX) (dbsqlc.KitchenTicket, error) {
				return s.q.AppendTicketMoves(ctx, db, dbsqlc.AppendTicketMovesParams{VenueID: src.Venue, ID: id, Moves: js})
			}, func(r dbsqlc.KitchenTicket) error { moved = append(moved, r); return nil }); err != nil {
				return order.Order{}, order.Order{}, err
			}
		}
		err = inTx(ctx, s.pool, b, func(tx pgx.Tx) error {
			second := &batch{}
			if _, err := s.queueTicketMessages(ctx, second, src.Venue, moved, kitchen.MsgMoved, "moved", at, actor); err != nil {
				return err
			}
			return second.sendIn(ctx, tx)
		})
	}
	if err != nil {
		return order.Order{}, order.Order{}, err
	}
	s.committed()
	s.orders.remember(from)
	s.orders.remember(to)
	return from, to, nil
}

// ticketMoves returns, per kitchen ticket, the moves of the sent lines
// the change between two orders whose source-side op is out takes from
// src (as src is before it). A sent line split off another on src (a check
// split) is found on the ticket of the line it came from, through src's log.
func (s *Store) ticketMoves(ctx context.Context, src order.Order, out order.Op, at time.Time) (map[uuid.UUID][]kitchen.Move, error) {
	var ids []uuid.UUID
	for _, l := range src.Lines {
		if l.Status == order.LineSent {
			ids = append(ids, l.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	var parent map[uuid.UUID]uuid.UUID
	for {
		rows, err := readOne(ctx, s, src.Venue, func(db dbsqlc.DBTX) ([]dbsqlc.KitchenTicket, error) {
			return s.q.ListLineTickets(ctx, db, dbsqlc.ListLineTicketsParams{VenueID: src.Venue, OrderID: src.ID, LineIds: ids})
		})
		if err != nil {
			return nil, fmt.Errorf("read kitchen tickets: %w", err)
		}
		tickets := make([]kitchen.Ticket, len(rows))
		for i, r := range rows {
			if tickets[i], err = ticketFromRow(r); err != nil {
				return nil, err
			}
		}
		moves, missing, err := kitchen.MovesFor(src, out, tickets, parent, at)
		if err != nil || len(missing) == 0 || parent != nil {
			// A sent line no ticket holds even so cannot come from
			// posd's own writes; the change goes ahead, and audit
			// verify names the move the kitchen did not get.
			return moves, err
		}
		evs, err := s.events(ctx, src.Venue, src.ID, 0, src.Version)
		if err != nil {
			return nil, err
		}
		parent = kitchen.SplitParents(evs)
		for _, id := range missing {
			for up, ok := parent[id]; ok; up, ok = parent[up] {
				ids = append(ids, up)
			}
		}
	}
}

// pairError translates a failed write of a change between two orders: the
// free table a transfer meant to open taken meanwhile is
// *order.TableOccupiedError naming the order now there.
func (s *Store) pairError(ctx context.Context, venue string, dst order.Order, err error) error {
	err = translate(err, errContext{table: dst.Table})
	var occ *order.TableOccupiedError
	if errors.As(err, &occ) {
		s.occupiedBy(ctx, venue, occ)
	}
	return err
}
