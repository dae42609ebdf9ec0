package httpapi_test

// Kitchen tests (DESIGN.md sections 4 and 5, invariants 4 and 5), through
// real HTTP against a real posd, Postgres, embedded NATS and outbox relay:
//
//   - TestKitchenTicketsPerStation: a send makes one fire ticket per station,
//     a course send only that course's, a void a void ticket; who may see
//     and bump tickets, and of which venue.
//   - TestKitchenBumpRecall: bump and recall are conditional, logged, and
//     never touch the order's version.
//   - TestKitchenSSEResume: a kitchen display that drops and reconnects with
//     its last cursor, while many waiters fire tickets, receives every
//     kitchen message of its station exactly once, in order.
//   - TestKitchenSSESnapshot: without a cursor a display first gets the open
//     tickets, then live messages.
//   - TestKitchenSSEAcrossNATSRestart: the same across a NATS restart.
//   - TestKitchenStreamAccessToken: ?access_token= works on the stream only.
//
// Helpers and types here carry a "kt" prefix so they cannot clash with other
// test files of package httpapi_test.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/outbox"
)

// ktTicket is a kitchen ticket as the API and the kitchen messages carry it.
type ktTicket struct {
	ID        string         `json:"id"`
	OrderID   string         `json:"order_id"`
	Table     string         `json:"table"`
	Station   string         `json:"station"`
	Kind      string         `json:"kind"`
	Lines     []ktTicketLine `json:"lines"`
	Status    string         `json:"status"`
	Server    string         `json:"server"`
	CreatedAt string         `json:"created_at"`
	BumpedAt  *string        `json:"bumped_at"`
}

type ktTicketLine struct {
	LineID    string   `json:"line_id"`
	Name      string   `json:"name"`
	Qty       int      `json:"qty"`
	Seat      int      `json:"seat"`
	Course    int      `json:"course"`
	Modifiers []string `json:"modifiers"`
	Note      string   `json:"note"`
}

// ktMessage is the body of a kitchen message.
type ktMessage struct {
	Type   string   `json:"type"`
	Ticket ktTicket `json:"ticket"`
}

// ktTickets lists a station's open tickets as token sees them.
func ktTickets(t *testing.T, f fixture, token, station string) []ktTicket {
	t.Helper()
	r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/tickets?station=" + station, Token: token})
	require.Equal(t, 200, r.Status, string(r.Body))
	var body struct {
		Tickets []ktTicket `json:"tickets"`
	}
	r.JSON(t, &body)
	require.NotNil(t, body.Tickets, "tickets is a list, never null")
	return body.Tickets
}

