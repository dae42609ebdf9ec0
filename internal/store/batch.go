package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// errNotInBatch is returned by batchDB for statements that need their result
// before the batch is sent.
var errNotInBatch = errors.New("store: only Exec statements can be batched")

// batchDB queues the statements sqlc would run one by one, so the writes of
// one change reach Postgres in a single round trip. Only Exec is supported;
// results are read back in order with send.
type batchDB struct{ b pgx.Batch }

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
