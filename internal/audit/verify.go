package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
)

// verifyPage is how many rows Verify reads per query.
const verifyPage = 5000

// Broken names the first link of the journal that does not check out.
type Broken struct {
	OrderID *uuid.UUID `json:"order_id,omitempty"`
	Version int64      `json:"version,omitempty"`
	EventID *uuid.UUID `json:"event_id,omitempty"`
	Seal    int64      `json:"seal,omitempty"`
	// MenuSeq names a row of the venue's menu log (its seq).
	MenuSeq int64  `json:"menu_seq,omitempty"`
	Reason  string `json:"reason"`
}

func (b Broken) String() string {
	var parts []string
	if b.Seal != 0 {
		parts = append(parts, fmt.Sprintf("seal %d", b.Seal))
	}
	if b.OrderID != nil {
		parts = append(parts, fmt.Sprintf("order %s version %d", b.OrderID, b.Version))
	}
	if b.MenuSeq != 0 {
		parts = append(parts, fmt.Sprintf("menu log row %d", b.MenuSeq))
	}
	return strings.Join(append(parts, b.Reason), ": ")
}

// ErrUnknownVenue is a venue that does not exist.
var ErrUnknownVenue = errors.New("no such venue")

// DefaultSealGrace is how much longer than the seal interval an event may
// stay unsealed before verify fails: room for a restart of posd, a slow
// sealing round or a Postgres failover.
const DefaultSealGrace = 10 * time.Minute

// maxFutureSkew is how far ahead of verify's clock an event may be dated
// (clocks of posd hosts differ a little).
const maxFutureSkew = 5 * time.Minute

// VerifyOptions say what Verify trusts besides the database.
type VerifyOptions struct {
	// PublicKey checks each seal's signature. Without it signatures are not
	// checked (Result.SignaturesChecked is false) and a database-role
	// attacker can forge seals.
	PublicKey ed25519.PublicKey
	// PreviousKeys are the public halves of rotated-out seal keys: events
	// and seals signed with them verify too.
	PreviousKeys []ed25519.PublicKey
	// SealInterval is how often posd seals. With it, an event left unsealed
	// for longer than SealInterval + SealGrace (or dated in the future)
	// fails verification. Zero: freshness is reported, not enforced.
	SealInterval time.Duration
	// SealGrace is DefaultSealGrace when zero.
	SealGrace time.Duration
	// Now is the time ages are measured against; time.Now() when zero.
	Now time.Time
	// Stream, when set, is posd's JetStream stream: each order's last
	// message there must carry the order's version (unless the order
	// changed within StreamGrace, its rows are still ahead of the relay,
	// or the stream no longer keeps messages that old). When the stream
	// cannot be read, Result.StreamError says why and the rest is checked.
	Stream Stream
	// StreamGrace is DefaultStreamGrace when zero.
	StreamGrace time.Duration
}

// Result is the outcome of Verify.
type Result struct {
	OK             bool  `json:"ok"`
	EventsChecked  int64 `json:"events_checked"`
	OrdersChecked  int64 `json:"orders_checked"`
	SealsChecked   int64 `json:"seals_checked"`
	TicketsChecked int64 `json:"tickets_checked"`
	// SignaturesChecked says whether seals were checked against a public
	// key; UnsignedSeals counts seals written before posd signed them
	// (which seal nothing when signatures are checked).
	SignaturesChecked bool  `json:"signatures_checked"`
	UnsignedSeals     int64 `json:"unsigned_seals"`
	// LastSealAt is the newest valid seal's time, LastSealAgeSeconds its
	// age (null: no seal).
	LastSealAt         *time.Time `json:"last_seal_at"`
	LastSealAgeSeconds *float64   `json:"last_seal_age_seconds"`
	// UnsealedEvents counts the events no valid seal covers yet (the
	// newest, normally); the oldest of them was at OldestUnsealedAt.
	UnsealedEvents      int64      `json:"unsealed_events"`
	OldestUnsealedAt    *time.Time `json:"oldest_unsealed_at"`
	UnsealedAgeSeconds  *float64   `json:"unsealed_age_seconds"`
	SealIntervalSeconds float64    `json:"seal_interval_seconds,omitempty"`
	SealGraceSeconds    float64    `json:"seal_grace_seconds,omitempty"`
	// StreamChecked says whether the orders were compared with JetStream
	// (VerifyOptions.Stream), StreamOrdersChecked how many were (the
	// others changed too recently, are in flight, or are older than the
	// stream keeps), StreamError why the stream could not be read.
	// All three are absent when no stream is given.
	StreamChecked       bool   `json:"stream_checked,omitempty"`
	StreamOrdersChecked *int64 `json:"stream_orders_checked,omitempty"`
	StreamError         string `json:"stream_error,omitempty"`
	// MenuChangesChecked counts the menu log's rows checked;
	// UnsignedMenuChanges those of them an operator wrote without the seal
	// key (posd menu import without --seal-key-file, posd seed), which only
	// the hash chain vouches for.
	MenuChangesChecked  int64   `json:"menu_changes_checked"`
	UnsignedMenuChanges int64   `json:"unsigned_menu_changes"`
	Broken              *Broken `json:"broken,omitempty"`
	// ReadFrom is where the journal was read when it was read off the
	// primary (absent when read on posd's own database).
	ReadFrom *ReadFrom `json:"read_from,omitempty"`
}

