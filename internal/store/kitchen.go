package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgscope"
)

// Stations lists the venue's kitchen stations (those its menu uses).
func (s *Store) Stations(ctx context.Context, venue string) ([]string, error) {
	st, err := s.q.ListStations(ctx, s.scope(venue), venue)
	if err != nil {
		return nil, fmt.Errorf("list stations: %w", err)
	}
	return st, nil
}

// OpenTickets lists a station's tickets that are not ready, oldest first: at
// most kitchen.MaxSnapshotTickets+1, so a caller can tell that there are
// more than it may send.
func (s *Store) OpenTickets(ctx context.Context, venue, station string) ([]kitchen.Ticket, error) {
	rows, err := s.q.ListOpenTickets(ctx, s.scope(venue), dbsqlc.ListOpenTicketsParams{VenueID: venue, Station: station,
		MaxTickets: kitchen.MaxSnapshotTickets + 1})
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
	rows, err := s.q.ListRecentReady(ctx, s.scope(venue), dbsqlc.ListRecentReadyParams{VenueID: venue, Station: station,
		Since: &since, MaxTickets: kitchen.MaxRecentReady})
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
	var t kitchen.Ticket
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, pgscope.SetVenue, venue); err != nil {
			return err
		}
		p := dbsqlc.SetTicketStatusParams{VenueID: venue, ID: id, FromStatus: m.from, NewStatus: m.to}
		at := s.now()
		if m.to == kitchen.StatusReady {
			p.BumpedAt = &at
		}
		row, err := s.q.SetTicketStatus(ctx, tx, p)
		if errors.Is(err, pgx.ErrNoRows) {
			cur, gerr := s.q.GetTicket(ctx, tx, dbsqlc.GetTicketParams{VenueID: venue, ID: id})
			if errors.Is(gerr, pgx.ErrNoRows) {
				return kitchen.ErrNotFound
			}
			if gerr != nil {
				return fmt.Errorf("read ticket: %w", gerr)
			}
			curT, cerr := ticketFromRow(cur)
			if cerr != nil {
				return cerr
			}
			return &kitchen.StateError{Action: move, Current: curT}
		}
		if err != nil {
			return fmt.Errorf("%s ticket: %w", move, err)
		}
		if t, err = ticketFromRow(row); err != nil {
			return err
		}
		msg, err := json.Marshal(kitchen.Message{Type: m.msg, Ticket: t})
		if err != nil {
			return fmt.Errorf("encode ticket: %w", err)
		}
		evID := s.newID()
		var b batchDB
		if err := s.q.InsertTicketEvents(ctx, &b, dbsqlc.InsertTicketEventsParams{
			VenueID: venue, Ids: []uuid.UUID{evID}, TicketIds: []uuid.UUID{id}, Actions: []string{m.action},
			At: at, ActorDevice: actor.Device, ActorStaff: actor.Staff,
			Signatures: [][]byte{s.signTicketEvent(venue, audit.TicketEvent{ID: evID, TicketID: id, Action: m.action,
				At: at, ActorDevice: actor.Device, Staff: actor.Staff})},
		}); err != nil {
			return err
		}
		if err := s.q.InsertOutbox(ctx, &b, dbsqlc.InsertOutboxParams{
			VenueID: venue, OrderID: row.OrderID, OrderVersion: row.OrderVersion,
			Subjects: []string{kitchen.Subject(venue, row.Station)}, MsgIds: []string{evID.String()},
			MsgTypes: []string{m.msg}, Payloads: [][]byte{msg},
		}); err != nil {
			return err
		}
		return b.send(ctx, tx, nil)
	})
	if err == nil {
		s.committed()
	}
	return t, err
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
