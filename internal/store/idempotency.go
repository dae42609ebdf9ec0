package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// IdempotencyTTL is how long an Idempotency-Key's answer is kept.
const IdempotencyTTL = 24 * time.Hour

var (
	// ErrInFlight is a request whose Idempotency-Key is being used by a
	// request that has not finished.
	ErrInFlight = errors.New("a request with this Idempotency-Key is still in flight")
	// ErrAnswered is a request whose Idempotency-Key got its answer while
	// this one was being prepared: nothing was written; replay the answer.
	ErrAnswered = errors.New("this Idempotency-Key has been answered")
)

// Answer is a stored HTTP answer.
type Answer struct {
	Status  int               `json:"-"`
	Headers map[string]string `json:"-"`
	Body    []byte            `json:"-"`
}

// Idem is an Idempotency-Key on a write. When the write changes something,
// its answer (rendered by Answer from the new order) is stored in the same
// transaction as the change.
type Idem struct {
	Venue       string
	DeviceID    uuid.UUID
	Key         string
	Fingerprint []byte
	Answer      func(order.Order) (Answer, error)
	// PairAnswer renders the answer of a change between two orders (a
	// transfer, a merge) from both as they are after it.
	PairAnswer func(from, to order.Order) (Answer, error)
}

// Stored is a key's recorded answer and the fingerprint of the request that
// produced it.
type Stored struct {
	Fingerprint []byte
	Answer
}

// Answered returns the live answer stored for a key; found is false when
// the key has none.
func (s *Store) Answered(ctx context.Context, venue string, device uuid.UUID, key string) (st Stored, found bool, err error) {
	r, err := readOne(ctx, s, venue, func(db dbsqlc.DBTX) (dbsqlc.GetIdempotencyRow, error) {
		return s.q.GetIdempotency(ctx, db, dbsqlc.GetIdempotencyParams{VenueID: venue, DeviceID: device, Key: key, Now: s.now()})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Stored{}, false, nil
	}
	if err != nil {
		return Stored{}, false, fmt.Errorf("read idempotency key: %w", err)
	}
	st = Stored{Fingerprint: r.Fingerprint, Answer: Answer{Status: int(r.Status), Body: r.Body}}
	if err := json.Unmarshal(r.Headers, &st.Headers); err != nil {
		return Stored{}, false, fmt.Errorf("decode stored headers: %w", err)
	}
	return st, true, nil
}

// SaveAnswer stores the answer to a request that changed nothing (a no-op
// PATCH, a refused stale write), unless the key already has a live answer.
func (s *Store) SaveAnswer(ctx context.Context, idem *Idem, a Answer) error {
	b := venueBatch(idem.Venue)
	if err := s.queueAnswer(ctx, b, idem, a); err != nil {
		return err
	}
	return b.commit(ctx, s.pool)
}

func (s *Store) queueAnswer(ctx context.Context, b *batch, idem *Idem, a Answer) error {
	headers, err := json.Marshal(a.Headers)
	if err != nil {
		return fmt.Errorf("encode headers: %w", err)
	}
	now := s.now()
	p := dbsqlc.InsertIdempotencyParams{
		VenueID: idem.Venue, DeviceID: idem.DeviceID, Key: idem.Key, Fingerprint: idem.Fingerprint,
		Status: int32(a.Status), Headers: headers, Body: a.Body, CreatedAt: now, ExpiresAt: now.Add(IdempotencyTTL),
	}
	return queueExec(b, func(db dbsqlc.DBTX) error { return s.q.InsertIdempotency(ctx, db, p) })
}

// claimKey queues, for a keyed change (idem not nil), the statement that
// makes the change fail unless this request is the only one using the key
// and the key has no answer yet: translate turns its failures into
// ErrInFlight and ErrAnswered.
func (s *Store) claimKey(ctx context.Context, b *batch, idem *Idem) error {
	if idem == nil {
		return nil
	}
	p := dbsqlc.ClaimIdempotencyParams{
		LockName: "posd-idem:" + idem.Venue + ":" + idem.DeviceID.String() + ":" + idem.Key,
		VenueID:  idem.Venue, DeviceID: idem.DeviceID, Key: idem.Key, Now: s.now(),
	}
	return queueExec(b, func(db dbsqlc.DBTX) error { return s.q.ClaimIdempotency(ctx, db, p) })
}

// SweepIdempotency deletes expired keys of every venue and reports how many.
func (s *Store) SweepIdempotency(ctx context.Context) (int64, error) {
	var n int64
	b := systemBatch()
	if err := queue(b, func(db dbsqlc.DBTX) (int64, error) {
		return s.q.DeleteExpiredIdempotency(ctx, db, s.now())
	}, func(rows int64) error { n = rows; return nil }); err != nil {
		return 0, err
	}
	if err := b.commit(ctx, s.pool); err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	return n, nil
}
