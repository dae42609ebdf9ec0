package store

import (
	"context"
	"errors"
	"github.com/posd/posd/internal/pgscope"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// This file is the store's one way to reach Postgres. Every statement runs
// in a transaction scoped by row-level security
// (db/schema/0007_row_level_security.sql) to one venue, or, for the few
// parts that work across venues by design (the token lookup, the key sweep,
// seeding), to the whole system. A transaction starts as a batch: BEGIN, the
// transaction-local scope setting and the statements queued on it reach
// Postgres in one round trip, and either COMMIT goes with them (commit) or
// the transaction is left open for ordinary use (open, inTx). A read of one
// statement needs neither: it runs in the implicit transaction of its
// pipeline, the setting and the statement alone (readBatch).

// Scope settings; each is transaction-local.
const (
	// setVenue names the venue a transaction may see; its one argument is
	// the venue id.
	setVenue = pgscope.SetVenue
	// setSystem lets a transaction see every venue.
	setSystem = pgscope.SetSystem
)

var (
	// errQueued is what a sqlc call run against the recorder returns: its
	// statement was queued, not run.
	errQueued = errors.New("store: statement queued")
	// errNoStatement is a queued call that made no statement.
	errNoStatement = errors.New("store: the call made no statement to queue")
	// errRolledBack is a pipelined COMMIT that Postgres answered with
	// ROLLBACK.
	errRolledBack = errors.New("store: transaction rolled back at COMMIT")
)

// Conn is what a transaction runs on: posd's pool, or for device
// administration and seeding the table owner's connection or pool
// (*pgx.Conn and *pgxpool.Pool are both one).
type Conn interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// batch is a transaction's next round trip: for a new transaction BEGIN and
// the scope setting first, then the statements queued with queue and
// queueExec, each with a callback that decodes its real result.
type batch struct {
	b pgx.Batch
	// implicit: no BEGIN and no COMMIT; the pipeline's statements are one
	// implicit transaction.
	implicit bool
}

// venueBatch begins a transaction scoped to venue.
func venueBatch(venue string) *batch { return venueTxBatch(venue, pgx.TxOptions{}) }

// venueTxBatch begins a transaction with opts (an isolation level, read
// only) scoped to venue.
func venueTxBatch(venue string, opts pgx.TxOptions) *batch {
	b := &batch{}
	b.b.BeginTx(opts)
	b.b.Queue(setVenue, venue)
	return b
}

// readBatch is a read scoped to venue in the implicit transaction of its
// pipeline: the same round trip as venueBatch's without the BEGIN and
// COMMIT statements, which every read of the PATCH path would pay.
func readBatch(venue string) *batch {
	b := &batch{implicit: true}
	b.b.Queue(setVenue, venue)
	return b
}

// systemBatch begins a transaction that sees every venue.
func systemBatch() *batch {
	b := &batch{}
	b.b.BeginTx(pgx.TxOptions{})
	b.b.Queue(setSystem)
	return b
}

// raw queues a statement sqlc does not make (a SET LOCAL).
func (b *batch) raw(sql string) { b.b.Queue(sql) }

// commit sends the batch with COMMIT after it: the whole transaction in one
// round trip. It returns the first error of a statement or of a callback;
// anything but a real COMMIT is a failure, and the connection goes back to
// the pool outside any transaction. Writers queue an assertion after any
// statement whose effect the rest depends on, so that a transaction that
// should not commit fails inside the pipeline (a callback's error alone
// does not stop Postgres from running the statements after it).
func (b *batch) commit(ctx context.Context, db Conn) error {
	if b.implicit {
		return db.SendBatch(ctx, &b.b).Close()
	}
	b.b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
		if tag.String() != "COMMIT" {
			return errRolledBack
		}
		return nil
	})
	br := db.SendBatch(ctx, &b.b)
	tx := br.Tx()
	err := br.Close()
	end(ctx, tx)
	return err
}

// open sends the batch and returns the transaction it began, open for
// ordinary use; the caller ends it (end rolls back whatever is not
// committed).
func (b *batch) open(ctx context.Context, db Conn) (pgx.Tx, error) {
	if b.implicit {
		return nil, errors.New("store: a read batch begins no transaction to open")
	}
	br := db.SendBatch(ctx, &b.b)
	tx := br.Tx()
	if err := br.Close(); err != nil {
		end(ctx, tx)
		return nil, err
	}
	return tx, nil
}

