package store

import (
	"github.com/posd/posd/internal/pgscope"

	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// errNotInBatch is returned by batchDB for statements that need their result
// before the batch is sent.
var errNotInBatch = errors.New("store: only Exec statements can be batched")

// batchDB queues the statements sqlc would run one by one, so the writes of
// one change reach Postgres in a single round trip. Only Exec is supported;
// results are read back in order with send.
type batchDB struct {
	b pgx.Batch
	// checkAt is the index of the statement whose command tag commit's
	// check sees (set with checkNext).
	checkAt int
}

// checkNext marks the next queued statement as the one commit's check sees.
func (q *batchDB) checkNext() { q.checkAt = q.b.Len() }

func (q *batchDB) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.b.Queue(sql, args...)
	return pgconn.CommandTag{}, nil
}

func (q *batchDB) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return nil, errNotInBatch
}

func (q *batchDB) QueryRow(context.Context, string, ...any) pgx.Row { return errRow{} }

type errRow struct{}

func (errRow) Scan(...any) error { return errNotInBatch }

// send runs the queued statements in tx. check sees the command tag of the
// first statement before the others' results are looked at; if it returns an
// error, that error is returned (the transaction is then rolled back by the
// caller, undoing whatever the rest of the batch did).
func (q *batchDB) send(ctx context.Context, tx pgx.Tx, check func(pgconn.CommandTag) error) error {
	br := tx.SendBatch(ctx, &q.b)
	for i := 0; i < q.b.Len(); i++ {
		tag, err := br.Exec()
		if err == nil && i == 0 && check != nil {
			err = check(tag)
		}
		if err != nil {
			_ = br.Close()
			return err
		}
	}
	return br.Close()
}

// commit runs BEGIN, the setting that scopes the transaction to venue, the
// queued statements and COMMIT as one pipeline: one round trip for the whole
// transaction. check sees the command tag of the
// statement marked by checkNext (the first one by default); an error from it is returned and the transaction is rolled
// back. Writers queue an assertion after any statement whose effect the rest
// depends on, so that a transaction that should not commit fails inside the
// pipeline and Postgres answers the final COMMIT with a rollback; commit
// treats anything but a real COMMIT as failure.
func (q *batchDB) commit(ctx context.Context, pool *pgxpool.Pool, venue string, check func(pgconn.CommandTag) error) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(pgscope.SetVenue, venue)
	b.QueuedQueries = append(b.QueuedQueries, q.b.QueuedQueries...)
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	err = q.read(br, check)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		// A failed statement made Postgres skip the rest of the pipeline,
		// COMMIT included; end the aborted transaction before the
		// connection goes back to the pool.
		if _, rerr := conn.Exec(context.Background(), "ROLLBACK"); rerr != nil {
			conn.Conn().PgConn().Close(context.Background())
		}
	}
	return err
}

func (q *batchDB) read(br pgx.BatchResults, check func(pgconn.CommandTag) error) error {
	for i := 0; i < 2; i++ { // BEGIN, the venue setting
		if _, err := br.Exec(); err != nil {
			return err
		}
	}
	for i := 0; i < q.b.Len(); i++ {
		tag, err := br.Exec()
		if err == nil && i == q.checkAt && check != nil {
			err = check(tag)
		}
		if err != nil {
			return err
		}
	}
	tag, err := br.Exec()
	if err != nil {
		return err
	}
	if tag.String() != "COMMIT" {
		return errors.New("store: transaction rolled back at COMMIT")
	}
	return nil
}
