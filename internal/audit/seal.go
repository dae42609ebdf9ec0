package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/dbsqlc"
	"github.com/posd/posd/internal/pgscope"
)

// sealMargin widens each seal's look-back so an order written by a
// transaction that committed just after the previous seal read is still
// sealed. Heads sealed twice are harmless.
const sealMargin = 5 * time.Minute

// sealLockKey is the advisory lock that lets one process seal at a time.
const sealLockKey = int64(0x706f73640002)

// Seal appends the venue's next seal over the heads of the orders that
// changed since (shortly before) the previous seal. It reports whether a seal
// was written; nothing changed means no seal. db should be a transaction.
func Seal(ctx context.Context, db dbsqlc.DBTX, venue string, now time.Time) (bool, error) {
	q := dbsqlc.New()
	prev, seq, since := ZeroHash, int64(1), time.Time{}
	last, err := q.LastSeal(ctx, db, venue)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return false, fmt.Errorf("read last seal: %w", err)
	default:
		prev, seq, since = last.Hash, last.Seq+1, last.SealedAt.Add(-sealMargin)
	}
	rows, err := q.OrderHeadsSince(ctx, db, dbsqlc.OrderHeadsSinceParams{VenueID: venue, Since: since})
	if err != nil {
		return false, fmt.Errorf("read order heads: %w", err)
	}
	if len(rows) == 0 {
		return false, nil
	}
	heads := make([]Head, len(rows))
	for i, r := range rows {
		heads[i] = Head{OrderID: r.ID, Version: r.Version, Hash: hex.EncodeToString(r.LastHash)}
	}
	at := now.UTC().Truncate(time.Microsecond)
	raw, err := json.Marshal(heads)
	if err != nil {
		return false, fmt.Errorf("encode heads: %w", err)
	}
	if err := q.InsertSeal(ctx, db, dbsqlc.InsertSealParams{
		VenueID: venue, Seq: seq, SealedAt: at, Heads: raw, Hash: SealHash(prev, venue, seq, at, heads),
	}); err != nil {
		return false, fmt.Errorf("insert seal: %w", err)
	}
	return true, nil
}

// Sealer seals every venue periodically. Several processes may run one; an
// advisory lock lets one seal at a time.
type Sealer struct {
	Pool     *pgxpool.Pool
	Interval time.Duration
	Log      zerolog.Logger
}

// Run seals every Interval until ctx ends.
func (s *Sealer) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.SealAll(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn().Err(err).Msg("seal venues")
		}
	}
}

// SealAll seals each venue in its own transaction, if this process holds
// the sealing lock.
func (s *Sealer) SealAll(ctx context.Context) error {
	venues, err := dbsqlc.New().ListVenues(ctx, pgscope.System(s.Pool))
	if err != nil {
		return fmt.Errorf("list venues: %w", err)
	}
	for _, v := range venues {
		err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			var got bool
			if err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1)", sealLockKey).Scan(&got); err != nil || !got {
				return err
			}
			if _, err := tx.Exec(ctx, pgscope.SetVenue, v); err != nil {
				return err
			}
			_, err := Seal(ctx, tx, v, time.Now())
			return err
		})
		if err != nil {
			return fmt.Errorf("seal %s: %w", v, err)
		}
	}
	return nil
}
