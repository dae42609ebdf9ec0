package httpapi_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/seed"
)

// TestPOSLiveUpdates: the handheld follows posd's venue stream, end to end. A table a
// colleague opens shows as occupied on the floor without a tap; a change to
// the order on screen shows at once when there is no draft; with a draft,
// the handheld says who changed the table and keeps the draft; after losing
// its network it resumes the stream from its cursor (Last-Event-ID) and
// shows what happened meanwhile.
func TestPOSLiveUpdates(t *testing.T) {
	needChromium(t)
	f := start(t, apitest.Options{Heartbeat: 500 * time.Millisecond})
	proxy := newTabletProxy(t, f.BaseURL)
	h := openPOS(t, f, proxy.URL, seed.TokenWaiter1, phoneW, phoneH)
	h.waitFor("the stream to be live", `document.querySelector('#live').dataset.state === 'live'`)

	// A colleague opens T7: the floor shows it.
	o := f.Waiter2.Open("T7", 3)
	h.waitFor("T7 occupied on the floor", `document.querySelector('#tables button[data-table="T7"]').dataset.state === 'occupied'`)
	require.Contains(t, h.eval(`document.querySelector('#tables button[data-table="T7"]').innerText`), "Bruno")

	// No draft: the order on screen follows.
	h.openOrder("T7", 1)
	f.Waiter2.Patch(o.ID, 1, apitest.AddItem("steak", 1, apitest.Seat(2)))
	h.waitFor("Bruno's steak on screen", `!!document.querySelector('.line[data-sku="steak"]') && +document.querySelector('#order').dataset.version === 2`)

	// A draft: the handheld says who changed the table and keeps it.
	h.order("fries", 1)
	f.Waiter2.Patch(o.ID, 2, apitest.AddItem("beer", 1))
	h.waitFor("the notice", `!document.querySelector('#notice').hidden`)
	require.Contains(t, h.eval(`document.querySelector('#notice-text').textContent`), "Bruno changed this table")
	require.Equal(t, "true", h.eval(`String(!!document.querySelector('.line[data-draft="1"][data-sku="fries"]') && !document.querySelector('.line[data-sku="beer"]'))`),
		"the draft is kept and the view is not swapped under it")
	h.save()
	h.waitFor("the merge screen", `!document.querySelector('#merge').hidden`)
	require.Contains(t, h.eval(`document.querySelector('#merge-theirs').innerText`), "+1 Draft beer, the table (Bruno, ")
	h.press("#merge-apply")
	h.waitSent()
	require.Equal(t, []string{"1×beer", "1×fries", "1×steak"}, linesOf(f.Waiter.Order(o.ID)))

	// The network goes; T8 is opened meanwhile; back, the stream resumes
	// from its cursor and the floor shows T8.
	h.press("#back")
	cursor := h.eval(`document.querySelector('#live').dataset.cursor`)
	require.NotEmpty(t, cursor)
	proxy.cut()
	h.waitFor("the stream to drop", `document.querySelector('#live').dataset.state !== 'live'`)
	f.Waiter2.Open("T8", 2)
	proxy.restore()
	h.waitFor("live again", `document.querySelector('#live').dataset.state === 'live'`)
	h.waitFor("T8 occupied", `document.querySelector('#tables button[data-table="T8"]').dataset.state === 'occupied'`)
	reqs := proxy.requests()
	require.True(t, slices.ContainsFunc(reqs, func(q streamReq) bool { return !q.Refused && q.LastEventID != "" }),
		"resumed with Last-Event-ID: %+v", reqs)
	for _, q := range reqs[1:] {
		require.True(t, q.LastEventID != "", fmt.Sprintf("every reconnect carries the cursor: %+v", reqs))
	}
	h.noExceptions()
}