type seal struct {
	seq   int64
	heads []Head
}

// Verify recomputes a venue's journal from j (one snapshot, ideally): the
// venue's seal chain and each seal's signature; every order's event chain
// (versions 1..n without gaps, each hash over the previous one and the
// event's content); every event against the order's rules, replayed from
// its decoded ops (no op after close, each op allowed for the actor's role,
// times never going backwards, the ops exactly what posd applies); every
// order row, its lines and its payments against the fold of its log (so
// sales, tips and servers read from those rows are what the log says);
// every kitchen ticket against the change that created it and its own log;
// the recorded refused writes against their orders; the menu log's chain
// and signatures (checkMenuLog); no events without
// their order; every head a seal names; and, with opts.SealInterval, that
// no event stayed unsealed longer than the interval and grace allow. It
// stops at the first broken link. An error is returned only when the
// database cannot be read or the venue does not exist.
func Verify(ctx context.Context, j Journal, venue string, opts VerifyOptions) (Result, error) {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	grace := opts.SealGrace
	if grace <= 0 {
		grace = DefaultSealGrace
	}
	res := Result{SignaturesChecked: opts.PublicKey != nil}
	var keys []ed25519.PublicKey
	if opts.PublicKey != nil {
		keys = append([]ed25519.PublicKey{opts.PublicKey}, opts.PreviousKeys...)
	}
	if opts.SealInterval > 0 {
		res.SealIntervalSeconds, res.SealGraceSeconds = opts.SealInterval.Seconds(), grace.Seconds()
	}
	fail := func(b Broken) (Result, error) {
		res.OK, res.Broken = false, &b
		return res, nil
	}
	exists, err := j.VenueExists(ctx, venue)
	if err != nil {
		return res, fmt.Errorf("read venue: %w", err)
	}
	if !exists {
		return res, fmt.Errorf("%w: %q", ErrUnknownVenue, venue)
	}

	// Seals first: they tell which (order, version) hashes must be kept
	// while the orders are checked, and how far each order is sealed.
	sealRows, err := j.Seals(ctx, venue)
	if err != nil {
		return res, fmt.Errorf("read seals: %w", err)
	}
	seals := make([]seal, 0, len(sealRows))
	prevSeal := ZeroHash
	want := map[uuid.UUID]map[int64][]byte{}
	sealedTo := map[uuid.UUID]int64{}
	signed := false
	var lastSealAt time.Time
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
		if !lastSealAt.IsZero() && r.SealedAt.Before(lastSealAt) {
			return fail(Broken{Seal: r.Seq, Reason: "seal is dated before the previous seal"})
		}
		counts := true // whether this seal vouches for its heads
		if opts.PublicKey != nil {
			switch {
			case r.Signature == nil && signed:
				return fail(Broken{Seal: r.Seq, Reason: "seal is not signed, after signed seals: not written by posd"})
			case r.Signature == nil:
				res.UnsignedSeals++
				counts = false
			case !checkSealSignature(keys, venue, r.Hash, r.Signature):
				return fail(Broken{Seal: r.Seq, Reason: "seal signature does not verify with the public key: not written by posd (or another key)"})
			default:
				signed = true
			}
		}
		prevSeal = r.Hash
		for _, h := range heads {
			if want[h.OrderID] == nil {
				want[h.OrderID] = map[int64][]byte{}
			}
			want[h.OrderID][h.Version] = nil
			if counts && h.Version > sealedTo[h.OrderID] {
				sealedTo[h.OrderID] = h.Version
			}
		}
		if counts {
			lastSealAt = r.SealedAt
		}
		seals = append(seals, seal{seq: r.Seq, heads: heads})
		res.SealsChecked++
	}
	if !lastSealAt.IsZero() {
		at, age := lastSealAt.UTC(), now.Sub(lastSealAt).Seconds()
		res.LastSealAt, res.LastSealAgeSeconds = &at, &age
	}
	// The oldest unsealed event, to report and to hold against the interval.
	var oldest *Broken
	var oldestAt time.Time
	notAfter := time.Time{}
	if opts.SealInterval > 0 {
		notAfter = now.Add(maxFutureSkew)
	}

	devRows, err := j.Devices(ctx, venue)
	if err != nil {
		return res, fmt.Errorf("read devices: %w", err)
	}
	devices := make(map[order.Actor]bool, len(devRows))
	for _, d := range devRows {
		devices[d] = true
	}

	// From when posd signs every row, an unsigned one is no legacy row.
	var signedSince time.Time
	if len(keys) > 0 {
		if signedSince, err = j.SignedSince(ctx); err != nil {
			return res, fmt.Errorf("read when signing began: %w", err)
		}
	}

	var sc *streamCheck
	if opts.Stream != nil {
		if sc, err = newStreamCheck(ctx, j, venue, opts.Stream, opts.StreamGrace, now); err != nil {
			res.StreamError = err.Error()
		}
		if sc != nil {
			res.StreamChecked, res.StreamOrdersChecked = true, new(int64)
		}
	}

	// Every order: its chain and rules, its row against the chain's head,
	// its state against the fold of its log, its tickets.
	after := uuid.Nil
	var pairs pairLinks
	moves := ticketMoves{}
	for {
		rows, err := j.OrdersPage(ctx, venue, after, verifyPage)
		if err != nil {
			return res, fmt.Errorf("read orders: %w", err)
		}
		ids := make([]uuid.UUID, len(rows))
		for i, row := range rows {
			ids[i] = row.ID
		}
		ticketRows, err := j.OrderTickets(ctx, venue, ids)
		if err != nil {
			return res, fmt.Errorf("read kitchen tickets: %w", err)
		}
		tickets := map[uuid.UUID][]StoredTicket{}
		for _, t := range ticketRows {
			tickets[t.OrderID] = append(tickets[t.OrderID], t)
		}
		for _, stored := range rows {
			evRows, err := j.OrderEvents(ctx, venue, stored.ID)
			if err != nil {
				return res, fmt.Errorf("read events of order %s: %w", stored.ID, err)
			}
			if b := checkOrder(venue, stored, evRows, tickets[stored.ID], want, replay{devices: devices, notAfter: notAfter, pub: keys, sealedTo: sealedTo[stored.ID], signedSince: signedSince, pairs: &pairs, moves: moves}, &res); b != nil {
				return fail(*b)
			}
			if sc != nil {
				checked, b, err := sc.order(ctx, venue, stored.ID, stored.Version, evRows[len(evRows)-1].At)
				switch {
				case err != nil:
					// NATS went away: the database is still checked.
					res.StreamError, res.StreamChecked, sc = err.Error(), false, nil
				case b != nil:
					return fail(*b)
				case checked:
					*res.StreamOrdersChecked++
				}
			}
			for _, r := range evRows {
				if r.Version <= sealedTo[stored.ID] {
					continue
				}
				res.UnsealedEvents++
				if oldest == nil || r.At.Before(oldestAt) {
					oid, eid := stored.ID, r.ID
					oldest, oldestAt = &Broken{OrderID: &oid, Version: r.Version, EventID: &eid}, r.At
				}
			}
		}
		if len(rows) < verifyPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	if b := pairs.broken(); b != nil {
		return fail(*b)
	}
	if b, err := checkTicketMoves(ctx, j, venue, moves); err != nil || b != nil {
		if err != nil {
			return res, err
		}
		return fail(*b)
	}
	orphans, err := j.OrphanEvents(ctx, venue)
	if err != nil {
		return res, fmt.Errorf("look for events without an order: %w", err)
	}
	for _, o := range orphans {
		oid := o.OrderID
		return fail(Broken{OrderID: &oid, Version: o.Version, Reason: "events exist for an order that does not"})
	}
	bad, err := j.ImpossibleConflicts(ctx, venue)
	if err != nil {
		return res, fmt.Errorf("read refused writes: %w", err)
	}
	for _, c := range bad {
		oid := c.OrderID
		return fail(Broken{OrderID: &oid, Version: c.CurrentVersion, Reason: fmt.Sprintf(
			"recorded refused write %s (expected version %d, current %d) does not match its order", c.ID, c.ExpectedVersion, c.CurrentVersion)})
	}

	if b, err := checkSignedRows(ctx, j, venue, keys); err != nil || b != nil {
		if err != nil {
			return res, err
		}
		return fail(*b)
	}
	if b, err := checkMenuLog(ctx, j, venue, keys, &res); err != nil || b != nil {
		if err != nil {
			return res, err
		}
		return fail(*b)
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

	// Every outbox row is a message of the log (checked after the seals:
	// an event deleted from a sealed order is named by its seal first).
	outRows, err := j.OutboxOrphans(ctx, venue)
	if err != nil {
		return res, fmt.Errorf("read the outbox: %w", err)
	}
	for _, o := range outRows {
		oid := o.OrderID
		return fail(Broken{OrderID: &oid, Version: o.OrderVersion, Reason: fmt.Sprintf(
			"outbox row %d (%s message %s) names no event or ticket event of the order: a message the log does not hold", o.ID, o.MsgType, o.MsgID)})
	}

	if oldest != nil {
		at, age := oldestAt.UTC(), now.Sub(oldestAt)
		secs := age.Seconds()
		res.OldestUnsealedAt, res.UnsealedAgeSeconds = &at, &secs
		if opts.SealInterval > 0 && age > opts.SealInterval+grace {
			last := "there is no valid seal"
			if res.LastSealAgeSeconds != nil {
				last = fmt.Sprintf("the last valid seal is %s old", (time.Duration(*res.LastSealAgeSeconds) * time.Second).String())
			}
			oldest.Reason = fmt.Sprintf("%d events are not sealed, the oldest for %s (posd seals every %s, grace %s) and %s: "+
				"newer seals were removed, the sealer is stopped, or the events were not written by posd",
				res.UnsealedEvents, age.Truncate(time.Second), opts.SealInterval, grace, last)
			return fail(*oldest)
		}
	}
	res.OK = true
	return res, nil
}

// checkOrder verifies one order's chain, rules, head, state and tickets,
// recording the hashes seals ask for in want. It returns the first broken
// link, or nil.
func checkOrder(venue string, stored order.Order, rows []StoredEvent, tickets []StoredTicket,
	want map[uuid.UUID]map[int64][]byte, rp replay, res *Result) *Broken {
	oid := stored.ID
	if len(rows) == 0 {
		return &Broken{OrderID: &oid, Version: 1, Reason: "the order has no events"}
	}
	byVersion := map[int64][]string{}
	for _, t := range tickets {
		if reason := checkTicketState(t); reason != "" {
			return &Broken{OrderID: &oid, Version: t.OrderVersion, Reason: reason}
		}
		k, err := storedTicketKey(t)
		if err != nil {
			return &Broken{OrderID: &oid, Version: t.OrderVersion, Reason: fmt.Sprintf("ticket %s: lines are not valid JSON", t.ID)}
		}
		byVersion[t.OrderVersion] = append(byVersion[t.OrderVersion], k)
	}
	prev := ZeroHash
	events := make([]order.Event, 0, len(rows))
	parent := map[uuid.UUID]uuid.UUID{} // check splits: new line → the line it came from
	for i, r := range rows {
		eid := r.ID
		if r.Version != int64(i+1) {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid,
				Reason: fmt.Sprintf("version %d follows version %d: events are missing", r.Version, i)}
		}
		ev := order.Event{ID: r.ID, Venue: venue, OrderID: oid, Version: r.Version, Type: r.Type, At: r.At.UTC(),
			Actor: r.Actor, Forced: r.Forced, OverriddenVersion: r.OverriddenVersion}
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
		if reason := rp.signature(venue, r.Version, r.At, r.Hash, r.Signature); reason != "" {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid, Reason: reason}
		}
		before := rp.cur
		ops, reason := rp.step(ev, []byte(r.Ops))
		if reason != "" {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid, Reason: "breaks the order's rules: " + reason}
		}
		ev.Ops = ops
		for _, op := range ops {
			if rp.moves != nil {
				rp.moves.expect(before, op, parent, ev.At, Broken{OrderID: &oid, Version: r.Version, EventID: &eid})
			}
		}
		maps.Copy(parent, kitchen.SplitParents([]order.Event{ev}))
		got, wantT := byVersion[r.Version], expectedTickets(rp.cur, ev)
		delete(byVersion, r.Version)
		sort.Strings(got)
		if !slices.Equal(got, wantT) {
			return &Broken{OrderID: &oid, Version: r.Version, EventID: &eid, Reason: fmt.Sprintf(
				"the kitchen tickets of this change are not the ones it creates (%d stored, %d expected, or their content differs)", len(got), len(wantT))}
		}
		res.TicketsChecked += int64(len(got))
		events = append(events, ev)
		prev = h
		res.EventsChecked++
	}
	for v := range byVersion {
		return &Broken{OrderID: &oid, Version: v, Reason: "kitchen tickets name a version of the order that does not exist"}
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
	samePayment := func(x, y order.Payment) bool {
		return bytes.Equal(marshal(x), marshal(y))
	}
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
	case !bytes.Equal(marshal(a.MergedInto), marshal(b.MergedInto)):
		return "merged_into"
	case len(a.Lines) != len(b.Lines):
		return "lines"
	case !slices.EqualFunc(a.Payments, b.Payments, samePayment):
		return "payments"
	case !bytes.Equal(marshal(a.Discounts), marshal(b.Discounts)):
		return "discounts"
	case !bytes.Equal(marshal(a.ServiceChargeWaiver), marshal(b.ServiceChargeWaiver)):
		return "service_charge_waiver"
	case !bytes.Equal(marshal(a.Rules), marshal(b.Rules)):
		return "pricing"
	}
	for i := range a.Lines {
		x, y := a.Lines[i], b.Lines[i]
		if x.ID != y.ID || x.Position != y.Position || x.SKU != y.SKU || x.Name != y.Name || x.Qty != y.Qty ||
			x.UnitPriceCents != y.UnitPriceCents || x.Seat != y.Seat || x.Course != y.Course ||
			!slices.Equal(x.Modifiers, y.Modifiers) || x.Note != y.Note || x.Station != y.Station ||
			x.Status != y.Status || x.Comped != y.Comped || !slices.Equal(x.Options, y.Options) || x.TaxClass != y.TaxClass || x.Portions != y.Portions {
			return fmt.Sprintf("line %s", x.ID)
		}
	}
	return ""
}

