package httpapi_test

// Venue stream tests (GET /v1/stream, DESIGN.md section 10), through real
// HTTP against a real posd, Postgres, embedded NATS and outbox relay:
//
//   - TestVenueStreamColleaguesPatch: waiter B's stream shows waiter A's
//     changes with table, version, actor and summary, after a ready event.
//   - TestVenueStreamResume: a handheld that drops again and again and
//     resumes with Last-Event-ID gets every order event of the venue once,
//     in order, as Postgres has them.
//   - TestVenueStreamReset: a replay over the bound, a cursor ahead of the
//     stream: reset with the current cursor, then live.
//   - TestVenueStreamMenuChanged: menu.changed, as the kitchen stream sends it.
//   - TestVenueStreamIsolation: a venue's stream has no other venue's message.
//   - TestVenueStreamRefusals: roles, limits, bad cursors, revocation.

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// venueStream opens GET /v1/stream as token, with the query (may be empty)
// and headers.
func venueStream(t *testing.T, f *apitest.Fixture, token, query string, header map[string]string) *sseConn {
	t.Helper()
	h := map[string]string{"Authorization": "Bearer " + token}
	for k, v := range header {
		h[k] = v
	}
	return connectSSEAt(t, f, "/v1/stream?"+query, h)
}

// change decodes an order event of the venue stream.
func change(t *testing.T, ev sseEvent) kds.Change {
	t.Helper()
	var c kds.Change
	require.NoError(t, json.Unmarshal(ev.Data, &c), "%s", ev.Data)
	return c
}

// ready reads the first event of a stream opened without a cursor and
// returns its cursor.
func readyCursor(t *testing.T, c *sseConn) uint64 {
	t.Helper()
	ev := c.next(t, 10*time.Second)
	require.Equal(t, kds.VenueReady, ev.Type)
	require.True(t, ev.HasID)
	require.JSONEq(t, `{"cursor":`+strconv.FormatUint(ev.ID, 10)+`}`, string(ev.Data))
	return ev.ID
}

// nextChange skips menu.changed and returns the next order event.
func nextChange(t *testing.T, c *sseConn) (sseEvent, kds.Change) {
	t.Helper()
	for {
		ev := c.next(t, 20*time.Second)
		if ev.Type == "menu.changed" {
			continue
		}
		require.Contains(t, []string{"order.opened", "order.patched"}, ev.Type, "%s", ev.Data)
		require.True(t, ev.HasID)
		return ev, change(t, ev)
	}
}

// TestVenueStreamColleaguesPatch proves that waiter B's stream, opened
// first (ready, with the cursor), shows waiter A's open and PATCHes: the
// table (the new one after a move), the version, the actor and what
// changed in words, with ids increasing.
func TestVenueStreamColleaguesPatch(t *testing.T) {
	f := sseFixture(t)
	b := venueStream(t, f, seed.TokenWaiter2, "", nil)
	cursor := readyCursor(t, b)

	o := f.Waiter.Open("T7", 4)
	o = f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 2, apitest.Seat(1)))
	fries := f.Waiter.Patch(o.ID, 2, apitest.AddItem("fries", 2))
	line := fries.Lines[len(fries.Lines)-1].ID
	f.Waiter.Patch(o.ID, 3, apitest.SetQty(line, 3), apitest.SetGuests(6))
	f.Waiter.Patch(o.ID, 4, order.Op{Op: order.OpMoveTable, Table: "T8"})

	want := []struct {
		typ, table, summary string
	}{
		{"order.opened", "T7", "opened for 4 guests"},
		{"order.patched", "T7", "+2 Steak frites (seat 1)"},
		{"order.patched", "T7", "+2 Fries"},
		{"order.patched", "T7", "qty Fries 2→3, guests 4→6"},
		{"order.patched", "T8", "moved T7→T8"},
	}
	last := cursor
	for i, w := range want {
		ev, c := nextChange(t, b)
		require.Greater(t, ev.ID, last, "ids increase")
		last = ev.ID
		require.Equal(t, w.typ, ev.Type)
		require.Equal(t, o.ID, c.OrderID)
		require.Equal(t, int64(i+1), c.Version)
		require.Equal(t, w.typ, c.Type)
		require.Equal(t, w.table, c.Table)
		require.Equal(t, w.summary, c.Summary)
		require.Equal(t, "Alice", c.Actor.Staff)
		require.Equal(t, order.RoleWaiter, c.Actor.Role)
		require.NotEmpty(t, c.Actor.Device)
		require.False(t, c.At.IsZero())
	}

	// Resumed after the move, the old events keep the table they had.
	r := venueStream(t, f, seed.TokenAuditor, "after="+strconv.FormatUint(cursor, 10), nil)
	for _, w := range want {
		_, c := nextChange(t, r)
		require.Equal(t, w.table, c.Table)
		require.Equal(t, w.summary, c.Summary)
	}
	r.quiet(t)
	b.quiet(t)
}

