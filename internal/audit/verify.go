package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/dbsqlc"
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
	Reason  string     `json:"reason"`
}

func (b Broken) String() string {
	s := b.Reason
	if b.OrderID != nil {
		s = fmt.Sprintf("order %s version %d: %s", b.OrderID, b.Version, b.Reason)
	}
	if b.Seal != 0 {
		s = fmt.Sprintf("seal %d: %s", b.Seal, b.Reason)
	}
	return s
}

// Result is the outcome of Verify.
type Result struct {
	OK            bool    `json:"ok"`
	EventsChecked int64   `json:"events_checked"`
	OrdersChecked int64   `json:"orders_checked"`
	SealsChecked  int64   `json:"seals_checked"`
	Broken        *Broken `json:"broken,omitempty"`
}

type head struct {
	version int64
	hash    []byte
}

type seal struct {
	seq   int64
	heads []Head
}

// Verify recomputes a venue's journal: every order's event chain (versions
// 1..n without gaps, each hash over the previous one and the event's
// content), every order row against the head of its chain, and the venue's
// seal chain with every head it sealed. It stops at the first broken link.
// An edited, deleted or reordered event, a deleted order, or a forged seal is
// reported; an error is returned only when the database cannot be read.
func Verify(ctx context.Context, db dbsqlc.DBTX, venue string) (Result, error) {
	q := dbsqlc.New()
	var res Result
	fail := func(b Broken) (Result, error) {
		res.OK, res.Broken = false, &b
		return res, nil
	}

	// Seals first: they tell which (order, version) hashes must be kept
	// while scanning the events.
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

	// Every order's event chain.
	heads := map[uuid.UUID]head{}
	var (
		curOrder uuid.UUID
		curVer   int64
		prev     []byte
		after    = uuid.Nil
		afterVer int64
	)
	for {
		rows, err := q.VerifyEvents(ctx, db, dbsqlc.VerifyEventsParams{VenueID: venue, AfterOrder: after, AfterVersion: afterVer, PageSize: verifyPage})
		if err != nil {
			return res, fmt.Errorf("read events: %w", err)
		}
		for _, r := range rows {
			if r.OrderID != curOrder {
				if curVer > 0 {
					heads[curOrder] = head{version: curVer, hash: prev}
				}
				curOrder, curVer, prev = r.OrderID, 0, ZeroHash
			}
			oid, eid := r.OrderID, r.ID
			if r.Version != curVer+1 {
				return fail(Broken{OrderID: &oid, Version: r.Version, EventID: &eid,
					Reason: fmt.Sprintf("version %d follows version %d: events are missing", r.Version, curVer)})
			}
			ev := order.Event{ID: r.ID, Venue: venue, OrderID: r.OrderID, Version: r.Version, Type: r.Type, At: r.At,
				Actor:  order.Actor{Device: r.ActorDevice, Staff: r.ActorStaff, Role: r.ActorRole},
				Forced: r.Forced, OverriddenVersion: r.OverriddenVersion}
			h := EventHash(prev, ev, []byte(r.Ops))
			if !bytes.Equal(h, r.Hash) {
				return fail(Broken{OrderID: &oid, Version: r.Version, EventID: &eid,
					Reason: "hash does not match the event's content and the previous event"})
			}
			if w, ok := want[r.OrderID]; ok {
				if _, ok := w[r.Version]; ok {
					w[r.Version] = h
				}
			}
			prev, curVer = h, r.Version
			res.EventsChecked++
		}
		if len(rows) < verifyPage {
			break
		}
		last := rows[len(rows)-1]
		after, afterVer = last.OrderID, last.Version
	}
	if curVer > 0 {
		heads[curOrder] = head{version: curVer, hash: prev}
	}

	// Every order row against the head of its chain.
	seen := map[uuid.UUID]bool{}
	after = uuid.Nil
	for {
		rows, err := q.VerifyOrders(ctx, db, dbsqlc.VerifyOrdersParams{VenueID: venue, AfterOrder: after, PageSize: verifyPage})
		if err != nil {
			return res, fmt.Errorf("read orders: %w", err)
		}
		for _, r := range rows {
			oid := r.ID
			h, ok := heads[r.ID]
			switch {
			case !ok:
				return fail(Broken{OrderID: &oid, Version: 1, Reason: "the order has no events"})
			case h.version != r.Version:
				return fail(Broken{OrderID: &oid, Version: h.version + 1,
					Reason: fmt.Sprintf("the order is at version %d but its log ends at version %d", r.Version, h.version)})
			case !bytes.Equal(h.hash, r.LastHash):
				return fail(Broken{OrderID: &oid, Version: r.Version, Reason: "the order's recorded head hash does not match its log"})
			}
			seen[r.ID] = true
			res.OrdersChecked++
		}
		if len(rows) < verifyPage {
			break
		}
		after = rows[len(rows)-1].ID
	}
	for id, h := range heads {
		if !seen[id] {
			oid := id
			return fail(Broken{OrderID: &oid, Version: h.version, Reason: "events exist for an order that does not"})
		}
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
