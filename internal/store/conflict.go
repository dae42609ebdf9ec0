package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// MaxConflictChanges and MaxConflictChangesBytes bound the changes a
// stale write's refusal carries: the newest events since the client's
// version, at most MaxConflictChanges of them and at most
// MaxConflictChangesBytes of their JSON (the newest event always). Without
// them one stale PATCH on a long order answered megabytes.
const (
	MaxConflictChanges      = 20
	MaxConflictChangesBytes = 256 << 10
)

// conflict builds the answer to a stale write (the authoritative order and
// the newest events after the version the client had, within
// MaxConflictChanges and MaxConflictChangesBytes) and records the refusal in
// order_conflicts, outside the refused transaction. A write against a
// version the order does not have yet is a client bug, not a colleague's
// change: it is refused the same way but not recorded. A failure to record
// does not change the answer; it is reported on the error for the caller to
// log.
func (s *Store) conflict(ctx context.Context, cur order.Order, expected int64, ifMatch bool, actor order.Actor) error {
	after, truncated := expected, false
	if cur.Version-expected > MaxConflictChanges {
		after, truncated = cur.Version-MaxConflictChanges, true
	}
	changes, err := s.events(ctx, cur.Venue, cur.ID, after, cur.Version)
	if err != nil {
		return err
	}
	size := 0
	for i := len(changes) - 1; i >= 0; i-- {
		b, err := json.Marshal(changes[i])
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		if size += len(b); size > MaxConflictChangesBytes && i < len(changes)-1 {
			changes, truncated = changes[i+1:], true
			break
		}
	}
	refusal := &order.ConflictError{Expected: expected, Current: cur, Changes: changes, Truncated: truncated, IfMatch: ifMatch}
	if expected > cur.Version {
		return refusal
	}
	via := "expected_version"
	if ifMatch {
		via = "if-match"
	}
	// The record is a statistic for the post-shift report, written on every
	// refusal (a busy banquet refuses many): an asynchronous commit keeps it
	// cheap, at the price of losing the last few records if Postgres itself
	// crashes within a fraction of a second.
	b := venueBatch(cur.Venue)
	b.raw("SET LOCAL synchronous_commit TO off")
	rec := audit.Conflict{ID: s.newID(), OrderID: cur.ID, Table: cur.Table, Device: actor.Device, Staff: actor.Staff,
		Role: actor.Role, ExpectedVersion: expected, CurrentVersion: cur.Version, Via: via, At: s.now()}
	var sig []byte
	if s.eventKey != nil {
		sig = audit.SignConflict(s.eventKey, cur.Venue, rec)
	}
	recErr := queueExec(b, func(db dbsqlc.DBTX) error {
		return s.q.InsertConflict(ctx, db, dbsqlc.InsertConflictParams{
			VenueID: cur.Venue, ID: rec.ID, OrderID: rec.OrderID, TableID: rec.Table, Device: rec.Device,
			Staff: rec.Staff, Role: rec.Role, ExpectedVersion: rec.ExpectedVersion, CurrentVersion: rec.CurrentVersion,
			Via: rec.Via, At: rec.At, Signature: sig,
		})
	})
	if recErr == nil {
		recErr = b.commit(ctx, s.pool)
	}
	if recErr != nil {
		refusal.RecordErr = fmt.Errorf("record conflict: %w", recErr)
	}
	return refusal
}