// ktMove bumps or recalls a ticket.
func ktMove(t *testing.T, f fixture, token, id, move string) apitest.Response {
	t.Helper()
	return f.Do(t, apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/" + id + "/" + move, Token: token})
}

// ktLineIDs maps each SKU of an order JSON to its line ids, in line order.
func ktLineIDs(o map[string]any) map[string][]string {
	ids := map[string][]string{}
	for _, l := range o["lines"].([]any) {
		m := l.(map[string]any)
		ids[m["sku"].(string)] = append(ids[m["sku"].(string)], m["id"].(string))
	}
	return ids
}

// ktLine is the ticket line expected for one order line.
func ktLine(id, name string, qty, seat, course int, mods []string, note string) ktTicketLine {
	if mods == nil {
		mods = []string{}
	}
	return ktTicketLine{LineID: id, Name: name, Qty: qty, Seat: seat, Course: course, Modifiers: mods, Note: note}
}

// TestKitchenTicketsPerStation proves that tickets follow the order's
// applied changes (section 4): one send of grill, fry and bar items makes
// exactly one fire ticket per station with that station's lines; a send of
// one course sends only that course; a manager's void of a sent line makes a
// void ticket for its station; tickets are listed oldest first; only kitchen
// and manager devices may read or move them, only for a known station, and
// only in their own venue (invariant 6).
func TestKitchenTicketsPerStation(t *testing.T) {
	f := setup(t)
	id := f.open("T3")
	o := f.mustPatch(waiter, id, 1,
		addItem("steak", "qty", 2, "seat", 1, "modifiers", []string{"medium rare"}, "note", "sauce apart"),
		addItem("burger", "seat", 2),
		addItem("fries", "seat", 1),
		addItem("beer", "seat", 2, "qty", 3),
		map[string]any{"op": "send"})
	lines := ktLineIDs(o)

	for _, tk := range []string{kitchen, manager} {
		grill := ktTickets(t, f, tk, "grill")
		require.Len(t, grill, 1)
		g := grill[0]
		require.Equal(t, "fire", g.Kind)
		require.Equal(t, "new", g.Status)
		require.Equal(t, id, g.OrderID)
		require.Equal(t, "T3", g.Table)
		require.Equal(t, "grill", g.Station)
		require.Equal(t, "Alice", g.Server)
		require.Nil(t, g.BumpedAt)
		_, err := time.Parse(time.RFC3339Nano, g.CreatedAt)
		require.NoError(t, err)
		require.Equal(t, []ktTicketLine{
			ktLine(lines["steak"][0], "Steak frites", 2, 1, 1, []string{"medium rare"}, "sauce apart"),
			ktLine(lines["burger"][0], "Bistro burger", 1, 2, 1, nil, ""),
		}, g.Lines)

		fry := ktTickets(t, f, tk, "fry")
		require.Len(t, fry, 1)
		require.Equal(t, []ktTicketLine{ktLine(lines["fries"][0], "Fries", 1, 1, 1, nil, "")}, fry[0].Lines)
		bar := ktTickets(t, f, tk, "bar")
		require.Len(t, bar, 1)
		require.Equal(t, []ktTicketLine{ktLine(lines["beer"][0], "Draft beer", 3, 2, 1, nil, "")}, bar[0].Lines)
		require.Empty(t, ktTickets(t, f, tk, "cold"))
	}
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE order_id = $1", id))
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM kitchen_ticket_events WHERE action = 'created'"))

	// Send course 2 only: the caesar goes to cold, the course-3 fries wait.
	o = f.mustPatch(waiter, id, 2,
		addItem("caesar", "course", 2, "seat", 3),
		addItem("fries", "course", 3, "seat", 3),
		map[string]any{"op": "send", "course": 2})
	lines = ktLineIDs(o)
	cold := ktTickets(t, f, kitchen, "cold")
	require.Len(t, cold, 1)
	require.Equal(t, []ktTicketLine{ktLine(lines["caesar"][0], "Caesar salad", 1, 3, 2, nil, "")}, cold[0].Lines)
	require.Len(t, ktTickets(t, f, kitchen, "fry"), 1, "the course-3 fries are not sent")
	for _, l := range o["lines"].([]any) {
		m := l.(map[string]any)
		want := "sent"
		if m["id"] == lines["fries"][1] {
			want = "pending"
		}
		require.Equal(t, want, m["status"], "line %v", m["sku"])
	}
	// A send of a course with nothing pending is refused, naming the course,
	// and writes and fires nothing (a bare send with nothing pending is a
	// 200 no-op: internal/order TestSendOfACourseWithNothingPendingNamesTheCourse).
	p := requireProblem(t, f.patch(waiter, id, 3, map[string]any{"op": "send", "course": 5}), 422, "validation-failed")
	requireFieldError(t, p, 0, "course")
	require.Contains(t, string(f.patch(waiter, id, 3, map[string]any{"op": "send", "course": 5}).Body), "course 5 has no pending lines")
	require.EqualValues(t, 4, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets"))
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))

	// The manager voids the sent steak: a void ticket for the grill, after
	// the fire ticket (oldest first).
	f.mustPatch(manager, id, 3, map[string]any{"op": "void_item", "line_id": lines["steak"][0], "reason": "guest left"})
	grill := ktTickets(t, f, kitchen, "grill")
	require.Len(t, grill, 2)
	require.Equal(t, "fire", grill[0].Kind)
	require.Equal(t, "void", grill[1].Kind)
	require.Equal(t, []ktTicketLine{ktLine(lines["steak"][0], "Steak frites", 2, 1, 1, []string{"medium rare"}, "sauce apart")}, grill[1].Lines)
	require.Less(t, grill[0].CreatedAt, grill[1].CreatedAt)
	require.Len(t, ktTickets(t, f, kitchen, "fry"), 1, "the void touched only the grill")

	// Roles: waiters and auditors may neither see nor move tickets nor stream.
	ticket := grill[0].ID
	for _, tk := range []string{waiter, auditor} {
		requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/tickets?station=grill", Token: tk}), 403, "forbidden")
		requireProblem(t, ktMove(t, f, tk, ticket, "bump"), 403, "forbidden")
		requireProblem(t, ktMove(t, f, tk, ticket, "recall"), 403, "forbidden")
		requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill", Token: tk}), 403, "forbidden")
	}
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/tickets?station=grill"}), 401, "unauthorized")

	// Unknown or missing station: 400 naming the station parameter.
	for _, path := range []string{"/v1/kitchen/tickets?station=pizza", "/v1/kitchen/tickets", "/v1/kitchen/stream?station=pizza"} {
		p := requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path, Token: kitchen}), 400, "bad-request")
		requireFieldError(t, p, -1, "station")
	}

	// Another venue's ticket does not exist for this venue's kitchen.
	r := f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: other, Body: map[string]any{"table": "T1", "guests": 2}})
	require.Equal(t, 201, r.Status, string(r.Body))
	otherOrder := r.Map(t)["id"].(string)
	r = f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + otherOrder, Token: other,
		Body: map[string]any{"expected_version": 1, "ops": []map[string]any{addItem("steak"), {"op": "send"}}}})
	require.Equal(t, 200, r.Status, string(r.Body))
	var foreign string
	require.NoError(t, f.DB.Admin.QueryRow(context.Background(),
		"SELECT id::text FROM kitchen_tickets WHERE venue_id = 'demo2'").Scan(&foreign))
	for _, tk := range []string{kitchen, manager} {
		requireProblem(t, ktMove(t, f, tk, foreign, "bump"), 404, "not-found")
		requireProblem(t, ktMove(t, f, tk, foreign, "recall"), 404, "not-found")
	}
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE id = $1 AND status = 'new'", foreign))
	for _, tk := range ktTickets(t, f, kitchen, "grill") {
		require.NotEqual(t, foreign, tk.ID)
	}
	requireProblem(t, ktMove(t, f, kitchen, "01900000-0000-7000-8000-000000000000", "bump"), 404, "not-found")
	requireProblem(t, ktMove(t, f, kitchen, "not-a-uuid", "bump"), 404, "not-found")
}

