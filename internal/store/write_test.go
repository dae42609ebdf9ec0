package store_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// Store-level contract tests of the write path (docs/DESIGN.md invariants 1
// to 3), below HTTP.

func fingerprint(key string) []byte {
	sum := sha256.Sum256([]byte(key))
	return sum[:]
}

func guests(n int) []order.Op { return []order.Op{{Op: order.OpSetGuests, Guests: one(n)}} }

// TestVersionedWriteAppendsOneEventAndOutboxRow: an accepted PATCH moves
// the order one version on and appends exactly one event and one outbox
// row (no ticket: set_guests sends nothing), all written by one
// transaction.
func TestVersionedWriteAppendsOneEventAndOutboxRow(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", o.ID))
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM outbox WHERE order_id = $1", o.ID))

	next, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: guests(3)}, alice)
	require.NoError(t, err)
	require.True(t, changed)
	require.EqualValues(t, 2, next.Version)
	require.Equal(t, 3, next.Guests)
	require.EqualValues(t, 2, db.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", o.ID))
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND version = 2", o.ID))
	require.EqualValues(t, 2, db.Count(t, "SELECT count(*) FROM outbox WHERE order_id = $1", o.ID))
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM outbox WHERE order_id = $1 AND order_version = 2", o.ID))
	require.EqualValues(t, 1, db.Count(t, `SELECT count(DISTINCT x) FROM (
		SELECT xmin::text AS x FROM orders WHERE id = $1
		UNION ALL SELECT xmin::text FROM order_events WHERE order_id = $1 AND version = 2
		UNION ALL SELECT xmin::text FROM outbox WHERE order_id = $1 AND order_version = 2) w`, o.ID),
		"the order row, its event and its outbox row come from one transaction")

	got, err := s.Get(ctx, "demo", o.ID)
	require.NoError(t, err)
	require.Equal(t, next.ChainHead, got.ChainHead)
	require.EqualValues(t, 2, got.Version)

	// A PATCH that changes nothing writes nothing.
	same, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &next.Version, Ops: guests(3)}, alice)
	require.NoError(t, err)
	require.False(t, changed)
	require.EqualValues(t, 2, same.Version)
	require.EqualValues(t, 2, db.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", o.ID))
}

// TestStaleWriteIsAConflict: a PATCH against a version the order has left
// changes nothing and returns the conflict with the current order and the
// events since the client's version, and the refusal is recorded.
func TestStaleWriteIsAConflict(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)
	v1 := o.Version
	for n := 3; n <= 4; n++ {
		cur, err := s.Get(ctx, "demo", o.ID)
		require.NoError(t, err)
		_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &cur.Version, Ops: guests(n)}, alice)
		require.NoError(t, err)
	}
	before := db.Count(t, "SELECT count(*) FROM order_events")

	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &v1, Ops: guests(7)}, bob)
	var conflict *order.ConflictError
	require.True(t, errors.As(err, &conflict), "got %v", err)
	require.NoError(t, conflict.RecordErr)
	require.EqualValues(t, 1, conflict.Expected)
	require.EqualValues(t, 3, conflict.Current.Version)
	require.Equal(t, 4, conflict.Current.Guests)
	require.Len(t, conflict.Changes, 2)
	require.EqualValues(t, 2, conflict.Changes[0].Version)
	require.EqualValues(t, 3, conflict.Changes[1].Version)
	require.False(t, conflict.Truncated)
	require.Equal(t, before, db.Count(t, "SELECT count(*) FROM order_events"))
	require.EqualValues(t, 1, db.Count(t, `SELECT count(*) FROM order_conflicts
		WHERE order_id = $1 AND expected_version = 1 AND current_version = 3 AND staff = 'Bob' AND via = 'expected_version'`, o.ID))

	// A version the order does not have yet is refused but not recorded.
	ahead := int64(9)
	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &ahead, IfMatch: true, Ops: guests(7)}, bob)
	require.True(t, errors.As(err, &conflict), "got %v", err)
	require.True(t, conflict.IfMatch)
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM order_conflicts WHERE order_id = $1", o.ID))

	// Force overrides the version and says so in its event.
	forced, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Force: true, Ops: guests(8)}, alice)
	require.NoError(t, err)
	require.True(t, changed)
	require.EqualValues(t, 4, forced.Version)
	evs, err := s.Events(ctx, "demo", o.ID, 3, 10)
	require.NoError(t, err)
	require.Len(t, evs, 1)
	require.True(t, evs[0].Forced)
	require.EqualValues(t, 3, *evs[0].OverriddenVersion)

	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Ops: guests(2)}, alice)
	require.Error(t, err, "a patch needs a precondition unless forced")
}

