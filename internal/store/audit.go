package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// readSnapshot runs f in a read-only repeatable-read transaction scoped to
// venue, so every query it makes sees the same snapshot. On a store over a
// standby (NewReplica) it first reads where that snapshot is (from is nil
// otherwise).
func (s *Store) readSnapshot(ctx context.Context, venue string, f func(tx pgx.Tx, from *audit.ReadFrom) error) error {
	err := journalTx(ctx, s, venue, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if !s.offPrimary {
			return f(tx, nil)
		}
		src, err := s.q.ReadSource(ctx, tx)
		if err != nil {
			return err
		}
		return f(tx, readFrom(src))
	})
	var pgErr *pgconn.PgError
	if s.offPrimary && errors.As(err, &pgErr) && pgErr.Code == "40001" {
		// serialization_failure on a standby: the read held back WAL replay longer than
		// max_standby_streaming_delay and was cancelled.
		return fmt.Errorf("%w: the standby cancelled the read to go on replaying (conflict with recovery: raise max_standby_streaming_delay or set hot_standby_feedback on the standby): %w", errUnavailable, err)
	}
	return err
}

// ReadFrom is where the store's reads run now: whether its server is a
// standby, and how far behind its primary.
func (s *Store) ReadFrom(ctx context.Context) (*audit.ReadFrom, error) {
	src, err := s.q.ReadSource(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	return readFrom(src), nil
}

// readFrom is what ReadSource found, as an answer states it.
func readFrom(src dbsqlc.ReadSourceRow) *audit.ReadFrom {
	r := &audit.ReadFrom{Standby: src.Standby, Streaming: src.Streaming}
	if !src.Standby {
		r.LagSeconds = new(float64)
		return r
	}
	if src.ReplayedAny {
		at := src.ReplayedAt.UTC()
		r.ReplayedAt = &at
		lag := 0.0
		if !src.Streaming || !src.ReplayedAll {
			lag = max(src.ReplayAgeSeconds, 0)
		}
		r.LagSeconds = &lag
	} else if src.Streaming && src.ReplayedAll {
		r.LagSeconds = new(float64)
	}
	return r
}

// Shift builds the venue's post-shift report for [from, to) from one snapshot.
func (s *Store) Shift(ctx context.Context, venue string, from, to time.Time) (audit.Report, error) {
	var r audit.Report
	err := s.readSnapshot(ctx, venue, func(tx pgx.Tx, src *audit.ReadFrom) error {
		var err error
		r, err = audit.Shift(ctx, JournalOn(tx), venue, from, to)
		r.ReadFrom = src
		return err
	})
	return r, err
}

// Verify checks the venue's journal from one snapshot, with opts (the seal
// public key and interval).
func (s *Store) Verify(ctx context.Context, venue string, opts audit.VerifyOptions) (audit.Result, error) {
	var r audit.Result
	err := s.readSnapshot(ctx, venue, func(tx pgx.Tx, src *audit.ReadFrom) error {
		if src != nil && src.LagSeconds != nil && *src.LagSeconds > 0 && opts.Now.IsZero() {
			// The snapshot is as old as the standby's lag: seal ages are
			// measured from there, not from now.
			opts.Now = time.Now().Add(-time.Duration(*src.LagSeconds * float64(time.Second)))
		}
		var err error
		r, err = audit.Verify(ctx, JournalOn(tx), venue, opts)
		r.ReadFrom = src
		return err
	})
	return r, err
}
