// Package pgscope owns the settings of posd's row-level security
// (db/schema/0001_baseline.sql): SetVenue and SetSystem scope a
// transaction to one venue or to every venue, SystemSession a whole session
// (the relay's connection). The store's transactions (internal/store/tx.go)
// and posbench's pgbench script use these constants.
//
// DB, which pipelines each statement after its scope setting in its own
// implicit transaction, is for tests that reach the tables directly; the
// application reaches Postgres through internal/store only.
package pgscope

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SetVenue names the venue row-level security lets a transaction see; it is
// transaction-local. Its one argument is the venue id.
const SetVenue = "SELECT set_config('posd.venue', $1, true)"

// SetSystem lets a transaction see every venue; it is transaction-local.
const SetSystem = "SELECT set_config('posd.scope', 'system', true)"

// SystemSession is SetSystem for a whole session (the relay's connection).
const SystemSession = "SELECT set_config('posd.scope', 'system', false)"

// DB runs each statement in its own implicit transaction, pipelined after
// its scope setting. It implements sqlc's DBTX.
type DB struct {
	pool  *pgxpool.Pool
	first string
	arg   []any
}

// Venue is the DB for statements on behalf of one venue.
func Venue(pool *pgxpool.Pool, venue string) DB {
	return DB{pool: pool, first: SetVenue, arg: []any{venue}}
}

// System is the DB for statements across venues.
func System(pool *pgxpool.Pool) DB { return DB{pool: pool, first: SetSystem} }

func (d DB) send(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(d.first, d.arg...)
	b.Queue(sql, args...)
	br := d.pool.SendBatch(ctx, b)
	return br
}

func (d DB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br := d.send(ctx, sql, args)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return br.Exec()
}

func (d DB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br := d.send(ctx, sql, args)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &scopedRows{Rows: rows, br: br}, nil
}

func (d DB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := d.Query(ctx, sql, args...)
	return scopedRow{rows: rows, err: err}
}

// scopedRows closes the batch when the rows are closed.
type scopedRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
}

func (r *scopedRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.br.Close()
}

func (r *scopedRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

// scopedRow is QueryRow over scopedRows, with pgx.Row's contract: Scan
// reads the first row or returns pgx.ErrNoRows, and always releases it.
type scopedRow struct {
	rows pgx.Rows
	err  error
}

func (r scopedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