// TestIdempotentReplay: a keyed write stores its answer with the change; the
// same key again writes nothing and is told the key was answered, and the
// stored answer (with the request's fingerprint) is what Answered returns.
func TestIdempotentReplay(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	dev := uuid.New()
	renders := 0
	idem := func(key string) *store.Idem {
		return &store.Idem{Venue: "demo", DeviceID: dev, Key: key, Fingerprint: fingerprint(key),
			Answer: func(o order.Order) (store.Answer, error) {
				renders++
				return store.Answer{Status: 201, Headers: map[string]string{"ETag": `"` + o.ID.String() + `"`}, Body: []byte(o.ID.String())}, nil
			}}
	}
	_, found, err := s.Answered(ctx, "demo", dev, "k1")
	require.NoError(t, err)
	require.False(t, found)

	o, err := s.Open(ctx, "demo", "T1", 2, alice, idem("k1"))
	require.NoError(t, err)
	st, found, err := s.Answered(ctx, "demo", dev, "k1")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, fingerprint("k1"), st.Fingerprint)
	require.Equal(t, 201, st.Status)
	require.Equal(t, `"`+o.ID.String()+`"`, st.Headers["ETag"])
	require.Equal(t, o.ID.String(), string(st.Body))

	orders := db.Count(t, "SELECT count(*) FROM orders")
	_, err = s.Open(ctx, "demo", "T2", 2, alice, idem("k1"))
	require.ErrorIs(t, err, store.ErrAnswered)
	require.Equal(t, orders, db.Count(t, "SELECT count(*) FROM orders"))

	// The key is the device's: another device's key of the same name is
	// another key.
	_, found, err = s.Answered(ctx, "demo", uuid.New(), "k1")
	require.NoError(t, err)
	require.False(t, found)

	// A keyed PATCH, and its replay.
	_, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: guests(3), Idem: idem("k2")}, alice)
	require.NoError(t, err)
	require.True(t, changed)
	events := db.Count(t, "SELECT count(*) FROM order_events")
	v2 := int64(2)
	_, _, err = s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &v2, Ops: guests(4), Idem: idem("k2")}, alice)
	require.ErrorIs(t, err, store.ErrAnswered)
	require.Equal(t, events, db.Count(t, "SELECT count(*) FROM order_events"))

	// SaveAnswer keeps the first answer of a key.
	require.NoError(t, s.SaveAnswer(ctx, idem("k3"), store.Answer{Status: 200, Body: []byte("first")}))
	require.NoError(t, s.SaveAnswer(ctx, idem("k3"), store.Answer{Status: 200, Body: []byte("second")}))
	st, found, err = s.Answered(ctx, "demo", dev, "k3")
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "first", string(st.Body))

	n, err := s.SweepIdempotency(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing has expired")
}

