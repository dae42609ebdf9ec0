// Package kitchen turns accepted order changes into kitchen tickets, one per
// station, and defines the messages kitchen displays receive. Kitchen
// progress (a ticket bumped or recalled) lives here and never touches the
// order or its version.
package kitchen

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/natscontract"
	"github.com/posd/posd/internal/order"
)

// Ticket kinds and statuses.
const (
	KindFire = "fire"
	KindVoid = "void"

	StatusNew   = "new"
	StatusReady = "ready"
)

// Bounds on what a kitchen screen is sent at once.
const (
	// MaxSnapshotTickets is the most open tickets a screen's snapshot (the
	// start of a stream without a cursor) and GET /v1/kitchen/tickets carry:
	// the oldest ones, which are cooked first.
	MaxSnapshotTickets = 1000
	// MaxRecentReady is the most recently bumped tickets
	// GET /v1/kitchen/tickets?status=ready lists (so a screen loaded after a
	// bump can still recall it).
	MaxRecentReady = 20
	// RecentReadyWindow is how far back that list looks.
	RecentReadyWindow = 2 * time.Hour
)

// Bounds of one ticket. A fire or void with more lines than one ticket
// holds is split into several tickets for the same station, numbered part
// 1 to parts, so that every kitchen message stays far below NATS's
// max_payload (1 MiB by default) and a real banquet is never refused.
const (
	// MaxTicketLines is the most lines one ticket carries.
	MaxTicketLines = 50
	// MaxTicketLineBytes bounds the JSON encoding of one ticket's lines. A
	// single line is at most about 10 KiB (its fields are bounded in
	// package order), so a ticket always makes progress.
	MaxTicketLineBytes = 256 << 10
)

// Message types on pos.<venue>.kitchen.<station> and the SSE stream.
const (
	MsgCreated  = "ticket.created"
	MsgBumped   = "ticket.bumped"
	MsgRecalled = "ticket.recalled"
)

// Ticket is what one station must cook (fire) or stop cooking (void) for one
// order, as the kitchen display shows it.
type Ticket struct {
	ID        uuid.UUID  `json:"id"`
	OrderID   uuid.UUID  `json:"order_id"`
	Table     string     `json:"table"`
	Station   string     `json:"station"`
	Kind      string     `json:"kind"`
	Lines     []Line     `json:"lines"`
	Status    string     `json:"status"`
	Server    string     `json:"server"`
	CreatedAt time.Time  `json:"created_at"`
	BumpedAt  *time.Time `json:"bumped_at"`
	// OrderNote is the order's note (allergies) and Guests its guest count,
	// as they were when the ticket was made.
	OrderNote string `json:"order_note"`
	Guests    int    `json:"guests"`
	// Reason (the voids' reasons) and VoidedBy (the staff member who voided)
	// are set on void tickets only.
	Reason   string `json:"reason,omitempty"`
	VoidedBy string `json:"voided_by,omitempty"`
	// Part and Parts number the tickets one fire or void was split into
	// for this station (1-based); a whole ticket is part 1 of 1.
	Part  int `json:"part"`
	Parts int `json:"parts"`
	// Moves are the moves of the ticket's sent lines to other tables,
	// oldest first (see Pieces); absent when none moved.
	Moves []Move `json:"moves,omitempty"`
}

// Line is one order line as the cook sees it.
type Line struct {
	LineID uuid.UUID `json:"line_id"`
	Name   string    `json:"name"`
	Qty    int       `json:"qty"`
	Seat   int       `json:"seat"`
	Course int       `json:"course"`
	// Options are the names of the modifier options chosen ("Medium
	// rare"); Modifiers the free-text kitchen notes of the line.
	Options   []string `json:"options,omitempty"`
	Modifiers []string `json:"modifiers"`
	Note      string   `json:"note"`
}

// Message is the body of a kitchen message.
type Message struct {
	Type   string `json:"type"`
	Ticket Ticket `json:"ticket"`
}

// ErrNotFound is a ticket that does not exist in the caller's venue.
var ErrNotFound = errors.New("ticket not found")

// StateError is a bump of a ticket that is not new, or a recall of one that
// is not ready. Current is the ticket as it is.
type StateError struct {
	Action  string
	Current Ticket
}

func (e *StateError) Error() string {
	return fmt.Sprintf("cannot %s a ticket that is %s", e.Action, e.Current.Status)
}

