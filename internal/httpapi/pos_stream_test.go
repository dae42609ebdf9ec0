package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// standInStream answers GET /v1/stream to the venue stream's contract
// (docs/API.md, The handheld): SSE, `ready` first without a cursor, then
// order.opened|order.patched, menu.changed and reset events whose id is the
// cursor; Last-Event-ID resumes after it; heartbeat comments. The test
// publishes what posd would, so the handheld's stream client is tested on
// its own (a reset, a cursor from ready) whichever posd it talks to;
// TestPOSLiveUpdates runs it against posd's own stream.
type standInStream struct {
	token string
	mu    sync.Mutex
	evs   []venueEvent
	wake  chan struct{}
}

type venueEvent struct {
	ID    int
	Event string
	Data  string
}

func newStandInStream(token string) *standInStream {
	return &standInStream{token: token, wake: make(chan struct{})}
}

// publish appends an event and wakes every open connection.
func (s *standInStream) publish(event string, data any) {
	b, err := json.Marshal(data)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.evs = append(s.evs, venueEvent{ID: len(s.evs) + 1, Event: event, Data: string(b)})
	close(s.wake)
	s.wake = make(chan struct{})
	s.mu.Unlock()
}

// orderEvent publishes the stream's message for o at its version, by actor.
func (s *standInStream) orderEvent(o order.Order, typ, staff, summary string) {
	s.publish(typ, map[string]any{"order_id": o.ID, "table": o.Table, "version": o.Version, "type": typ,
		"actor": map[string]string{"device": "waiter-2", "staff": staff, "role": "waiter"}, "at": time.Now().UTC(), "summary": summary})
}

func (s *standInStream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", "stand-in")
	if r.Header.Get("Authorization") != "Bearer "+s.token || r.URL.Query().Get("access_token") != "" {
		http.Error(w, `{"type":"https://posd.dev/problems/unauthorized","status":401}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	flush := http.NewResponseController(w)
	after := 0
	s.mu.Lock()
	if c := r.Header.Get("Last-Event-ID"); c != "" {
		after, _ = strconv.Atoi(c)
	} else {
		after = len(s.evs)
		fmt.Fprintf(w, "event: ready\nid: %d\ndata: {\"cursor\":%d}\n\n", after, after)
	}
	s.mu.Unlock()
	for {
		s.mu.Lock()
		pending, wake := slices.Clone(s.evs[min(after, len(s.evs)):]), s.wake
		s.mu.Unlock()
		for _, e := range pending {
			fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", e.ID, e.Event, e.Data)
			after = e.ID
		}
		if err := flush.Flush(); err != nil {
			return
		}
		select {
		case <-wake:
		case <-time.After(500 * time.Millisecond):
			fmt.Fprint(w, ": heartbeat\n\n")
		case <-r.Context().Done():
			return
		}
	}
}

// TestPOSStreamClientToTheContract: the handheld's venue stream client
// against a stand-in that speaks the contract. A table a colleague opens
// shows as occupied without a tap; a change to the order on screen shows at
// once when there is no draft; with a draft the handheld says who changed
// the table and keeps the draft (the save then goes through the merge
// screen); after a network loss it reconnects with Last-Event-ID (the token
// only in the header) and catches up.
func TestPOSStreamClientToTheContract(t *testing.T) {
	needChromium(t)
	f := start(t)
	proxy := newTabletProxy(t, f.BaseURL)
	stream := newStandInStream(seed.TokenWaiter1)
	proxy.venueStream = stream
	h := openPOS(t, f, proxy.URL, seed.TokenWaiter1, phoneW, phoneH)
	h.waitFor("the stream to be live", `document.querySelector('#live').dataset.state === 'live'`)
	require.Equal(t, "0", h.eval(`document.querySelector('#live').dataset.cursor`), "the cursor of the ready event")

	o := f.Waiter2.Open("T7", 3)
	stream.orderEvent(o, "order.opened", "Bruno", "opened T7 for 3")
	h.waitFor("T7 occupied on the floor", `document.querySelector('#tables button[data-table="T7"]').dataset.state === 'occupied'`)
	require.Contains(t, h.eval(`document.querySelector('#tables button[data-table="T7"]').innerText`), "Bruno")

	// No draft: the order on screen follows.
	h.openOrder("T7", 1)
	o = f.Waiter2.Patch(o.ID, 1, apitest.AddItem("steak", 1, apitest.Seat(2)))
	stream.orderEvent(o, "order.patched", "Bruno", "+1 Steak frites, seat 2")
	h.waitFor("Bruno's steak on screen", `!!document.querySelector('.line[data-sku="steak"]') && +document.querySelector('#order').dataset.version === 2`)

	// A draft: the handheld says who changed the table and keeps it.
	h.order("fries", 1)
	o = f.Waiter2.Patch(o.ID, 2, apitest.AddItem("beer", 1))
	stream.orderEvent(o, "order.patched", "Bruno", "+1 Draft beer, seat 0")
	h.waitFor("the notice", `!document.querySelector('#notice').hidden`)
	require.Contains(t, h.eval(`document.querySelector('#notice-text').textContent`), "Bruno changed this table: +1 Draft beer")
	require.Equal(t, "true", h.eval(`String(!!document.querySelector('.line[data-draft="1"][data-sku="fries"]') && !document.querySelector('.line[data-sku="beer"]'))`),
		"the draft is kept and the order is not swapped under it")
	h.save()
	h.waitFor("the merge screen", `!document.querySelector('#merge').hidden`)
	h.press("#merge-apply")
	h.waitSent()
	require.Equal(t, []string{"1×beer", "1×fries", "1×steak"}, linesOf(f.Waiter.Order(o.ID)))
	h.waitFor("the notice gone", `document.querySelector('#notice').hidden`)

	// The network goes; T8 is opened meanwhile; back, the stream resumes
	// from its cursor and the floor shows T8.
	h.press("#back")
	cursor := h.eval(`document.querySelector('#live').dataset.cursor`)
	require.Equal(t, "3", cursor)
	proxy.cut()
	h.waitFor("the stream to drop", `document.querySelector('#live').dataset.state !== 'live'`)
	stream.orderEvent(f.Waiter2.Open("T8", 2), "order.opened", "Bruno", "opened T8 for 2")
	proxy.restore()
	h.waitFor("live again", `document.querySelector('#live').dataset.state === 'live'`)
	h.waitFor("T8 occupied", `document.querySelector('#tables button[data-table="T8"]').dataset.state === 'occupied'`)
	reqs := proxy.requests()
	require.Equal(t, streamReq{}, reqs[0], "the first connection has no cursor")
	for _, q := range reqs[1:] {
		require.Equal(t, cursor, q.LastEventID, "every reconnect resumes from the cursor: %+v", reqs)
	}
	require.Equal(t, "4", h.eval(`document.querySelector('#live').dataset.cursor`))

	// A reset: the floor is read again.
	f.Waiter2.Open("T12", 2)
	stream.publish("reset", map[string]string{"reason": "stream store lost"})
	h.waitFor("T12 occupied after the reset", `document.querySelector('#tables button[data-table="T12"]').dataset.state === 'occupied'`)
	h.noExceptions()
}