// TestKitchenBumpRecall proves that kitchen progress is not part of the order
// (section 4): bump moves a new ticket to ready and recall moves it back,
// each only from the right state (409 ticket-state otherwise, with the
// ticket as it is); neither changes the order's version or ETag, so a
// waiter's next save against the version it had still succeeds; every
// change is in the ticket log and reaches the station's subject.
func TestKitchenBumpRecall(t *testing.T) {
	f := setup(t)
	id := f.open("T4")
	f.mustPatch(waiter, id, 1, addItem("steak"), map[string]any{"op": "send"})
	tickets := ktTickets(t, f, kitchen, "grill")
	require.Len(t, tickets, 1)
	tk := tickets[0]

	r := ktMove(t, f, kitchen, tk.ID, "bump")
	require.Equal(t, 200, r.Status, string(r.Body))
	var bumped ktTicket
	r.JSON(t, &bumped)
	require.Equal(t, "ready", bumped.Status)
	require.NotNil(t, bumped.BumpedAt)
	at, err := time.Parse(time.RFC3339Nano, *bumped.BumpedAt)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), at, time.Minute)
	require.Equal(t, tk.ID, bumped.ID)
	require.Equal(t, tk.Lines, bumped.Lines)
	require.Empty(t, ktTickets(t, f, kitchen, "grill"), "a ready ticket leaves the rail")

	p := requireProblem(t, ktMove(t, f, manager, tk.ID, "bump"), 409, "ticket-state")
	require.Equal(t, "ready", p["ticket"].(map[string]any)["status"])

	r = ktMove(t, f, manager, tk.ID, "recall")
	require.Equal(t, 200, r.Status, string(r.Body))
	var recalled ktTicket
	r.JSON(t, &recalled)
	require.Equal(t, "new", recalled.Status)
	require.Nil(t, recalled.BumpedAt)
	p = requireProblem(t, ktMove(t, f, kitchen, tk.ID, "recall"), 409, "ticket-state")
	require.Equal(t, "new", p["ticket"].(map[string]any)["status"])
	require.Equal(t, []string{tk.ID}, ktIDs(ktTickets(t, f, kitchen, "grill")))

	// The order did not move: same version, same ETag, and the waiter's
	// save against version 2 is no conflict.
	g := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + id, Token: waiter})
	require.Equal(t, 200, g.Status)
	require.Equal(t, `"2"`, g.Header.Get("ETag"))
	require.EqualValues(t, 2, g.Map(t)["version"])
	require.EqualValues(t, 2, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))
	o := f.mustPatch(waiter, id, 2, addItem("fries"))
	require.EqualValues(t, 3, o["version"])

	// The ticket log has created, bumped, recalled, with who did each.
	rows, err := f.DB.Admin.Query(context.Background(),
		"SELECT action, actor_device FROM kitchen_ticket_events WHERE ticket_id = $1 ORDER BY at, id", tk.ID)
	require.NoError(t, err)
	var log []string
	for rows.Next() {
		var action, device string
		require.NoError(t, rows.Scan(&action, &device))
		log = append(log, action+" by "+device)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"created by waiter-1", "bumped by kitchen", "recalled by manager"}, log)

	// And each change went out on the grill subject, in order, naming the
	// order version the ticket was fired at.
	var msgs []ktStreamMsg
	ktEventually(t, 10*time.Second, func() bool {
		msgs = ktSubjectMsgs(t, f, "pos.demo.kitchen.grill")
		return len(msgs) >= 3
	}, "three grill messages")
	require.Len(t, msgs, 3)
	for i, want := range []string{"ticket.created", "ticket.bumped", "ticket.recalled"} {
		require.Equal(t, want, msgs[i].Type)
		require.Equal(t, "2", msgs[i].Version)
		var m ktMessage
		require.NoError(t, json.Unmarshal(msgs[i].Data, &m))
		require.Equal(t, want, m.Type)
		require.Equal(t, tk.ID, m.Ticket.ID)
	}
}

