package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/outbox/internal/relaydb"
	"github.com/posd/posd/internal/pgscope"
)

// DeadLetter is an outbox message NATS refused for good, set aside by the
// relay so that the messages after it were delivered.
type DeadLetter struct {
	OutboxID     int64      `json:"outbox_id"`
	Venue        string     `json:"venue"`
	Subject      string     `json:"subject"`
	MsgID        string     `json:"msg_id"`
	Type         string     `json:"type"`
	OrderID      uuid.UUID  `json:"order_id"`
	OrderVersion int64      `json:"order_version"`
	Bytes        int64      `json:"bytes"`
	Error        string     `json:"error"`
	CreatedAt    time.Time  `json:"created_at"`
	FailedAt     time.Time  `json:"failed_at"`
	ReplayedAt   *time.Time `json:"replayed_at"`
}

// ErrNoDeadLetter is a replay of a dead letter that does not exist or was
// replayed already.
var ErrNoDeadLetter = errors.New("no such dead letter waiting for replay")

// MaxDeadLetterList bounds one listing of dead letters.
const MaxDeadLetterList = 1000

// ListDeadLetters lists up to limit dead letters, oldest first: of one venue
// (all venues when venue is empty), replayed ones too when all is set. conn
// is an operator's connection; it is switched to the system scope.
func ListDeadLetters(ctx context.Context, conn *pgx.Conn, venue string, all bool, limit int) ([]DeadLetter, error) {
	if limit <= 0 || limit > MaxDeadLetterList {
		limit = MaxDeadLetterList
	}
	if _, err := conn.Exec(ctx, pgscope.SystemSession); err != nil {
		return nil, fmt.Errorf("system scope: %w", err)
	}
	p := relaydb.ListDeadLettersParams{IncludeReplayed: all, RowLimit: int32(limit)}
	if venue != "" {
		p.VenueID = &venue
	}
	rows, err := relaydb.New().ListDeadLetters(ctx, conn, p)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	out := make([]DeadLetter, len(rows))
	for i, r := range rows {
		out[i] = DeadLetter{OutboxID: r.OutboxID, Venue: r.VenueID, Subject: r.Subject, MsgID: r.MsgID,
			Type: r.MsgType, OrderID: r.OrderID, OrderVersion: r.OrderVersion, Bytes: r.Bytes, Error: r.Error,
			CreatedAt: r.CreatedAt.UTC(), FailedAt: r.FailedAt.UTC(), ReplayedAt: r.ReplayedAt}
	}
	return out, nil
}

// ReplayDeadLetter puts the dead letter of outbox row id back into the
// outbox, for the relay to publish again after its cause is fixed (NATS's
// max_payload raised, for example), and returns the new row's id. The dead
// letter stays, stamped replayed; a message refused again is set aside
// again under its new id.
func ReplayDeadLetter(ctx context.Context, conn *pgx.Conn, id int64) (int64, error) {
	if _, err := conn.Exec(ctx, pgscope.SystemSession); err != nil {
		return 0, fmt.Errorf("system scope: %w", err)
	}
	newID, err := relaydb.New().ReplayDeadLetter(ctx, conn, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNoDeadLetter
	}
	if err != nil {
		return 0, fmt.Errorf("replay dead letter %d: %w", id, err)
	}
	return newID, nil
}
