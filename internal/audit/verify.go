package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/orderrow"
)

// verifyPage is how many rows Verify reads per query.
const verifyPage = 5000

// Broken names the first link of the journal that does not check out.
type Broken struct {
	OrderID *uuid.UUID `json:"order_id,omitempty"`
	Version int64      `json:"version,omitempty"`
	EventID *uuid.UUID `json:"event_id,omitempty"`
	Seal    int64      `json:"seal,omitempty"`
	Reason  string     `json:"reason"`
}

func (b Broken) String() string {
	var parts []string
	if b.Seal != 0 {
		parts = append(parts, fmt.Sprintf("seal %d", b.Seal))
	}
	if b.OrderID != nil {
		parts = append(parts, fmt.Sprintf("order %s version %d", b.OrderID, b.Version))
	}
	return strings.Join(append(parts, b.Reason), ": ")
}

// ErrUnknownVenue is a venue that does not exist.
var ErrUnknownVenue = errors.New("no such venue")

// Result is the outcome of Verify.
type Result struct {
	OK            bool    `json:"ok"`
	EventsChecked int64   `json:"events_checked"`
	OrdersChecked int64   `json:"orders_checked"`
	SealsChecked  int64   `json:"seals_checked"`
	Broken        *Broken `json:"broken,omitempty"`
}

type seal struct {
	seq   int64
	heads []Head
}

// Verify recomputes a venue's journal: the venue's seal chain; every
// order's event chain (versions 1..n without gaps, each hash over the
// previous one and the event's content); every order row, its lines and its
// payments against the fold of its log (so sales, tips and servers read from
// those rows are what the log says); no events without their order; and every
// head a seal names. It stops at the first broken link. An edited, deleted or
// reordered event, an edited order, line or payment, a deleted order, or a
// forged seal is reported; an error is returned only when the database
// cannot be read or the venue does not exist.
func Verify(ctx context.Context, db dbsqlc.DBTX, venue string) (Result, error) {
	q := dbsqlc.New()
	var res Result
	fail := func(b Broken) (Result, error) {
		res.OK, res.Broken = false, &b
		return res, nil
	}
	exists, err := q.VenueExists(ctx, db, venue)
	if err != nil {
		return res, fmt.Errorf("read venue: %w", err)
	}
	if !exists {
		return res, fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
	}

	// Seals first: they tell which (order, version) hashes must be kept
	// while the orders are checked.
	sealRows, err := q.ListSeals(ctx, db, venue)
	if err != nil {
		return res, fmt.Errorf("read seals: %w", err)
	}
	seals := make([]seal, 0, len(sealRows))
	prevSeal := ZeroHash
	want := map[uuid.UUID]map[int64][]byte{}
	for i, r := range sealRows {
		var heads []Head
		if err := json.Unmarshal([]byte(r.Heads), &heads); err != nil {
			return fail(Broken{Seal: r.Seq, Reason: "seal heads are not valid JSON"})
		}
		if r.Seq != int64(i+1) {
			return fail(Broken{Seal: r.Seq, Reason: fmt.Sprintf("seal %d follows seal %d", r.Seq, i)})
		}
		if h := SealHash(prevSeal, venue, r.Seq, r.SealedAt, heads); !bytes.Equal(h, r.Hash) {
			return fail(Broken{Seal: r.Seq, Reason: "seal hash does not match its content and the previous seal"})
		}
		prevSeal = r.Hash
		for _, h := range heads {
			if want[h.OrderID] == nil {
				want[h.OrderID] = map[int64][]byte{}
			}
			want[h.OrderID][h.Version] = nil
		}
		seals = append(seals, seal{seq: r.Seq, heads: heads})
		res.SealsChecked++
	}

	// Every order: its chain, its row against the chain's head, and its
	// state against the fold of its log.
	after := uuid.Nil
	for {
		rows, err := q.VerifyOrdersFull(ctx, db, dbsqlc.VerifyOrdersFullParams{VenueID: venue, AfterOrder: after, PageSize: verifyPage})
		if err != nil {
			return res, fmt.Errorf("read orders: %w", err)
		}
		for _, row := range rows {
			stored, err := orderrow.FromRow(row)
			if err != nil {
				return res, err
			}
			evRows, err := q.VerifyOrderEvents(ctx, db, dbsqlc.VerifyOrderEventsParams{VenueID: venue, OrderID: row.ID})
			if err != nil {
				return res, fmt.Errorf("read events of order %s: %w", row.ID, err)
			}
			if b := checkOrder(venue, stored, evRows, want, &res); b != nil {
				return fail(*b)
			}
		}
		if len(rows) < verifyPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	orphans, err := q.OrphanEvents(ctx, db, venue)
	if err != nil {
		return res, fmt.Errorf("look for events without an order: %w", err)
	}
	for _, o := range orphans {
		oid := o.OrderID
		return fail(Broken{OrderID: &oid, Version: o.Version, Reason: "events exist for an order that does not"})
	}

	// Every sealed head must still be in the log, unchanged.
	for _, s := range seals {
		for _, h := range s.heads {
			oid := h.OrderID
			got := want[h.OrderID][h.Version]
			if got == nil {
				return fail(Broken{OrderID: &oid, Version: h.Version, Seal: s.seq, Reason: "a sealed event is missing from the log"})
			}
			if hex.EncodeToString(got) != h.Hash {
				return fail(Broken{OrderID: &oid, Version: h.Version, Seal: s.seq, Reason: "a sealed event's hash differs from the seal"})
			}
		}
	}
	res.OK = true
	return res, nil
}

// checkOrder verifies one order's chain, head and state, recording the hashes
// seals ask for in want. It returns the first broken link, or nil.
func checkOrder(venue string, stored order.Order, rows []dbsqlc.VerifyOrderEventsRow, want map[uuid.UUID]map[int64][]byte, res *Result) *Broken {
	oid := stored.ID
	if len(rows) == 0 {
		return &Broken{OrderID: &oid, Version: 1, Reason: "the order has no events"}
	}
	prev := ZeroHash
	events := make([]order.Event, 0, len(rows))
	for i, r := range rows {
		eid := r.ID
		if r.Version != int64(i+1) {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid,
				Reason: fmt.Sprintf("version %d follows version %d: events are missing", r.Version, i)}
		}
		ev := order.Event{ID: r.ID, Venue: venue, OrderID: oid, Version: r.Version, Type: r.Type, At: r.At.UTC(),
			Actor:  order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole},
			Forced: r.Forced, OverriddenVersion: r.OverriddenVersion}
		h := EventHash(prev, ev, []byte(r.Ops))
		if !bytes.Equal(h, r.Hash) {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid,
				Reason: "hash does not match the event's content and the previous event"}
		}
		if w, ok := want[oid]; ok {
			if _, ok := w[r.Version]; ok {
				w[r.Version] = h
			}
		}
		if err := json.Unmarshal([]byte(r.Ops), &ev.Ops); err != nil {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid, Reason: "ops are not valid JSON"}
		}
		events = append(events, ev)
		prev = h
		res.EventsChecked++
	}
	last := int64(len(rows))
	switch {
	case stored.Version != last:
		return &Broken{OrderID: &oid, Version: min(stored.Version, last) + 1,
			Reason: fmt.Sprintf("the order is at version %d but its log ends at version %d", stored.Version, last)}
	case !bytes.Equal(stored.ChainHead, prev):
		return &Broken{OrderID: &oid, Version: last, Reason: "the order's recorded head hash does not match its log"}
	}
	folded, err := order.Fold(events)
	if err != nil {
		return &Broken{OrderID: &oid, Version: last, Reason: "the log does not fold into an order: " + err.Error()}
	}
	if field := stateDiff(folded, stored); field != "" {
		return &Broken{OrderID: &oid, Version: last, Reason: "the stored order differs from its log: " + field}
	}
	res.OrdersChecked++
	return nil
}

