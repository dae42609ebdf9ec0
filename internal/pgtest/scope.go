package pgtest

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/pgscope"
)

// Scoped runs each statement in its own implicit transaction, pipelined
// after its row-level security scope setting (internal/pgscope), for tests
// that reach the tables directly as posd's role; the application reaches
// Postgres through internal/store only. It implements sqlc's DBTX.
type Scoped struct {
	pool  *pgxpool.Pool
	first string
	arg   []any
}

// VenueScope is Scoped for statements on behalf of one venue.
func VenueScope(pool *pgxpool.Pool, venue string) Scoped {
	return Scoped{pool: pool, first: pgscope.SetVenue, arg: []any{venue}}
}

// SystemScope is Scoped for statements across venues.
func SystemScope(pool *pgxpool.Pool) Scoped { return Scoped{pool: pool, first: pgscope.SetSystem} }

func (d Scoped) send(ctx context.Context, sql string, args []any) pgx.BatchResults {
	b := &pgx.Batch{}
	b.Queue(d.first, d.arg...)
	b.Queue(sql, args...)
	br := d.pool.SendBatch(ctx, b)
	return br
}

func (d Scoped) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br := d.send(ctx, sql, args)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return br.Exec()
}

func (d Scoped) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
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

func (d Scoped) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
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
