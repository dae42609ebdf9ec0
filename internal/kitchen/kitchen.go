// Package kitchen turns accepted order changes into kitchen tickets, one per
// station, and defines the messages kitchen displays receive. Kitchen
// progress (a ticket bumped or recalled) lives here and never touches the
// order or its version.
package kitchen

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
)

// Ticket kinds and statuses.
const (
	KindFire = "fire"
	KindVoid = "void"

	StatusNew   = "new"
	StatusReady = "ready"
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
}

// Line is one order line as the cook sees it.
type Line struct {
	LineID    uuid.UUID `json:"line_id"`
	Name      string    `json:"name"`
	Qty       int       `json:"qty"`
	Seat      int       `json:"seat"`
	Course    int       `json:"course"`
	Modifiers []string  `json:"modifiers"`
	Note      string    `json:"note"`
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
func TicketsFor(next order.Order, applied []order.Op, at time.Time, newID func() uuid.UUID) []Ticket {
	lines := make(map[uuid.UUID]order.Line, len(next.Lines))
	for _, l := range next.Lines {
		lines[l.ID] = l
	}
	var tickets []Ticket
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
				})
			}
			tickets[i].Lines = append(tickets[i].Lines, Line{
				LineID: l.ID, Name: l.Name, Qty: l.Qty, Seat: l.Seat, Course: l.Course,
				Modifiers: append([]string{}, l.Modifiers...), Note: l.Note,
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
		}
	}
	if len(voids) > 0 {
		add(KindVoid, voids)
	}
	return tickets
}

// Subject is the NATS subject of a station's kitchen messages.
func Subject(venue, station string) string { return "pos." + venue + ".kitchen." + station }

// OrderSubject is the NATS subject of an order's events.
func OrderSubject(venue string, orderID uuid.UUID) string {
	return "pos." + venue + ".order." + orderID.String()
}
