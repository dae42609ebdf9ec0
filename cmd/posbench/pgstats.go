package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgCounters are Postgres activity counters of posd's database and of the
// WAL: cumulative when read, or the difference over a window. Backends publish
// them with up to about a second of delay, so over a 10 s window they are good
// to a few percent.
type pgCounters struct {
	Commits, Rollbacks int64
	WALRecords         int64
	WALBytes           int64
	WALSyncs           int64 // WAL flushes to disk (fsync/fdatasync)
}

// addCounters merges two optional sets of counters.
func addCounters(a, b *pgCounters) *pgCounters {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &pgCounters{
		Commits: a.Commits + b.Commits, Rollbacks: a.Rollbacks + b.Rollbacks, WALRecords: a.WALRecords + b.WALRecords,
		WALBytes: a.WALBytes + b.WALBytes, WALSyncs: a.WALSyncs + b.WALSyncs,
	}
}

func readPgCounters(ctx context.Context, conn *pgx.Conn) (pgCounters, error) {
	var c pgCounters
	err := conn.QueryRow(ctx, `
		SELECT d.xact_commit, d.xact_rollback, w.wal_records, w.wal_bytes::bigint, w.wal_sync
		FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`).
		Scan(&c.Commits, &c.Rollbacks, &c.WALRecords, &c.WALBytes, &c.WALSyncs)
	return c, err
}

// watchPostgres reads the counters at the start and the end of w in the
// background, over its own superuser connection; the returned function waits
// for the second reading and returns the difference (nil on any error).
func watchPostgres(ctx context.Context, superURL string, w window) func() *pgCounters {
	done := make(chan *pgCounters, 1)
	go func() {
		var res *pgCounters
		defer func() { done <- res }()
		conn, err := pgx.Connect(ctx, superURL)
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if sleepCtx(ctx, time.Until(w.start)) != nil {
			return
		}
		a, err := readPgCounters(ctx, conn)
		if err != nil {
			return
		}
		if sleepCtx(ctx, time.Until(w.end)) != nil {
			return
		}
		// Let the backends publish what they did up to the end.
		if sleepCtx(ctx, 1100*time.Millisecond) != nil {
			return
		}
		b, err := readPgCounters(ctx, conn)
		if err != nil {
			return
		}
		res = &pgCounters{
			Commits: b.Commits - a.Commits, Rollbacks: b.Rollbacks - a.Rollbacks,
			WALRecords: b.WALRecords - a.WALRecords, WALBytes: b.WALBytes - a.WALBytes, WALSyncs: b.WALSyncs - a.WALSyncs,
		}
	}()
	return func() *pgCounters { return <-done }
}
