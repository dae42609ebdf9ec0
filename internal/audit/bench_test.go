package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/posd/posd/internal/order"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/store"
)

// BenchmarkVerify verifies a venue of 200 orders of 8 events each (open,
// two adds, send, comp, pay, close, and a note), with their tickets and one
// signed seal: the cost of replaying every rule and ticket on top of the
// hash chains. Report ns/op ÷ 1,600 as the cost per event.
func BenchmarkVerify(b *testing.B) {
	db := pgtest.NewDB(b)
	ctx := context.Background()
	st := store.New(db.Pool)
	st.SignEvents(sealKey)
	w := benchWriter{b: b, st: st}
	for i := 0; i < 200; i++ {
		w.order(fmt.Sprintf("T%d", i%12+1))
	}
	if err := (&audit.Sealer{Journal: st, Key: sealKey}).SealAll(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := st.Verify(ctx, "demo", verifyOpts)
		if err != nil || !res.OK || res.EventsChecked != 1600 {
			b.Fatalf("verify: %v %+v", err, res)
		}
	}
}

// benchWriter writes whole orders through the store, as posd does.
type benchWriter struct {
	b  *testing.B
	st *store.Store
}

func (w benchWriter) patch(o order.Order, actor order.Actor, ops ...string) order.Order {
	raws := make([]json.RawMessage, len(ops))
	for i, op := range ops {
		raws[i] = json.RawMessage(op)
	}
	parsed, err := order.DecodeOps(raws)
	if err != nil {
		w.b.Fatal(err)
	}
	v := o.Version
	next, _, err := w.st.Patch(context.Background(), "demo", o.ID, store.Patch{Expected: &v, Ops: parsed}, actor)
	if err != nil {
		w.b.Fatal(err)
	}
	return next
}

func (w benchWriter) order(table string) {
	o, err := w.st.Open(context.Background(), "demo", table, 2, alice, nil)
	if err != nil {
		w.b.Fatal(err)
	}
	o = w.patch(o, alice, `{"op":"add_item","sku":"steak","qty":2}`)
	o = w.patch(o, alice, `{"op":"add_item","sku":"beer"}`)
	o = w.patch(o, alice, `{"op":"send"}`)
	var beer string
	for _, l := range o.Lines {
		if l.SKU == "beer" {
			beer = l.ID.String()
		}
	}
	o = w.patch(o, maria, fmt.Sprintf(`{"op":"comp_item","line_id":%q,"reason":"wait"}`, beer))
	o = w.patch(o, alice, `{"op":"set_note","note":"window"}`)
	o = w.patch(o, alice, fmt.Sprintf(`{"op":"add_payment","tender":"card","amount_cents":%d,"tip_cents":100}`, o.Totals.DueCents))
	w.patch(o, alice, `{"op":"close"}`)
}
