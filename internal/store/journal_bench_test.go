package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// journalWriters is how many clients write at once in BenchmarkJournal,
// whatever GOMAXPROCS (-cpu) is: the 8-client point of docs/BENCHMARKS.md.
const journalWriters = 8

// sealEvery is how often the sealer seals in BenchmarkJournal (posd: every
// minute).
const sealEvery = time.Second

// BenchmarkJournal measures what the tamper-evident journal costs the
// write. Eight writers, each on its own order, PATCH through the store on a
// durable cluster (fsync and synchronous_commit on, as in production), one
// PATCH per op (the write's own read included), alternately adding and
// removing a line so the orders keep their size. Two variants:
//
//   - journal: as posd runs it: each event chained on its order's previous
//     hash and signed, ticket events signed, and the sealer sealing the
//     venue every second (posd seals every minute: this overstates it);
//   - off: everything of the journal that can be switched off is: no hash
//     (every link zero), no signatures, no sealer.
//
// What cannot be switched off (the append-only triggers, the hash and
// signature columns, the refused-write records) is in both. ns/op is wall
// time per PATCH over all writers. Run it several times, alternating, and
// compare with benchstat (make bench does; docs/BENCHMARKS.md has the
// figures).
func BenchmarkJournal(b *testing.B) {
	key, err := audit.NewSealKey()
	if err != nil {
		b.Fatal(err)
	}
	for _, on := range []bool{true, false} {
		name := "journal"
		if !on {
			name = "off"
		}
		b.Run(name, func(b *testing.B) {
			db := pgtest.NewDurableDB(b)
			s := store.New(db.Pool)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			orders := make([]order.Order, journalWriters)
			if on {
				s.SignEvents(key)
			} else {
				s.SetUnchained(true)
			}
			for i := range orders {
				o, err := s.Open(ctx, "demo", fmt.Sprintf("T%d", i+1), 2, alice, nil)
				if err != nil {
					b.Fatal(err)
				}
				orders[i] = o
			}
			seals := func() int64 { return db.Count(b, "SELECT count(*) FROM venue_seals WHERE venue_id = 'demo'") }
			var sealer sync.WaitGroup
			if on {
				sl := &audit.Sealer{Journal: s, Interval: sealEvery, Key: key, Log: zerolog.Nop()}
				sealer.Add(1)
				go func() { defer sealer.Done(); sl.Run(ctx) }()
				// The sealer's first round (at start) seals the new orders.
				for deadline := time.Now().Add(time.Minute); seals() == 0; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						b.Fatal("the sealer did not seal the orders within a minute")
					}
				}
			}
			before := seals()
			var done atomic.Int64
			var writers sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := range orders {
				writers.Add(1)
				go func(o order.Order) {
					defer writers.Done()
					for done.Add(1) <= int64(b.N) {
						ops := []order.Op{{Op: order.OpAddItem, SKU: "steak"}}
						if len(o.Lines) > 0 {
							id := o.Lines[0].ID
							ops = []order.Op{{Op: order.OpRemoveItem, LineID: &id}}
						}
						next, changed, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &o.Version, Ops: ops}, alice)
						if err != nil || !changed {
							b.Errorf("patch %s at version %d: changed %v, %v", o.Table, o.Version, changed, err)
							return
						}
						o = next
					}
				}(orders[i])
			}
			writers.Wait()
			b.StopTimer()
			elapsed := time.Since(start)
			if on && elapsed > 3*sealEvery && seals() == before {
				b.Fatalf("the sealer did not seal during %s of writes: the journal variant measured no sealing", elapsed)
			}
			cancel()
			sealer.Wait()
		})
	}
}
