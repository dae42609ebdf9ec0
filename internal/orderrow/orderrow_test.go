package orderrow

import (
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
