package orderrow

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestFromRow: an orders_full row becomes the order: times in UTC, lines
// with their positions, no payments as an empty list, totals computed, and
// undecodable JSON an error naming the order.
func TestFromRow(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	opened := time.Date(2026, 12, 1, 20, 0, 0, 0, paris)
	closed := opened.Add(time.Hour)
	id, lineID := uuid.New(), uuid.New()
	r := Row{
		VenueID: "demo", ID: id, TableID: "T1", Status: "closed", Guests: 2, Note: "window", Version: 3,
		ServerStaff: "Alice", OpenedAt: opened, UpdatedAt: closed, ClosedAt: &closed, LastHash: []byte{1, 2},
		Lines: []byte(`[{"id":"` + lineID.String() + `","position":4,"sku":"steak","name":"Steak","qty":2,"unit_price_cents":2400,` +
			`"station":"grill","status":"sent","comped":false,"seat":0,"course":1,"modifiers":[]}]`),
		Payments: []byte(`null`),
	}
	o, err := FromRow(r)
	require.NoError(t, err)
	require.Equal(t, id, o.ID)
	require.Equal(t, "demo", o.Venue)
	require.Equal(t, "T1", o.Table)
	require.Equal(t, 2, o.Guests)
	require.Equal(t, "window", o.Note)
	require.EqualValues(t, 3, o.Version)
	require.Equal(t, "Alice", o.Server)
	require.Equal(t, time.UTC, o.OpenedAt.Location())
	require.True(t, o.OpenedAt.Equal(opened))
	require.Equal(t, time.UTC, o.ClosedAt.Location())
	require.Equal(t, []byte{1, 2}, o.ChainHead)
	require.Len(t, o.Lines, 1)
	require.Equal(t, lineID, o.Lines[0].ID)
	require.Equal(t, 4, o.Lines[0].Position)
	require.NotNil(t, o.Payments)
	require.Empty(t, o.Payments)
	require.EqualValues(t, 4800, o.Totals.SubtotalCents)
	require.EqualValues(t, 4800, o.Totals.DueCents)

	r.Payments = []byte(`[{"tender":"cash","amount_cents":4800,"tip_cents":200}]`)
	o, err = FromRow(r)
	require.NoError(t, err)
	require.Len(t, o.Payments, 1)
	require.Zero(t, o.Totals.DueCents, "a tip does not settle the check; the amount does")

	for _, bad := range []Row{{ID: id, Lines: []byte(`{`), Payments: []byte(`[]`)}, {ID: id, Lines: []byte(`[]`), Payments: []byte(`{`)}} {
		_, err := FromRow(bad)
		require.ErrorContains(t, err, id.String())
	}
}

// BenchmarkFromRow decodes the row of a ten-line order with pricing rules,
// as every PATCH reads its order (orders_full, then FromRow).
func BenchmarkFromRow(b *testing.B) {
	line := `{"id":"01a2351b-e1cb-7f1f-a276-2c88480585%02d","position":%d,"sku":"burger","name":"Bistro burger","qty":1,` +
		`"unit_price_cents":1600,"seat":0,"course":1,"modifiers":[],"note":"","station":"grill","status":"pending",` +
		`"comped":false,"options":[{"group":"sides","option":"truffle-fries","name":"Truffle fries","price_cents":450}],"tax_class":"food"}`
	lines := "["
	for i := range 10 {
		if i > 0 {
			lines += ","
		}
		lines += fmt.Sprintf(line, i, i)
	}
	lines += "]"
	r := Row{VenueID: "demo", ID: uuid.New(), TableID: "B1", Status: "open", Guests: 4, Version: 11, ServerStaff: "Alice",
		OpenedAt: time.Now(), UpdatedAt: time.Now(), Lines: []byte(lines),
		Payments:  []byte(`[{"id":"01a2351b-e1cb-7f1f-a276-2c88480585ec","tender":"card","amount_cents":1000,"tip_cents":0,"refund_of":null,"reason":""}]`),
		Pricing:   []byte(`{"tax_classes":[{"id":"food","name":"Food","rate_bps":1000,"inclusive":true},{"id":"drinks","name":"Drinks","rate_bps":2000,"inclusive":true}],"service_charge":{"min_guests":8,"rate_bps":1800,"tax_class":"food"}}`),
		Discounts: []byte(`[]`)}
	if _, err := FromRow(r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromRow(r); err != nil {
			b.Fatal(err)
		}
	}
}
