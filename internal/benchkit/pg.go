package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// PGCounters are activity counters of the current Postgres database and of
// its WAL: cumulative when read, or the difference over a window. Backends
// publish them with up to about a second of delay.
type PGCounters struct {
	Commits, Rollbacks, WALRecords, WALBytes int64
	WALSyncs                                 int64 // WAL flushes to disk
}

// ReadPGCounters reads the counters.
func ReadPGCounters(ctx context.Context, conn *pgx.Conn) (PGCounters, error) {
	var c PGCounters
	err := conn.QueryRow(ctx, `
		SELECT d.xact_commit, d.xact_rollback, w.wal_records, w.wal_bytes::bigint, w.wal_sync
		FROM pg_stat_database d, pg_stat_wal w WHERE d.datname = current_database()`).
		Scan(&c.Commits, &c.Rollbacks, &c.WALRecords, &c.WALBytes, &c.WALSyncs)
	return c, err
}

// Sub is c minus before.
func (c PGCounters) Sub(before PGCounters) PGCounters {
	return PGCounters{c.Commits - before.Commits, c.Rollbacks - before.Rollbacks, c.WALRecords - before.WALRecords,
		c.WALBytes - before.WALBytes, c.WALSyncs - before.WALSyncs}
}

// AddPGCounters merges two optional sets of counters.
func AddPGCounters(a, b *PGCounters) *PGCounters {
	if a == nil || b == nil {
		return cmpOr(a, b)
	}
	s := PGCounters{a.Commits + b.Commits, a.Rollbacks + b.Rollbacks, a.WALRecords + b.WALRecords, a.WALBytes + b.WALBytes, a.WALSyncs + b.WALSyncs}
	return &s
}

// PGPublishDelay is how long to wait after a window for the backends to
// publish their counters.
const PGPublishDelay = 1100 * time.Millisecond

// WatchPG reads the counters of url's database at the start and the end of
// w in the background; the returned function waits for the second reading
// and returns the difference (nil on any error).
func WatchPG(ctx context.Context, url string, w Window) func() *PGCounters {
	done := make(chan *PGCounters, 1)
	go func() {
		var res *PGCounters
		defer func() { done <- res }()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			return
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if Sleep(ctx, time.Until(w.Start)) != nil {
			return
		}
		a, err := ReadPGCounters(ctx, conn)
		if err != nil || Sleep(ctx, time.Until(w.End)+PGPublishDelay) != nil {
			return
		}
		if b, err := ReadPGCounters(ctx, conn); err == nil {
			d := b.Sub(a)
			res = &d
		}
	}()
	return func() *PGCounters { return <-done }
}

// PgbenchSummary is what pgbench prints at the end of a run.
type PgbenchSummary struct {
	TPS          float64 // "tps = … (without initial connection time)"
	Transactions int
	Failed       int
	LatencyAvg   time.Duration
}

var (
	reTPS       = regexp.MustCompile(`(?m)^tps = ([0-9.]+) \(without initial connection time\)`)
	reProcessed = regexp.MustCompile(`(?m)^number of transactions actually processed: (\d+)`)
	reFailed    = regexp.MustCompile(`(?m)^number of failed transactions: (\d+)`)
	reLatAvg    = regexp.MustCompile(`(?m)^latency average = ([0-9.]+) ms`)
)

// ParsePgbench reads pgbench's summary.
func ParsePgbench(out string) (PgbenchSummary, error) {
	var r PgbenchSummary
	m := reTPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no tps in pgbench output:\n%s", out)
	}
	r.TPS, _ = strconv.ParseFloat(m[1], 64)
	if m := reProcessed.FindStringSubmatch(out); m != nil {
		r.Transactions, _ = strconv.Atoi(m[1])
	}
	if m := reFailed.FindStringSubmatch(out); m != nil {
		r.Failed, _ = strconv.Atoi(m[1])
	}
	if m := reLatAvg.FindStringSubmatch(out); m != nil {
		ms, _ := strconv.ParseFloat(m[1], 64)
		r.LatencyAvg = time.Duration(ms * float64(time.Millisecond))
	}
	return r, nil
}

// ReadPgbenchLogs reads the per-transaction latencies (third field, µs) of
// every transaction log prefix.* of one pgbench run (one file per thread).
func ReadPgbenchLogs(prefix string) ([]time.Duration, error) {
	files, err := filepath.Glob(prefix + ".*")
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no pgbench transaction logs %s.*", prefix)
	}
	var lat []time.Duration
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if fields := strings.Fields(sc.Text()); len(fields) >= 3 {
				if us, err := strconv.ParseInt(fields[2], 10, 64); err == nil { // not "failed"/"skipped"
					lat = append(lat, time.Duration(us)*time.Microsecond)
				}
			}
		}
	}
	return lat, nil
}
