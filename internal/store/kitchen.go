package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// Stations lists the venue's kitchen stations (those its menu uses).
func (s *Store) Stations(ctx context.Context, venue string) ([]string, error) {
	st, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) ([]string, error) { return s.q.ListStations(ctx, db, venue) })
	if err != nil {
		return nil, fmt.Errorf("list stations: %w", err)
	}
	return st, nil
}

// OpenTickets lists a station's tickets that are not ready, oldest first: at
// most kitchen.MaxSnapshotTickets+1, so a caller can tell that there are
// more than it may send.
func (s *Store) OpenTickets(ctx context.Context, venue, station string) ([]kitchen.Ticket, error) {
	rows, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) ([]dbsqlc.KitchenTicket, error) {
		return s.q.ListOpenTickets(ctx, db, dbsqlc.ListOpenTicketsParams{VenueID: venue, Station: station,
			MaxTickets: kitchen.MaxSnapshotTickets + 1})
	})
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	return ticketsFromRows(rows)
}

// RecentReady lists a station's tickets bumped within
// kitchen.RecentReadyWindow, most recently bumped first, at most
// kitchen.MaxRecentReady.
func (s *Store) RecentReady(ctx context.Context, venue, station string) ([]kitchen.Ticket, error) {
	since := s.now().Add(-kitchen.RecentReadyWindow)
	rows, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) ([]dbsqlc.KitchenTicket, error) {
		return s.q.ListRecentReady(ctx, db, dbsqlc.ListRecentReadyParams{VenueID: venue, Station: station,
			Since: &since, MaxTickets: kitchen.MaxRecentReady})
	})
	if err != nil {
		return nil, fmt.Errorf("list ready tickets: %w", err)
	}
	return ticketsFromRows(rows)
}

func ticketsFromRows(rows []dbsqlc.KitchenTicket) ([]kitchen.Ticket, error) {
	var err error
	tickets := make([]kitchen.Ticket, len(rows))
	for i, r := range rows {
		if tickets[i], err = ticketFromRow(r); err != nil {
			return nil, err
		}
	}
	return tickets, nil
}

// Ticket transitions: bump moves new → ready, recall moves ready → new.
var ticketMoves = map[string]struct{ from, to, msg, action string }{
	"bump":   {kitchen.StatusNew, kitchen.StatusReady, kitchen.MsgBumped, "bumped"},
	"recall": {kitchen.StatusReady, kitchen.StatusNew, kitchen.MsgRecalled, "recalled"},
}

// MoveTicket bumps or recalls a ticket with a conditional update, records the
// change in the ticket log and queues its kitchen message, all in one
// transaction. The order and its version are not touched. A ticket not in the
// status the move starts from gives *kitchen.StateError with the ticket.
func (s *Store) MoveTicket(ctx context.Context, venue string, id uuid.UUID, move string, actor order.Actor) (kitchen.Ticket, error) {
	m, ok := ticketMoves[move]
	if !ok {
		return kitchen.Ticket{}, fmt.Errorf("unknown ticket move %q", move)
	}
	p := dbsqlc.SetTicketStatusParams{VenueID: venue, ID: id, FromStatus: m.from, NewStatus: m.to}
	at := s.now()
	if m.to == kitchen.StatusReady {
		p.BumpedAt = &at
	}
	// The first round trip begins the transaction and tries the
	// conditional update; the second records the move and commits.
	type result struct {
		row   dbsqlc.KitchenTicket
		moved bool
	}
	var res result
	first := venueBatch(venue)
	if err := queue(first, func(db dbsqlc.DBTX) (result, error) {
		r, err := s.q.SetTicketStatus(ctx, db, p)
		if errors.Is(err, pgx.ErrNoRows) {
			// Not in the status the move starts from (or no such
			// ticket): read it below, in the same transaction.
			return result{}, nil
		}
		return result{row: r, moved: true}, err
	}, func(r result) error { res = r; return nil }); err != nil {
		return kitchen.Ticket{}, err
	}
	var t kitchen.Ticket
	err := inTx(ctx, s.pool, first, func(tx pgx.Tx) error {
		if !res.moved {
			cur, err := s.q.GetTicket(ctx, tx, dbsqlc.GetTicketParams{VenueID: venue, ID: id})
			if errors.Is(err, pgx.ErrNoRows) {
				return kitchen.ErrNotFound
			}
			if err != nil {
				return fmt.Errorf("read ticket: %w", err)
			}
			curT, err := ticketFromRow(cur)
			if err != nil {
				return err
			}
			return &kitchen.StateError{Action: move, Current: curT}
		}
		b := &batch{}
		ts, err := s.queueTicketMessages(ctx, b, venue, []dbsqlc.KitchenTicket{res.row}, m.msg, m.action, at, actor)
		if err != nil {
			return err
		}
		t = ts[0]
		return b.sendIn(ctx, tx)
	})
	if err != nil {
		return kitchen.Ticket{}, err
	}
	s.committed()
	return t, nil
}

