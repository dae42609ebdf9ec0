package httpapi

import (
	"strings"
	"testing"

	"github.com/posd/posd/internal/order"
)

// BenchmarkReadPatch measures readPatch, everything a PATCH body goes
// through before the database, on a typical two-op body and on a body of
// order.MaxOps add_items.
func BenchmarkReadPatch(b *testing.B) {
	small := []byte(`{"expected_version":7,"ops":[{"op":"add_item","sku":"steak","qty":2,"modifiers":["no onions"]},{"op":"send"}]}`)
	large := []byte(`{"expected_version":7,"ops":[` +
		strings.TrimSuffix(strings.Repeat(`{"op":"add_item","sku":"steak","qty":2,"seat":1,"course":2,"modifiers":["no onions","extra sauce"],"note":"medium rare"},`, order.MaxOps), ",") +
		`],"force":false}`)
	for _, c := range []struct {
		name string
		body []byte
	}{{"Typical", small}, {"MaxOps", large}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := readPatch(c.body, "", order.RoleWaiter); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
