package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/posd/posd/internal/store"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
)

// BenchmarkPatch measures the versioned write through the store against a
// real Postgres, with eight writers on their own orders, with and without
// the hash chain, so that the chain's cost is the difference between the two.
// Each writer alternates adding and removing a line, so the orders keep a
// constant size. Run with: go test -run '^$' -bench Patch ./internal/store/
func BenchmarkPatch(b *testing.B) {
	for _, chained := range []bool{true, false} {
		name := "chained"
		if !chained {
			name = "unchained"
		}
		b.Run(name, func(b *testing.B) {
			db := pgtest.NewDB(b)
			s := store.New(db.Pool)
			s.SetUnchained(!chained)
			ctx := context.Background()
			var tables atomic.Int64
			b.SetParallelism(4) // 4 × GOMAXPROCS writers: 8 on a 2-core machine
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				table := fmt.Sprintf("T%d", tables.Add(1))
				o, err := s.Open(ctx, "demo", table, 2, alice, nil)
				if err != nil {
					b.Error(err)
					return
				}
				v := o.Version
				for pb.Next() {
					ops := []order.Op{{Op: order.OpAddItem, SKU: "steak"}}
					cur, err := s.Get(ctx, "demo", o.ID)
					if err != nil {
						b.Error(err)
						return
					}
					if len(cur.Lines) > 0 {
						id := cur.Lines[0].ID
						ops = []order.Op{{Op: order.OpRemoveItem, LineID: &id}}
					}
					next, _, err := s.Patch(ctx, "demo", o.ID, store.Patch{Expected: &v, Ops: ops}, alice)
					if err != nil {
						b.Error(err)
						return
					}
					v = next.Version
				}
			})
		})
	}
}