func ticketFromRow(r dbsqlc.KitchenTicket) (kitchen.Ticket, error) {
	t := kitchen.Ticket{
		ID: r.ID, OrderID: r.OrderID, Table: r.TableID, Station: r.Station, Kind: r.Kind,
		Status: r.Status, Server: r.Server, CreatedAt: r.CreatedAt.UTC(),
		OrderNote: r.OrderNote, Guests: int(r.Guests), Reason: r.Reason, VoidedBy: r.VoidedBy,
		Part: int(r.Part), Parts: int(r.Parts),
	}
	if r.BumpedAt != nil {
		b := r.BumpedAt.UTC()
		t.BumpedAt = &b
	}
	if err := json.Unmarshal(r.Lines, &t.Lines); err != nil {
		return t, fmt.Errorf("decode ticket %s lines: %w", r.ID, err)
	}
	if len(r.Moves) > 0 {
		if err := json.Unmarshal(r.Moves, &t.Moves); err != nil {
			return t, fmt.Errorf("decode ticket %s moves: %w", r.ID, err)
		}
		if len(t.Moves) == 0 {
			t.Moves = nil
		}
	}
	return t, nil
}

// queueTicketMessages queues, for each of tickets, one signed row of its
// log (action, at, by actor) and its kitchen message of type msgType to
// its station, under the ticket's order and version.
func (s *Store) queueTicketMessages(ctx context.Context, b *batch, venue string, rows []dbsqlc.KitchenTicket, msgType, action string,
	at time.Time, actor order.Actor) ([]kitchen.Ticket, error) {
	te := dbsqlc.InsertTicketEventsParams{VenueID: venue, At: at, ActorDevice: actor.Device, ActorStaff: actor.Staff}
	var outs []dbsqlc.InsertOutboxParams
	tickets := make([]kitchen.Ticket, len(rows))
	for i, r := range rows {
		t, err := ticketFromRow(r)
		if err != nil {
			return nil, err
		}
		tickets[i] = t
		msg, err := json.Marshal(kitchen.Message{Type: msgType, Ticket: t})
		if err != nil {
			return nil, fmt.Errorf("encode ticket: %w", err)
		}
		if len(msg) > outbox.MaxMessageBytes {
			return nil, tooLarge(len(msg))
		}
		evID := s.newID()
		te.Ids, te.TicketIds, te.Actions = append(te.Ids, evID), append(te.TicketIds, t.ID), append(te.Actions, action)
		te.Signatures = append(te.Signatures, s.signTicketEvent(venue, audit.TicketEvent{ID: evID, TicketID: t.ID, Action: action,
			At: at, ActorDevice: actor.Device, Staff: actor.Staff}))
		// One outbox statement per ticket: each names its ticket's order.
		outs = append(outs, dbsqlc.InsertOutboxParams{
			VenueID: venue, OrderID: r.OrderID, OrderVersion: r.OrderVersion,
			Subjects: []string{kitchen.Subject(venue, t.Station)}, MsgIds: []string{evID.String()},
			MsgTypes: []string{msgType}, Payloads: [][]byte{msg},
		})
	}
	if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertTicketEvents(ctx, db, te) }); err != nil {
		return nil, err
	}
	for _, o := range outs {
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertOutbox(ctx, db, o) }); err != nil {
			return nil, err
		}
	}
	return tickets, nil
}
