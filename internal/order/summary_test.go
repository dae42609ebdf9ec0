package order_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

func ip(n int) *int       { return &n }
func i64(n int64) *int64  { return &n }
func sp(s string) *string { return &s }

// TestSummary proves what the venue stream's summary says for each op, as
// the ops are applied (what the log records), with and without the order
// as it was before.
func TestSummary(t *testing.T) {
	fries := uuid.New()
	steak := uuid.New()
	before := &order.Order{Table: "T12", Guests: 4, Lines: []order.Line{
		{ID: fries, SKU: "fries", Name: "Fries", Qty: 2},
	}}
	cases := []struct {
		name   string
		before *order.Order
		ops    []order.Op
		want   string
	}{
		{"open", nil, []order.Op{order.OpenOp("T12", 4, nil)}, "opened for 4 guests"},
		{"add with seat", before, []order.Op{{Op: order.OpAddItem, LineID: &steak, SKU: "steak", Name: "Steak frites", Qty: ip(2), Seat: ip(1)}}, "+2 Steak frites (seat 1)"},
		{"add without seat", before, []order.Op{{Op: order.OpAddItem, LineID: &steak, SKU: "steak", Name: "Steak frites", Qty: ip(1), Seat: ip(0)}}, "+1 Steak frites"},
		{"qty", before, []order.Op{{Op: order.OpSetQty, LineID: &fries, Qty: ip(3)}}, "qty Fries 2→3"},
		{"qty of a line unknown", nil, []order.Op{{Op: order.OpSetQty, LineID: &fries, Qty: ip(3)}}, "qty a line →3"},
		{"qty of a line added by the same event", before, []order.Op{
			{Op: order.OpAddItem, LineID: &steak, SKU: "steak", Name: "Steak frites", Qty: ip(1)},
			{Op: order.OpSetQty, LineID: &steak, Qty: ip(2)}}, "+1 Steak frites, qty Steak frites 1→2"},
		{"remove", before, []order.Op{{Op: order.OpRemoveItem, LineID: &fries, SKU: "fries"}}, "removed Fries"},
		{"remove, order unknown", nil, []order.Op{{Op: order.OpRemoveItem, LineID: &fries, SKU: "fries"}}, "removed fries"},
		{"void", before, []order.Op{{Op: order.OpVoidItem, LineID: &fries, Name: "Fries", Qty: ip(1), Reason: "guest changed mind"}}, "voided 1 Fries: guest changed mind"},
		{"comp", before, []order.Op{{Op: order.OpCompItem, LineID: &fries, Name: "Dessert", Reason: "long wait"}}, "comped Dessert: long wait"},
		{"send course", before, []order.Op{{Op: order.OpSend, Course: ip(2), Lines: []uuid.UUID{fries}}}, "sent course 2"},
		{"send", before, []order.Op{{Op: order.OpSend, Lines: []uuid.UUID{fries}}}, "sent"},
		{"guests", before, []order.Op{{Op: order.OpSetGuests, Guests: ip(6)}}, "guests 4→6"},
		{"guests, order unknown", nil, []order.Op{{Op: order.OpSetGuests, Guests: ip(6)}}, "guests 6"},
		{"note", before, []order.Op{{Op: order.OpSetNote, Note: sp("birthday\ncake at 9")}}, "note: birthday cake at 9"},
		{"note cleared", before, []order.Op{{Op: order.OpSetNote, Note: sp("")}}, "note cleared"},
		{"move", before, []order.Op{{Op: order.OpMoveTable, Table: "T5"}}, "moved T12→T5"},
		{"move, order unknown", nil, []order.Op{{Op: order.OpMoveTable, Table: "T5"}}, "moved to T5"},
		{"pay with tip", before, []order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64(4800), TipCents: i64(500)}}, "paid 48.00 card (+5.00 tip)"},
		{"pay", before, []order.Op{{Op: order.OpAddPayment, Tender: "cash", AmountCents: i64(1205), TipCents: i64(0)}}, "paid 12.05 cash"},
		{"tip alone", before, []order.Op{{Op: order.OpAddPayment, Tender: "card", AmountCents: i64(0), TipCents: i64(300)}}, "tip 3.00 card"},
		{"refund", before, []order.Op{{Op: order.OpRefundPayment, Tender: "card", AmountCents: i64(1000), TipCents: i64(200), Reason: "cold"}}, "refund 10.00 card (+2.00 tip): cold"},
		{"discount percent on a line", before, []order.Op{{Op: order.OpAddDiscount, ID: "d1", LineID: &fries, PercentBps: i64(1250), Reason: "regular"}}, "discount 12.5% on Fries: regular"},
		{"discount amount", before, []order.Op{{Op: order.OpAddDiscount, ID: "d1", AmountCents: i64(500), Reason: "sorry"}}, "discount 5.00: sorry"},
		{"remove discount", before, []order.Op{{Op: order.OpRemoveDiscount, DiscountID: "d1"}}, "removed discount d1"},
		{"waive", before, []order.Op{{Op: order.OpWaiveServiceCharge, Reason: "owner's friends"}}, "waived service charge: owner's friends"},
		{"close", before, []order.Op{{Op: order.OpClose}}, "closed"},
		{"pay and close", before, []order.Op{
			{Op: order.OpAddPayment, Tender: "card", AmountCents: i64(4800), TipCents: i64(0)}, {Op: order.OpClose}}, "paid 48.00 card, closed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, order.Summary(tc.before, tc.ops))
		})
	}
}