func ktIDs(ts []ktTicket) []string {
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

// ktEventually polls cond until it holds or fails the test after limit.
func ktEventually(t *testing.T, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ktStreamMsg is one message of the POS stream.
type ktStreamMsg struct {
	Seq     uint64
	Type    string
	Version string
	Data    []byte
}

// ktSubjectMsgs reads every message on subject from the POS stream, in order.
func ktSubjectMsgs(t *testing.T, f fixture, subject string) []ktStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := f.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	n := int(info.State.Subjects[subject])
	var out []ktStreamMsg
	if n == 0 {
		return out
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	require.NoError(t, err)
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			require.NoError(t, err)
			out = append(out, ktStreamMsg{Seq: md.Sequence.Stream, Type: m.Headers().Get(outbox.HeaderType),
				Version: m.Headers().Get(outbox.HeaderOrderVersion), Data: m.Data()})
			got++
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, got, "subject %s ends early", subject)
	}
	return out
}

// ktWaitPublished waits until the relay's cursor is past every outbox row,
// so every committed message is in the stream.
func ktWaitPublished(t *testing.T, f fixture) {
	t.Helper()
	ktEventually(t, 20*time.Second, func() bool {
		return f.DB.Count(t, `SELECT count(*) FROM outbox o JOIN outbox_cursor c ON c.name = 'relay'
			WHERE (o.txid, o.id) > (c.txid, c.id)`) == 0
	}, "the relay to publish every outbox row")
}