// sendIn sends a batch made with &batch{} (no BEGIN) inside tx.
func (b *batch) sendIn(ctx context.Context, tx pgx.Tx) error {
	return tx.SendBatch(ctx, &b.b).Close()
}

// inTx runs first's round trip, then f in the transaction it began, and
// commits if f succeeds.
func inTx(ctx context.Context, db Conn, first *batch, f func(tx pgx.Tx) error) error {
	tx, err := first.open(ctx, db)
	if err != nil {
		return err
	}
	defer end(ctx, tx)
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// end rolls back tx unless it has ended, and gives its connection back to
// the pool. The rollback runs even when ctx is done: an aborted transaction
// must not go back to the pool.
func end(ctx context.Context, tx pgx.Tx) {
	if tx == nil {
		return
	}
	// ErrTxClosed (the transaction ended) is the common case; any other
	// failure closes the connection inside pgx.
	_ = tx.Rollback(context.WithoutCancel(ctx))
}

// queue queues the statement call makes through sqlc and, when the batch is
// sent, runs call again on that statement's real result and hands what it
// decodes to use (nil: only the error matters). call must make exactly one
// statement and must not depend on state it changes.
func queue[T any](b *batch, call func(dbsqlc.DBTX) (T, error), use func(T) error) error {
	r := recorder{b: &b.b}
	if _, err := call(&r); !errors.Is(err, errQueued) {
		if err == nil {
			err = errNoStatement
		}
		return err
	}
	decode := func(a answer) error {
		v, err := call(a)
		if err != nil || use == nil {
			return err
		}
		return use(v)
	}
	switch r.kind {
	case kindExec:
		r.qq.Exec(func(tag pgconn.CommandTag) error { return decode(answer{tag: tag}) })
	case kindRow:
		r.qq.QueryRow(func(row pgx.Row) error { return decode(answer{row: row}) })
	case kindRows:
		r.qq.Query(func(rows pgx.Rows) error { return decode(answer{rows: rows}) })
	}
	return nil
}

// queueExec is queue for sqlc's :exec calls, which decode nothing.
func queueExec(b *batch, call func(dbsqlc.DBTX) error) error {
	return queue(b, func(db dbsqlc.DBTX) (struct{}, error) { return struct{}{}, call(db) }, nil)
}

// readOne runs one sqlc read for venue in one round trip and returns what
// it decodes.
func readOne[T any](ctx context.Context, s *Store, venue string, call func(dbsqlc.DBTX) (T, error)) (T, error) {
	return runOne(ctx, s.pool, readBatch(venue), call)
}

// runOne runs the transaction b begins with the one statement call makes,
// in one round trip, and returns what it decodes.
func runOne[T any](ctx context.Context, db Conn, b *batch, call func(dbsqlc.DBTX) (T, error)) (T, error) {
	var out T
	if err := queue(b, call, func(v T) error { out = v; return nil }); err != nil {
		return out, err
	}
	return out, b.commit(ctx, db)
}

type statementKind int

const (
	kindExec statementKind = iota + 1
	kindRow
	kindRows
)

// recorder is the DBTX a sqlc call runs against to queue its statement: it
// records the SQL and arguments and answers errQueued.
type recorder struct {
	b    *pgx.Batch
	qq   *pgx.QueuedQuery
	kind statementKind
}

func (r *recorder) record(kind statementKind, sql string, args []any) error {
	if r.qq != nil {
		return errors.New("store: a queued call made more than one statement")
	}
	r.qq, r.kind = r.b.Queue(sql, args...), kind
	return errQueued
}

func (r *recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return pgconn.CommandTag{}, r.record(kindExec, sql, args)
}

func (r *recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	return nil, r.record(kindRows, sql, args)
}

func (r *recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	return errRow{r.record(kindRow, sql, args)}
}

type errRow struct{ err error }

func (e errRow) Scan(...any) error { return e.err }

// answer is the DBTX a queued sqlc call runs against in its statement's
// result callback: it hands the call the statement's real result.
type answer struct {
	tag  pgconn.CommandTag
	row  pgx.Row
	rows pgx.Rows
}

func (a answer) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) { return a.tag, nil }
func (a answer) Query(context.Context, string, ...any) (pgx.Rows, error)         { return a.rows, nil }
func (a answer) QueryRow(context.Context, string, ...any) pgx.Row                { return a.row }