// TestVenueStreamResume proves no gap and no duplicate across reconnects:
// while four waiters change their orders, a handheld that reads a few
// events, drops and resumes with Last-Event-ID (or ?after=), over and over,
// receives exactly the venue's order events that Postgres holds, each once,
// in stream order and, per order, in version order.
func TestVenueStreamResume(t *testing.T) {
	f := sseFixture(t)
	c := venueStream(t, f, seed.TokenManager, "", nil)
	cursor := readyCursor(t, c)

	waiters := []*apitest.Client{f.Waiter, f.Waiter2, f.As(t, seed.TokenWaiter3), f.As(t, seed.TokenWaiter4)}
	const rounds = 15
	var wg sync.WaitGroup
	for i, w := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := w.Open("T"+strconv.Itoa(20+i), 2)
			v := o.Version
			for r := 0; r < rounds; r++ {
				v = w.Patch(o.ID, v, apitest.AddItem("fries", 1)).Version
			}
		}()
	}

	type key struct {
		id uuid.UUID
		v  int64
	}
	var got []key
	seen := map[key]bool{}
	wantTotal := len(waiters) * (rounds + 1)
	last := cursor
	for conn := 0; len(got) < wantTotal; conn++ {
		if conn > 0 {
			if conn%2 == 0 {
				c = venueStream(t, f, seed.TokenManager, "", map[string]string{"Last-Event-ID": strconv.FormatUint(last, 10)})
			} else {
				c = venueStream(t, f, seed.TokenManager, "after="+strconv.FormatUint(last, 10), nil)
			}
		}
		// Read 1 to 7 events, then drop.
		for n := 0; n < 1+conn%7 && len(got) < wantTotal; n++ {
			ev, ch := nextChange(t, c)
			require.Greater(t, ev.ID, last, "cursors strictly increase across connections")
			last = ev.ID
			k := key{ch.OrderID, ch.Version}
			require.False(t, seen[k], "duplicate %v", k)
			seen[k] = true
			got = append(got, k)
		}
		c.close()
	}
	wg.Wait()
	waitPublished(t, f)
	c = venueStream(t, f, seed.TokenManager, "after="+strconv.FormatUint(last, 10), nil)
	c.quiet(t) // nothing more

	// Against the log: exactly the venue's events after the ready cursor.
	rows, err := f.DB.Admin.Query(t.Context(), `SELECT order_id, version FROM order_events WHERE venue_id = 'demo'`)
	require.NoError(t, err)
	var want []key
	for rows.Next() {
		var k key
		require.NoError(t, rows.Scan(&k.id, &k.v))
		want = append(want, k)
	}
	require.NoError(t, rows.Err())
	require.Len(t, got, len(want))
	for _, k := range want {
		require.True(t, seen[k], "missing %v", k)
	}
	next := map[uuid.UUID]int64{}
	for _, k := range got {
		require.Equal(t, next[k.id]+1, k.v, "order %s in version order", k.id)
		next[k.id] = k.v
	}
}