// ktSSE is one Server-Sent Events connection to the kitchen stream, read by
// a small parser: events arrive on events (closed when the connection ends),
// heartbeat comments on beats.
type ktSSE struct {
	events chan ktEvent
	beats  chan struct{}
	cancel context.CancelFunc
}

// ktEvent is one SSE event. HasID tells an event without an id: line apart.
type ktEvent struct {
	ID    uint64
	HasID bool
	Type  string
	Data  []byte
}

// ktConnect opens the kitchen stream with the given query and headers and
// requires it to be accepted.
func ktConnect(t *testing.T, f fixture, query string, header map[string]string) *ktSSE {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", f.BaseURL+"/v1/kitchen/stream?"+query, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{}).Do(req)
	require.NoError(t, err)
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("stream %s: status %d", query, resp.StatusCode)
	}
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	c := &ktSSE{events: make(chan ktEvent, 10000), beats: make(chan struct{}, 1), cancel: cancel}
	go func() {
		defer close(c.events)
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		var ev ktEvent
		var data []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			if line == "" {
				if ev.Type != "" || len(data) > 0 {
					ev.Data = []byte(strings.Join(data, "\n"))
					c.events <- ev
				}
				ev, data = ktEvent{}, nil
				continue
			}
			if strings.HasPrefix(line, ":") {
				select {
				case c.beats <- struct{}{}:
				default:
				}
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				n, err := strconv.ParseUint(value, 10, 64)
				if err != nil {
					t.Errorf("event id %q is not a stream cursor", value)
				}
				ev.ID, ev.HasID = n, true
			case "event":
				ev.Type = value
			case "data":
				data = append(data, value)
			}
		}
	}()
	return c
}

// next returns the next event, failing the test after limit.
func (c *ktSSE) next(t *testing.T, limit time.Duration) ktEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(limit):
		t.Fatalf("no event within %s", limit)
		return ktEvent{}
	}
}

// quiet waits for a heartbeat that comes after everything received so far
// and requires that no event arrived before it.
func (c *ktSSE) quiet(t *testing.T) {
	t.Helper()
	select {
	case <-c.beats:
	default:
	}
	select {
	case <-c.beats:
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat")
	}
	select {
	case ev, ok := <-c.events:
		if ok {
			t.Fatalf("unexpected event %s %d %s", ev.Type, ev.ID, ev.Data)
		}
	default:
	}
}

// close drops the connection and returns the events parsed before it ended.
func (c *ktSSE) close() []ktEvent {
	c.cancel()
	var rest []ktEvent
	for ev := range c.events {
		rest = append(rest, ev)
	}
	return rest
}

func ktSSEFixture(t *testing.T) fixture {
	t.Parallel()
	return fixture{Stack: apitest.Start(t, apitest.Options{Heartbeat: 100 * time.Millisecond}), t: t}
}

