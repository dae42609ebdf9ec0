package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
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
		var err error
		if t, err = ticketFromRow(res.row); err != nil {
			return err
		}
		msg, err := json.Marshal(kitchen.Message{Type: m.msg, Ticket: t})
		if err != nil {
			return fmt.Errorf("encode ticket: %w", err)
		}
		evID := s.newID()
		b := &batch{}
		if err := queueExec(b, func(db dbsqlc.DBTX) error {
			return s.q.InsertTicketEvents(ctx, db, dbsqlc.InsertTicketEventsParams{
				VenueID: venue, Ids: []uuid.UUID{evID}, TicketIds: []uuid.UUID{id}, Actions: []string{m.action},
				At: at, ActorDevice: actor.Device, ActorStaff: actor.Staff,
				Signatures: [][]byte{s.signTicketEvent(venue, audit.TicketEvent{ID: evID, TicketID: id, Action: m.action,
					At: at, ActorDevice: actor.Device, Staff: actor.Staff})},
			})
		}); err != nil {
			return err
		}
		if err := queueExec(b, func(db dbsqlc.DBTX) error {
			return s.q.InsertOutbox(ctx, db, dbsqlc.InsertOutboxParams{
				VenueID: venue, OrderID: res.row.OrderID, OrderVersion: res.row.OrderVersion,
				Subjects: []string{kitchen.Subject(venue, res.row.Station)}, MsgIds: []string{evID.String()},
				MsgTypes: []string{m.msg}, Payloads: [][]byte{msg},
			})
		}); err != nil {
			return err
		}
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
	return t, nil
}
