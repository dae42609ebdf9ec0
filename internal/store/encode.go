package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

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
func (s *Store) queueChange(ctx context.Context, b *batch, o order.Order, ev order.Event, ops []byte, tickets []kitchen.Ticket) error {
	evJSON, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	evParams := dbsqlc.InsertEventParams{
		VenueID: ev.Venue, OrderID: ev.OrderID, Version: ev.Version, ID: ev.ID, Type: ev.Type,
		At: ev.At, ActorDevice: ev.Actor.Device, ActorStaff: ev.Actor.Staff, ActorRole: ev.Actor.Role,
		Ops: ops, Forced: ev.Forced, OverriddenVersion: ev.OverriddenVersion, Hash: ev.HashBytes(),
		Signature: s.signEvent(ev),
	}
	if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertEvent(ctx, db, evParams) }); err != nil {
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
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertTickets(ctx, db, tp) }); err != nil {
			return err
		}
		if err := queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertTicketEvents(ctx, db, te) }); err != nil {
			return err
		}
	}
	return queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertOutbox(ctx, db, out) })
}