// stateDiff names the first part of the order's state where a and b differ,
// or returns "".
func stateDiff(a, b order.Order) string {
	switch {
	case a.Table != b.Table:
		return "table"
	case a.Status != b.Status:
		return "status"
	case a.Guests != b.Guests:
		return "guests"
	case a.Note != b.Note:
		return "note"
	case a.Server != b.Server:
		return "server"
	case !a.OpenedAt.Equal(b.OpenedAt):
		return "opened_at"
	case !a.UpdatedAt.Equal(b.UpdatedAt):
		return "updated_at"
	case (a.ClosedAt == nil) != (b.ClosedAt == nil) || a.ClosedAt != nil && !a.ClosedAt.Equal(*b.ClosedAt):
		return "closed_at"
	case len(a.Lines) != len(b.Lines):
		return "lines"
	case !slices.Equal(a.Payments, b.Payments):
		return "payments"
	}
	for i := range a.Lines {
		x, y := a.Lines[i], b.Lines[i]
		if x.ID != y.ID || x.Position != y.Position || x.SKU != y.SKU || x.Name != y.Name || x.Qty != y.Qty ||
			x.UnitPriceCents != y.UnitPriceCents || x.Seat != y.Seat || x.Course != y.Course ||
			!slices.Equal(x.Modifiers, y.Modifiers) || x.Note != y.Note || x.Station != y.Station ||
			x.Status != y.Status || x.Comped != y.Comped {
			return fmt.Sprintf("line %s", x.ID)
		}
	}
	return ""
}