// TestKitchenSSEResume proves invariant 5: while six waiters fire tickets on
// their own orders and a cook bumps and recalls grill tickets, a grill
// display that drops twice and reconnects with its last cursor (once with
// Last-Event-ID and ?access_token=, once with ?after= and the Authorization
// header) receives, over its three connections, exactly the grill messages
// of the POS stream: each once, none missing, cursors strictly increasing,
// and the same ticket changes the ticket log recorded.
func TestKitchenSSEResume(t *testing.T) {
	f := ktSSEFixture(t)
	c := ktConnect(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + kitchen})
	c.quiet(t) // live, with an empty snapshot: nothing has been fired yet

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fired atomic.Int64
	tokens := []string{"demo-waiter-1", "demo-waiter-2", "demo-waiter-3", "demo-waiter-4"}
	skus := []string{"steak", "fries", "burger", "beer", "salmon"}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := tokens[w%len(tokens)]
			r := f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: tk, Body: map[string]any{"table": fmt.Sprintf("T%d", w+1), "guests": 2}})
			if r.Status != 201 {
				t.Errorf("open: %d %s", r.Status, r.Body)
				return
			}
			var o struct {
				ID      string `json:"id"`
				Version int    `json:"version"`
			}
			_ = json.Unmarshal(r.Body, &o)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ops := []map[string]any{addItem(skus[(w+i)%len(skus)]), addItem(skus[(w+i+1)%len(skus)]), {"op": "send"}}
				r := f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + o.ID, Token: tk, Body: map[string]any{"expected_version": o.Version, "ops": ops}})
				if r.Status != 200 {
					t.Errorf("patch: %d %s", r.Status, r.Body)
					return
				}
				o.Version++
				fired.Add(1)
			}
		}()
	}
	wg.Add(1)
	go func() { // the cook
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/tickets?station=grill", Token: kitchen})
			var list struct{ Tickets []ktTicket }
			if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil {
				t.Errorf("tickets: %d %s", r.Status, r.Body)
				return
			}
			if len(list.Tickets) == 0 {
				continue
			}
			id := list.Tickets[0].ID
			if r := ktMove(t, f, kitchen, id, "bump"); r.Status != 200 {
				t.Errorf("bump: %d %s", r.Status, r.Body)
				return
			}
			if i%4 == 0 {
				if r := ktMove(t, f, kitchen, id, "recall"); r.Status != 200 {
					t.Errorf("recall: %d %s", r.Status, r.Body)
					return
				}
			}
		}
	}()
	stopped := false
	stopLoad := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopLoad()

	var got []ktEvent
	take := func(c *ktSSE, n int) {
		for len(got) < n {
			got = append(got, c.next(t, 20*time.Second))
		}
	}
	waitFired := func(n int64) {
		target := fired.Load() + n
		ktEventually(t, 20*time.Second, func() bool { return fired.Load() >= target || t.Failed() }, "more sends")
		require.False(t, t.Failed())
	}

	take(c, 20)
	got = append(got, c.close()...)
	waitFired(10) // messages keep coming while the display is away
	last := strconv.FormatUint(got[len(got)-1].ID, 10)
	c = ktConnect(t, f, "station=grill&access_token="+kitchen, map[string]string{"Last-Event-ID": last})
	take(c, len(got)+20)
	got = append(got, c.close()...)
	waitFired(10)
	last = strconv.FormatUint(got[len(got)-1].ID, 10)
	c = ktConnect(t, f, "station=grill&after="+last, map[string]string{"Authorization": "Bearer " + kitchen})
	waitFired(10)
	stopLoad()

	ktWaitPublished(t, f)
	want := ktSubjectMsgs(t, f, "pos.demo.kitchen.grill")
	take(c, len(want))
	c.quiet(t)
	got = append(got, c.close()...)

	require.Len(t, got, len(want), "received exactly the grill messages")
	for i, ev := range got {
		require.True(t, ev.HasID, "event %d has a cursor", i)
		if i > 0 {
			require.Greater(t, ev.ID, got[i-1].ID, "cursors strictly increase (event %d)", i)
		}
		require.Equal(t, want[i].Seq, ev.ID, "event %d is stream message %d", i, want[i].Seq)
		require.Equal(t, want[i].Type, ev.Type)
		require.JSONEq(t, string(want[i].Data), string(ev.Data))
	}

	// The same ticket changes as the ticket log of grill tickets.
	var fromStream []string
	for _, ev := range got {
		var m ktMessage
		require.NoError(t, json.Unmarshal(ev.Data, &m))
		require.Equal(t, ev.Type, m.Type)
		require.Equal(t, "grill", m.Ticket.Station)
		fromStream = append(fromStream, m.Ticket.ID+" "+strings.TrimPrefix(m.Type, "ticket."))
	}
	rows, err := f.DB.Admin.Query(context.Background(), `SELECT e.ticket_id::text || ' ' || e.action
		FROM kitchen_ticket_events e JOIN kitchen_tickets t ON t.venue_id = e.venue_id AND t.id = e.ticket_id
		WHERE t.station = 'grill'`)
	require.NoError(t, err)
	var fromLog []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		fromLog = append(fromLog, s)
	}
	require.NoError(t, rows.Err())
	slices.Sort(fromStream)
	slices.Sort(fromLog)
	require.Equal(t, fromLog, fromStream)
	require.Greater(t, len(got), 60, "the load was big enough to matter")
}