// TestConcurrentPatchesMatchModel: N writers released together by a
// barrier PATCH the same order. In the first round all of them expect
// version 1, so exactly one is accepted and the others get the conflict;
// then each retries from what it reads until it lands. The log agrees with
// a model that counts accepted writes: the order's version, its events and
// its outbox rows each grew by exactly the accepted writes, and every
// refusal was a conflict.
func TestConcurrentPatchesMatchModel(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	o, err := s.Open(ctx, "demo", "T1", 2, alice, nil)
	require.NoError(t, err)

	const writers, rounds = 8, 3
	var (
		mu                  sync.Mutex
		accepted, conflicts int
		firstAccepted       int
		wg                  sync.WaitGroup
	)
	start := make(chan struct{})
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			<-start
			expected := int64(1)
			for landed := 0; landed < rounds; {
				_, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &expected, Ops: []order.Op{{Op: order.OpAddItem, SKU: "steak"}}}, alice)
				var conflict *order.ConflictError
				switch {
				case errors.As(err, &conflict):
					mu.Lock()
					conflicts++
					mu.Unlock()
					expected = conflict.Current.Version
					continue
				case err != nil:
					errs <- err
					return
				}
				mu.Lock()
				if expected == 1 {
					firstAccepted++
				}
				accepted++
				mu.Unlock()
				if !changed {
					errs <- errors.New("an add_item changed nothing")
					return
				}
				landed++
				expected++
			}
		}(w)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, 1, firstAccepted, "exactly one writer lands on version 1")
	require.GreaterOrEqual(t, conflicts, writers-1, "the others were refused at least once")
	cur, err := s.Get(ctx, "demo", o.ID)
	require.NoError(t, err)
	require.Equal(t, writers*rounds, accepted)
	require.EqualValues(t, 1+accepted, cur.Version, "version increments == accepted writes")
	require.EqualValues(t, 1+accepted, db.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", o.ID))
	require.EqualValues(t, 1+accepted, db.Count(t, "SELECT count(*) FROM outbox WHERE order_id = $1", o.ID))
	require.EqualValues(t, 1+accepted, db.Count(t, "SELECT count(DISTINCT version) FROM order_events WHERE order_id = $1", o.ID))
	require.EqualValues(t, conflicts, db.Count(t, "SELECT count(*) FROM order_conflicts WHERE order_id = $1", o.ID))
	// The log folds to the stored order.
	evs, err := s.Events(ctx, "demo", o.ID, 0, 1000)
	require.NoError(t, err)
	folded, err := order.Fold(evs)
	require.NoError(t, err)
	require.Len(t, cur.Lines, accepted)
	require.Len(t, folded.Lines, accepted)
	require.Equal(t, cur.Version, folded.Version)
}

// TestRacingOpens: writers released together open the same table; the
// unique index lets exactly one in and every other gets the occupied
// refusal naming it.
func TestRacingOpens(t *testing.T) {
	db := pgtest.NewDB(t)
	s := store.New(db.Pool)
	ctx := context.Background()
	const writers = 6
	start := make(chan struct{})
	type result struct {
		o   order.Order
		err error
	}
	results := make(chan result, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			o, err := s.Open(ctx, "demo", "T5", 2, alice, nil)
			results <- result{o, err}
		}()
	}
	close(start)
	wg.Wait()
	close(results)
	var winner *order.Order
	var refused []*order.TableOccupiedError
	for r := range results {
		var occ *order.TableOccupiedError
		switch {
		case r.err == nil:
			require.Nil(t, winner, "two opens on one table")
			winner = &r.o
		case errors.As(r.err, &occ):
			refused = append(refused, occ)
		default:
			require.NoError(t, r.err)
		}
	}
	require.NotNil(t, winner)
	require.Len(t, refused, writers-1)
	for _, occ := range refused {
		require.Equal(t, "T5", occ.Table)
		require.NotNil(t, occ.OccupiedBy)
		require.Equal(t, winner.ID, *occ.OccupiedBy)
		require.NotNil(t, occ.Current)
		require.Equal(t, winner.ID, occ.Current.ID)
	}
	require.EqualValues(t, 1, db.Count(t, "SELECT count(*) FROM orders WHERE table_id = 'T5'"))
}