// TestSummaryBounded proves the bound: a long note is cut, and an event of
// many ops stays within MaxSummaryLen, saying how many parts it left out.
func TestSummaryBounded(t *testing.T) {
	long := order.Summary(nil, []order.Op{{Op: order.OpSetNote, Note: sp(strings.Repeat("é", 300))}})
	require.LessOrEqual(t, utf8.RuneCountInString(long), 80)
	require.True(t, strings.HasSuffix(long, "…"), long)

	var ops []order.Op
	for i := 0; i < 100; i++ {
		id := uuid.New()
		ops = append(ops, order.Op{Op: order.OpAddItem, LineID: &id, SKU: "fries", Name: "Fries", Qty: ip(1)})
	}
	s := order.Summary(nil, ops)
	require.LessOrEqual(t, utf8.RuneCountInString(s), order.MaxSummaryLen)
	shown := strings.Count(s, "+1 Fries")
	require.Greater(t, shown, 10)
	require.True(t, strings.HasSuffix(s, "…, +"+strconv.Itoa(100-shown)+" more"), s)

	// Parts of the longest size still fit with their count.
	ops = ops[:0]
	for i := 0; i < 10; i++ {
		ops = append(ops, order.Op{Op: order.OpSetNote, Note: sp(strings.Repeat("x", 300))})
	}
	s = order.Summary(nil, ops)
	require.LessOrEqual(t, utf8.RuneCountInString(s), order.MaxSummaryLen)
	require.True(t, strings.HasSuffix(s, "…, +8 more"), s)
}

// TestNextFollowsFold proves Order.Next is Fold's step: following an
// order's events one by one gives what folding them does, and leaves the
// order it started from as it was.
func TestNextFollowsFold(t *testing.T) {
	fries := uuid.New()
	at := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	evs := []order.Event{
		{Version: 1, Type: "order.opened", At: at, Ops: []order.Op{order.OpenOp("T1", 2, nil)}},
		{Version: 2, Type: "order.patched", At: at, Ops: []order.Op{{Op: order.OpAddItem, LineID: &fries, SKU: "fries", Name: "Fries", Qty: ip(2), UnitPriceCents: i64(450)}}},
		{Version: 3, Type: "order.patched", At: at, Ops: []order.Op{{Op: order.OpRemoveItem, LineID: &fries}, {Op: order.OpMoveTable, Table: "T5"}}},
	}
	var o order.Order
	var steps []order.Order
	for _, ev := range evs {
		n, err := o.Next(ev)
		require.NoError(t, err)
		steps = append(steps, n)
		o = n
	}
	require.Len(t, steps[1].Lines, 1, "removing the line in version 3 left version 2 as it was")
	require.Equal(t, "T1", steps[1].Table)
	want, err := order.Fold(evs)
	require.NoError(t, err)
	require.Equal(t, want.Table, o.Table)
	require.Equal(t, want.Lines, o.Lines)
	require.Equal(t, want.Version, o.Version)
	_, err = steps[0].Next(evs[2])
	require.Error(t, err, "a version that does not follow")
}