// checkSignedRows checks the signature of every kitchen ticket event and
// every recorded refused write of venue with keys (nothing when keys is
// empty): a row dated from when posd began signing them (journal_signed_since)
// must carry a valid signature. It returns the first bad row, or nil.
func checkSignedRows(ctx context.Context, j Journal, venue string, keys []ed25519.PublicKey) (*Broken, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	since, err := j.SignedSince(ctx)
	if err != nil {
		return nil, fmt.Errorf("read when signing began: %w", err)
	}
	check := func(sig []byte, at time.Time, msg []byte) string {
		switch {
		case sig == nil && !at.Before(since):
			return "is not signed: not written by posd"
		case sig == nil:
			return "" // written before posd signed these rows
		case !anyKey(keys, msg, sig):
			return "has a signature that does not verify with the public key: not written by posd (or another key)"
		}
		return ""
	}
	for after := uuid.Nil; ; {
		rows, err := j.TicketEventsPage(ctx, venue, after, verifyPage)
		if err != nil {
			return nil, fmt.Errorf("read kitchen ticket events: %w", err)
		}
		for _, r := range rows {
			if reason := check(r.Signature, r.At, r.message(venue)); reason != "" {
				oid := r.OrderID
				return &Broken{OrderID: &oid, Version: r.OrderVersion, Reason: fmt.Sprintf(
					"ticket %s: its %s event %s %s", r.TicketID, r.Action, r.ID, reason)}, nil
			}
		}
		if len(rows) < verifyPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	for after := uuid.Nil; ; {
		rows, err := j.ConflictsPage(ctx, venue, after, verifyPage)
		if err != nil {
			return nil, fmt.Errorf("read refused writes: %w", err)
		}
		for _, r := range rows {
			if reason := check(r.Signature, r.At, r.message(venue)); reason != "" {
				oid := r.OrderID
				return &Broken{OrderID: &oid, Version: r.CurrentVersion, Reason: fmt.Sprintf(
					"recorded refused write %s %s", r.ID, reason)}, nil
			}
		}
		if len(rows) < verifyPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	return nil, nil
}