// TestVenueStreamReset proves the replay bound (MaxReplay 5 here): a cursor
// followed by at most 5 of the venue's messages gets them, one followed by
// more gets a reset with the current cursor, then live messages; so does a
// cursor ahead of the stream. Other venues' messages do not count.
func TestVenueStreamReset(t *testing.T) {
	f := streamFixture(t, apitest.Options{StreamLimits: httpapi.StreamLimits{MaxReplay: 5}})
	c := venueStream(t, f, seed.TokenWaiter1, "", nil)
	cursor := readyCursor(t, c)
	c.close()
	o := f.Waiter.Open("T3", 2)
	for v := int64(1); v < 5; v++ {
		f.Waiter.Patch(o.ID, v, apitest.AddItem("fries", 1))
	}
	// Another venue's messages are not the venue's.
	z := f.Other.Open("T1", 2)
	for v := int64(1); v < 5; v++ {
		f.Other.Patch(z.ID, v, apitest.AddItem("fries", 1))
	}
	waitPublished(t, f)
	at := "after=" + strconv.FormatUint(cursor, 10)
	c = venueStream(t, f, seed.TokenWaiter1, at, nil)
	for v := int64(1); v <= 5; v++ {
		_, ch := nextChange(t, c)
		require.Equal(t, v, ch.Version)
	}
	c.quiet(t)
	c.close()

	f.Waiter.Patch(o.ID, 5, apitest.AddItem("fries", 1)) // the sixth
	waitPublished(t, f)
	c = venueStream(t, f, seed.TokenWaiter1, at, nil)
	ev := c.next(t, 10*time.Second)
	require.Equal(t, kds.VenueReset, ev.Type)
	require.True(t, ev.HasID)
	var reason struct{ Reason string }
	require.NoError(t, json.Unmarshal(ev.Data, &reason))
	require.Contains(t, reason.Reason, "more than the 5")
	c.quiet(t)
	// Then live, from the reset's cursor.
	f.Waiter.Patch(o.ID, 6, apitest.AddItem("fries", 1))
	live, ch := nextChange(t, c)
	require.Greater(t, live.ID, ev.ID)
	require.Equal(t, int64(7), ch.Version)
	c.close()
	// Resuming from the reset's cursor gives exactly what came after it.
	c = venueStream(t, f, seed.TokenWaiter1, "after="+strconv.FormatUint(ev.ID, 10), nil)
	_, ch = nextChange(t, c)
	require.Equal(t, int64(7), ch.Version)
	c.quiet(t)
	c.close()

	// A cursor ahead of the stream: reset, not a silent nothing.
	c = venueStream(t, f, seed.TokenWaiter1, "", map[string]string{"Last-Event-ID": "9000000000"})
	ev = c.next(t, 10*time.Second)
	require.Equal(t, kds.VenueReset, ev.Type)
	require.Equal(t, live.ID, ev.ID)
	require.Contains(t, string(ev.Data), "after the stream's last message")
	c.close()
}

// TestVenueStreamMenuChanged proves an availability change reaches the
// venue stream as menu.changed, with the data the kitchen stream sends.
func TestVenueStreamMenuChanged(t *testing.T) {
	f := sseFixture(t)
	v := venueStream(t, f, seed.TokenWaiter1, "", nil)
	readyCursor(t, v)
	k := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	k.quiet(t)
	r := f.Kitchen.Post("/v1/menu/items/steak/availability", map[string]any{"available": false})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	got := v.next(t, 20*time.Second)
	require.Equal(t, "menu.changed", got.Type)
	var kev sseEvent
	for kev = k.next(t, 20*time.Second); kev.Type != "menu.changed"; kev = k.next(t, 20*time.Second) {
	}
	require.Equal(t, kev.ID, got.ID)
	require.Equal(t, string(kev.Data), string(got.Data))
	require.Contains(t, string(got.Data), "steak")
}

