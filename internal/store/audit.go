package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/audit"
)

// readSnapshot runs f in a read-only repeatable-read transaction scoped to
// venue, so every query it makes sees the same snapshot.
func (s *Store) readSnapshot(ctx context.Context, venue string, f func(tx pgx.Tx) error) error {
	return journalTx(ctx, s, venue, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, f)
}

// Shift builds the venue's post-shift report for [from, to) from one snapshot.
func (s *Store) Shift(ctx context.Context, venue string, from, to time.Time) (audit.Report, error) {
	var r audit.Report
	err := s.readSnapshot(ctx, venue, func(tx pgx.Tx) error {
		var err error
		r, err = audit.Shift(ctx, JournalOn(tx), venue, from, to)
		return err
	})
	return r, err
}

// Verify checks the venue's journal from one snapshot, with opts (the seal
// public key and interval).
func (s *Store) Verify(ctx context.Context, venue string, opts audit.VerifyOptions) (audit.Result, error) {
	var r audit.Result
	err := s.readSnapshot(ctx, venue, func(tx pgx.Tx) error {
		var err error
		r, err = audit.Verify(ctx, JournalOn(tx), venue, opts)
		return err
	})
	return r, err
}