// TestKitchenSSESnapshot proves the start of a display without a cursor
// (section 5): it first gets the station's open tickets, oldest first, as
// ticket.created (bumped tickets left out), the last of them carrying the
// cursor of the station's latest message, and then exactly the later
// messages; resuming from that cursor gives the later messages again and no
// snapshot; a station's stream carries only its own station.
func TestKitchenSSESnapshot(t *testing.T) {
	f := ktSSEFixture(t)
	fire := func(table string, skus ...string) {
		id := f.open(table)
		ops := []map[string]any{}
		for _, s := range skus {
			ops = append(ops, addItem(s))
		}
		f.mustPatch(waiter, id, 1, append(ops, map[string]any{"op": "send"})...)
	}
	fire("T1", "steak")
	fire("T2", "burger")
	fire("T3", "fries", "salmon")
	grill := ktTickets(t, f, kitchen, "grill")
	require.Len(t, grill, 3)
	r := ktMove(t, f, kitchen, grill[1].ID, "bump")
	require.Equal(t, 200, r.Status, string(r.Body))
	ktWaitPublished(t, f)
	msgs := ktSubjectMsgs(t, f, "pos.demo.kitchen.grill")
	require.Len(t, msgs, 4) // three created, one bumped
	last := msgs[3].Seq

	c := ktConnect(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + kitchen})
	for i, want := range []ktTicket{grill[0], grill[2]} {
		ev := c.next(t, 10*time.Second)
		require.Equal(t, "ticket.created", ev.Type)
		if i == 0 {
			require.False(t, ev.HasID, "a screen cut off inside the snapshot has no cursor and gets it all again")
		} else {
			require.True(t, ev.HasID, "the last snapshot item carries the cursor")
			require.Equal(t, last, ev.ID)
		}
		var m ktMessage
		require.NoError(t, json.Unmarshal(ev.Data, &m))
		require.Equal(t, "ticket.created", m.Type)
		require.Equal(t, want, m.Ticket)
	}
	c.quiet(t)

	fire("T4", "chicken")
	ev := c.next(t, 10*time.Second)
	require.Equal(t, "ticket.created", ev.Type)
	require.Greater(t, ev.ID, last)
	var live ktMessage
	require.NoError(t, json.Unmarshal(ev.Data, &live))
	require.Equal(t, "T4", live.Ticket.Table)
	c.quiet(t)
	c.close()

	c = ktConnect(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + kitchen, "Last-Event-ID": strconv.FormatUint(last, 10)})
	again := c.next(t, 10*time.Second)
	require.Equal(t, ev, again, "resuming from the snapshot's cursor gives exactly the later message")
	c.quiet(t)
	c.close()

	// Other stations' messages are not on the grill stream: the T3 fries
	// went to the fry display only.
	c = ktConnect(t, f, "station=fry&after=0", map[string]string{"Authorization": "Bearer " + kitchen})
	ev = c.next(t, 10*time.Second)
	var fry ktMessage
	require.NoError(t, json.Unmarshal(ev.Data, &fry))
	require.Equal(t, "fry", fry.Ticket.Station)
	require.Equal(t, "T3", fry.Ticket.Table)
	c.quiet(t)
}