// TicketsFor returns the tickets an accepted change creates: for each send,
// one fire ticket per station with the lines it sent; for the voids of sent
// lines, one void ticket per station. next is the order after the change.
// voidedBy is the staff member who made the change (void tickets name them).
// A ticket over MaxTicketLines lines or MaxTicketLineBytes of lines is split
// into parts (see Split).
func TicketsFor(next order.Order, applied []order.Op, voidedBy string, at time.Time, newID func() uuid.UUID) []Ticket {
	lines := make(map[uuid.UUID]order.Line, len(next.Lines))
	for _, l := range next.Lines {
		lines[l.ID] = l
	}
	var tickets []Ticket
	reasons := map[uuid.UUID]string{} // voided line → its void's reason
	add := func(kind string, ids []uuid.UUID) {
		byStation := map[string]int{}
		for _, id := range ids {
			l, ok := lines[id]
			if !ok {
				continue
			}
			i, seen := byStation[l.Station]
			if !seen {
				i = len(tickets)
				byStation[l.Station] = i
				tickets = append(tickets, Ticket{
					ID: newID(), OrderID: next.ID, Table: next.Table, Station: l.Station, Kind: kind,
					Status: StatusNew, Server: next.Server, CreatedAt: at, Lines: []Line{},
					OrderNote: next.Note, Guests: next.Guests,
				})
				if kind == KindVoid {
					tickets[i].VoidedBy = voidedBy
				}
			}
			if r := reasons[id]; kind == KindVoid && r != "" && !slices.Contains(strings.Split(tickets[i].Reason, "; "), r) {
				tickets[i].Reason = strings.TrimPrefix(tickets[i].Reason+"; "+r, "; ")
			}
			tickets[i].Lines = append(tickets[i].Lines, Line{
				LineID: l.ID, Name: l.Name, Qty: l.Qty, Seat: l.Seat, Course: l.Course,
				Options: optionNames(l.Options), Modifiers: append([]string{}, l.Modifiers...), Note: l.Note,
			})
		}
	}
	var voids []uuid.UUID
	for _, op := range applied {
		switch op.Op {
		case order.OpSend:
			add(KindFire, op.Lines)
		case order.OpVoidItem:
			voids = append(voids, *op.LineID)
			reasons[*op.LineID] = op.Reason
		}
	}
	if len(voids) > 0 {
		add(KindVoid, voids)
	}
	return Split(tickets, newID)
}

// optionNames lists the names of a line's options, [] when there are none.
func optionNames(opts []order.LineOption) []string {
	names := make([]string, len(opts))
	for i, o := range opts {
		names[i] = o.Name
	}
	return names
}

// Split returns the tickets with each one that holds more than
// MaxTicketLines lines, or more than MaxTicketLineBytes of encoded lines,
// cut into consecutive parts for the same station, in line order. Every
// part is a copy of its ticket with its own lines and, after the first, its
// own id; Part and Parts number them. A ticket that fits is part 1 of 1.
func Split(tickets []Ticket, newID func() uuid.UUID) []Ticket {
	out := make([]Ticket, 0, len(tickets))
	for _, t := range tickets {
		var parts [][]Line
		start, size := 0, 0
		for i, l := range t.Lines {
			n := lineSize(l)
			if i > start && (i-start >= MaxTicketLines || size+n > MaxTicketLineBytes) {
				parts = append(parts, t.Lines[start:i:i])
				start, size = i, 0
			}
			size += n
		}
		parts = append(parts, t.Lines[start:])
		for i, lines := range parts {
			p := t
			if i > 0 {
				p.ID = newID()
			}
			p.Lines, p.Part, p.Parts = lines, i+1, len(parts)
			out = append(out, p)
		}
	}
	return out
}

// lineSize is the length of l in a ticket's JSON, with its separator.
func lineSize(l Line) int {
	b, err := json.Marshal(l)
	if err != nil {
		return MaxTicketLineBytes // cannot happen for these field types; a part of its own
	}
	return len(b) + 1
}

// Subject is the NATS subject of a station's kitchen messages
// (natscontract.KitchenSubject).
func Subject(venue, station string) string { return natscontract.KitchenSubject(venue, station) }

// OrderSubject is the NATS subject of an order's events
// (natscontract.OrderSubject).
func OrderSubject(venue string, orderID uuid.UUID) string {
	return natscontract.OrderSubject(venue, orderID)
}
