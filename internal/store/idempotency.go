package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgscope"
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
}

// Stored is a key's recorded answer and the fingerprint of the request that
// produced it.
type Stored struct {
	Fingerprint []byte
	Answer
}

// Answered returns the live answer stored for a key, or nil.
func (s *Store) Answered(ctx context.Context, venue string, device uuid.UUID, key string) (*Stored, error) {
	r, err := s.q.GetIdempotency(ctx, s.scope(venue), dbsqlc.GetIdempotencyParams{VenueID: venue, DeviceID: device, Key: key, Now: s.now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read idempotency key: %w", err)
	}
	st := &Stored{Fingerprint: r.Fingerprint, Answer: Answer{Status: int(r.Status), Body: r.Body}}
	if err := json.Unmarshal(r.Headers, &st.Headers); err != nil {
		return nil, fmt.Errorf("decode stored headers: %w", err)
	}
	return st, nil
}

// SaveAnswer stores the answer to a request that changed nothing (a no-op
// PATCH, a refused stale write), unless the key already has a live answer.
func (s *Store) SaveAnswer(ctx context.Context, idem *Idem, a Answer) error {
	var b batchDB
	if err := s.queueAnswer(ctx, &b, idem, a); err != nil {
		return err
	}
	return b.commit(ctx, s.pool, idem.Venue, nil)
}

func (s *Store) queueAnswer(ctx context.Context, b *batchDB, idem *Idem, a Answer) error {
	headers, err := json.Marshal(a.Headers)
	if err != nil {
		return fmt.Errorf("encode headers: %w", err)
	}
	now := s.now()
	return s.q.InsertIdempotency(ctx, b, dbsqlc.InsertIdempotencyParams{
		VenueID: idem.Venue, DeviceID: idem.DeviceID, Key: idem.Key, Fingerprint: idem.Fingerprint,
		Status: int32(a.Status), Headers: headers, Body: a.Body, CreatedAt: now, ExpiresAt: now.Add(IdempotencyTTL),
	})
}

// claimKey queues the statement that makes a keyed change fail unless this
// request is the only one using the key and the key has no answer yet.
func (s *Store) claimKey(ctx context.Context, b *batchDB, idem *Idem) error {
	return s.q.ClaimIdempotency(ctx, b, dbsqlc.ClaimIdempotencyParams{
		LockName: "posd-idem:" + idem.Venue + ":" + idem.DeviceID.String() + ":" + idem.Key,
		VenueID:  idem.Venue, DeviceID: idem.DeviceID, Key: idem.Key, Now: s.now(),
	})
}

// keyError maps the claim's assertion failures to ErrInFlight and
// ErrAnswered.
func keyError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "P0001" {
		switch pgErr.Message {
		case "idempotency-in-flight":
			return ErrInFlight
		case "idempotency-answered":
			return ErrAnswered
		}
	}
	return err
}

// SweepIdempotency deletes expired keys and reports how many.
func (s *Store) SweepIdempotency(ctx context.Context) (int64, error) {
	n, err := s.q.DeleteExpiredIdempotency(ctx, pgscope.System(s.pool), s.now())
	if err != nil {
		return 0, fmt.Errorf("sweep idempotency keys: %w", err)
	}
	return n, nil
}