// TestVenueStreamIsolation proves that a venue's stream carries none of
// another venue's messages: demo2's order and menu change never reach demo's
// stream, nor demo's reach demo2's, live or replayed.
func TestVenueStreamIsolation(t *testing.T) {
	f := sseFixture(t)
	demo := venueStream(t, f, seed.TokenWaiter1, "", nil)
	from := readyCursor(t, demo)
	demo2 := venueStream(t, f, seed.TokenDemo2Waiter, "", nil)
	readyCursor(t, demo2)

	z := f.Other.Open("T2", 3)
	f.Other.Patch(z.ID, 1, apitest.AddItem("fries", 1))
	zoe := f.AddDevice("demo2", "pass", order.RoleManager, "Zed")
	r := f.As(t, zoe).Post("/v1/menu/items/fries/availability", map[string]any{"remaining": 3})
	require.Equal(t, 200, r.Status, "%s", r.Body)
	a := f.Waiter.Open("T2", 2)

	// demo2 sees its own three, demo only its one.
	for i := 0; i < 3; i++ {
		ev := demo2.next(t, 20*time.Second)
		if ev.Type != "menu.changed" {
			require.Equal(t, z.ID, change(t, ev).OrderID)
		}
	}
	_, ch := nextChange(t, demo)
	require.Equal(t, a.ID, ch.OrderID)
	demo.quiet(t)
	demo2.quiet(t)
	waitPublished(t, f)
	replay := venueStream(t, f, seed.TokenWaiter1, "after="+strconv.FormatUint(from, 10), nil)
	ev := replay.next(t, 20*time.Second)
	require.Equal(t, a.ID, change(t, ev).OrderID)
	replay.quiet(t)
}

// TestVenueStreamRefusals proves who may open the venue stream and how a
// bad request is refused: the kitchen gets 403 (waiter, manager, auditor
// 200, ?access_token= too); a bad cursor is 400 naming its field; a device
// opening it too often gets the kitchen stream's 429 too-many-streams; a
// revoked device's stream ends.
func TestVenueStreamRefusals(t *testing.T) {
	f := streamFixture(t, apitest.Options{MaxConnsPerIP: manyConns, MaxConns: manyConns,
		StreamLimits: httpapi.StreamLimits{OpensPerDevice: 3}})
	apitest.RequireProblem(t, f.Kitchen.Get("/v1/stream"), 403, "forbidden")
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/stream?access_token=" + seed.TokenKitchen}), 403, "forbidden")
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/stream"}), 401, "unauthorized")
	for _, tok := range []string{seed.TokenWaiter1, seed.TokenManager, seed.TokenAuditor} {
		c := connectSSEAt(t, f, "/v1/stream?access_token="+tok, nil)
		readyCursor(t, c)
		c.close()
	}
	for _, tc := range []struct {
		req   apitest.Req
		field string
	}{
		{apitest.Req{Method: "GET", Path: "/v1/stream?after=x", Token: seed.TokenWaiter2}, "after"},
		{apitest.Req{Method: "GET", Path: "/v1/stream?after=-1", Token: seed.TokenWaiter2}, "after"},
		{apitest.Req{Method: "GET", Path: "/v1/stream?after=18446744073709551615", Token: seed.TokenWaiter2}, "after"},
		{apitest.Req{Method: "GET", Path: "/v1/stream", Token: seed.TokenWaiter2, Header: map[string]string{"Last-Event-ID": "nope"}}, "Last-Event-ID"},
		{apitest.Req{Method: "GET", Path: "/v1/stream?station=grill", Token: seed.TokenWaiter2}, "station"},
	} {
		apitest.RequireFieldProblem(t, f.Do(t, tc.req), 400, "bad-request", -1, tc.field)
	}

	// Opens per device: the fourth within the window is refused.
	for i := 0; i < 3; i++ {
		c := venueStream(t, f, seed.TokenWaiter3, "", nil)
		readyCursor(t, c)
		c.close()
	}
	r := f.As(t, seed.TokenWaiter3).Get("/v1/stream")
	p := apitest.RequireProblem(t, r, 429, "too-many-streams")
	require.Contains(t, p.Detail, "venue stream more than 3 times")
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	// The kitchen stream's counts are its own.
	k := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	k.close()

	// A revoked device's stream ends.
	token := f.AddDevice("demo", "hand-9", order.RoleWaiter, "Hana")
	c := venueStream(t, f, token, "", nil)
	readyCursor(t, c)
	f.RevokeDevice("demo", "hand-9")
	deadline := time.After(httpapi.DefaultStreamAuthCheck + 5*time.Second)
	for ended := false; !ended; {
		select {
		case _, ok := <-c.events:
			ended = !ok
		case <-deadline:
			t.Fatal("the revoked device's venue stream is still open")
		}
	}
	require.Equal(t, http.StatusUnauthorized, f.As(t, token).Get("/v1/stream").Status)
}
