package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// TestKDSTicketFollowsMovedLines: a steak ticket on the grill screen stays
// the same card when its lines move (it is not fired again). One of two
// steaks moved to T12 shows the card on "T11 + T12" with where each part
// is; the rest following (T11 merged into T12) shows it on T12, "moved
// from T11". The card bumps as usual, and a screen loaded afresh shows it
// the same way.
func TestKDSTicketFollowsMovedLines(t *testing.T) {
	needChromium(t)
	f := start(t)
	p := openKDS(t, f.Stack.BaseURL+"/kds?station=grill&token="+seed.TokenKitchen)
	p.waitFor("the stream to be live", `document.querySelector('#conn').dataset.state === 'live'`)

	a := f.Fired("T11", apitest.AddItem("steak", 2))
	b := f.Open("T12")
	steak := openTicket(f, a, "fire")
	p.waitCard(steak)
	require.Equal(t, "T11", p.card(steak).Table)

	part := uuid.New()
	from, to := f.Waiter.TryTransfer(a.ID, a.Version, apitest.Ref(b),
		[]order.LineMove{{LineID: a.Lines[0].ID, Qty: ptr(1), NewLineID: &part}}).Pair(t)
	p.waitFor("the card to show both tables", fmt.Sprintf(
		`(document.querySelector('[data-ticket-id=%q]') || {dataset: {}}).dataset.table === 'T11 + T12'`, steak))
	c := p.card(steak)
	require.Contains(t, c.Text, "1 → T11")
	require.Contains(t, c.Text, "1 → T12")
	require.Len(t, p.cards(), 1, "the moved steak is not a new ticket")

	f.Waiter.TryMerge(to.ID, to.Version, apitest.Ref(from)).Pair(t)
	p.waitFor("the card to follow the rest", fmt.Sprintf(
		`(document.querySelector('[data-ticket-id=%q]') || {dataset: {}}).dataset.table === 'T12'`, steak))
	c = p.card(steak)
	require.Contains(t, c.Text, "moved from T11")
	require.NotContains(t, c.Text, "→", "all of it is on one table")
	require.Len(t, p.cards(), 1)

	// A screen loaded now shows it the same way, from the API's tickets.
	p2 := openKDS(t, f.Stack.BaseURL+"/kds?station=grill&token="+seed.TokenKitchen)
	p2.waitCard(steak)
	require.Equal(t, "T12", p2.card(steak).Table)
	require.Contains(t, p2.card(steak).Text, "moved from T11")

	p.tap(steak)
	p.waitGone(steak)
	p.waitFor("the recall button to name the table", `document.querySelector('#recall').textContent.includes('T12')`)
	apitest.Eventually(t, 5*time.Second, func() bool { return len(grillTickets(f)) == 0 }, "the grill to have no open tickets")
	p.noExceptions()
	p2.noExceptions()
}
