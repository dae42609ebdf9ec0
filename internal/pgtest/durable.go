package pgtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/posd/posd/internal/pgcluster"
)

// The durable cluster is started on first use (NewDurableDB) and stopped by
// Main after the tests.
var durable struct {
	once    sync.Once
	cluster *pgcluster.Cluster
	stop    func()
	err     error
}

// NewDurableDB is NewDB on a second cluster of the test binary that keeps
// PostgreSQL's crash-safe defaults (fsync, synchronous_commit and
// full_page_writes on): for what must measure or survive real commits
// (benchmarks of the write path, crash tests). It is started on first use.
func NewDurableDB(t testing.TB) *DB {
	t.Helper()
	if cluster == nil {
		t.Fatal("pgtest: cluster not started; call pgtest.Main from TestMain")
	}
	durable.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		durable.cluster, durable.stop, durable.err = start(ctx, true)
	})
	if durable.err != nil {
		t.Fatalf("pgtest: durable cluster: %v", durable.err)
	}
	return newDB(t, durable.cluster)
}

func stopDurable() {
	if durable.stop != nil {
		durable.stop()
	}
}