// TestKitchenSSEAcrossNATSRestart proves invariant 5 across a NATS restart:
// a display's stream ends when NATS goes away (so the screen can show that
// it is reconnecting), reconnecting is refused with 503 kitchen-unavailable
// while NATS is down, tickets fired meanwhile are accepted, and once NATS is
// back a reconnect with the last cursor delivers every later grill message,
// those fired during the outage included, exactly once and in order.
func TestKitchenSSEAcrossNATSRestart(t *testing.T) {
	f := ktSSEFixture(t)
	bearer := map[string]string{"Authorization": "Bearer " + kitchen}
	c := ktConnect(t, f, "station=grill&after=0", bearer)
	id := f.open("T1")
	version := 1
	fire := func() {
		f.mustPatch(waiter, id, version, addItem("steak"), map[string]any{"op": "send"})
		version++
	}
	fire()
	fire()
	got := []ktEvent{c.next(t, 10*time.Second), c.next(t, 10*time.Second)}

	f.NATS.Shutdown()
	ended := make(chan []ktEvent)
	go func() {
		var rest []ktEvent
		for ev := range c.events {
			rest = append(rest, ev)
		}
		ended <- rest
	}()
	select {
	case rest := <-ended:
		got = append(got, rest...)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end when NATS went away")
	}
	last := strconv.FormatUint(got[len(got)-1].ID, 10)
	ktEventually(t, 10*time.Second, func() bool { return !f.NC.IsConnected() }, "the client to notice")
	r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill", Token: kitchen, Header: map[string]string{"Last-Event-ID": last}})
	requireProblem(t, r, 503, "kitchen-unavailable")
	fire()
	fire()
	fire()

	f.RestartNATS(t)
	ktEventually(t, 10*time.Second, f.NC.IsConnected, "the client to reconnect")
	c = ktConnect(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + kitchen, "Last-Event-ID": last})
	ktWaitPublished(t, f)
	want := ktSubjectMsgs(t, f, "pos.demo.kitchen.grill")
	require.Len(t, want, 5)
	for len(got) < len(want) {
		got = append(got, c.next(t, 20*time.Second))
	}
	c.quiet(t)
	for i, ev := range got {
		require.Equal(t, want[i].Seq, ev.ID, "event %d", i)
		require.Equal(t, want[i].Type, ev.Type)
		require.JSONEq(t, string(want[i].Data), string(ev.Data))
	}
}

// TestKitchenStreamAccessToken proves that a token in the query string is
// accepted on the kitchen stream only (EventSource cannot send headers) and
// refused everywhere else, and that it is checked like a header token.
func TestKitchenStreamAccessToken(t *testing.T) {
	f := ktSSEFixture(t)
	c := ktConnect(t, f, "station=grill&access_token="+kitchen, nil)
	c.quiet(t)
	c.close()
	c = ktConnect(t, f, "station=grill&access_token="+manager, nil)
	c.quiet(t)
	c.close()

	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill&access_token=" + waiter}), 403, "forbidden")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill&access_token=nope"}), 401, "unauthorized")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill"}), 401, "unauthorized")
	for _, path := range []string{
		"/v1/kitchen/tickets?station=grill&access_token=" + kitchen,
		"/v1/menu?access_token=" + kitchen,
		"/v1/tables?access_token=" + waiter,
		"/v1/orders?access_token=" + manager,
	} {
		requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path}), 401, "unauthorized")
	}
	requireProblem(t, f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders?access_token=" + waiter, Body: `{"table":"T9","guests":2}`}), 401, "unauthorized")
	require.Zero(t, f.DB.Count(t, "SELECT count(*) FROM orders"))
}
