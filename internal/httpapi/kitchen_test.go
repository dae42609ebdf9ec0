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
//   - TestKitchenStream* and TestKitchenTicketDetails (issue 8, at the end
//     of the file): consumers end with their stream, per-device and
//     per-venue limits, no leak on HEAD or an early close, cursor-ahead,
//     revocation, stuck readers, the snapshot's memory, and what a ticket
//     tells the cook. docs/RELIABILITY.md "Kitchen streams" has the figures.
//
import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/outbox"
	"github.com/posd/posd/internal/seed"
)

// skuLines maps each SKU of an order to its line ids, in line order.
func skuLines(o order.Order) map[string][]uuid.UUID {
	ids := map[string][]uuid.UUID{}
	for _, l := range o.Lines {
		ids[l.SKU] = append(ids[l.SKU], l.ID)
	}
	return ids
}

// ticketLine is the ticket line expected for one order line.
func ticketLine(id uuid.UUID, name string, qty, seat, course int, mods []string, note string) kitchen.Line {
	if mods == nil {
		mods = []string{}
	}
	return kitchen.Line{LineID: id, Name: name, Qty: qty, Seat: seat, Course: course, Modifiers: mods, Note: note}
}

// TestKitchenTicketsPerStation proves that tickets follow the order's
// applied changes (section 4): one send of grill, fry and bar items makes
// exactly one fire ticket per station with that station's lines; a send of
// one course sends only that course; a manager's void of a sent line makes a
// void ticket for its station; tickets are listed oldest first; only kitchen
// and manager devices may read or move them, only for a known station, and
// only in their own venue (invariant 6).
func TestKitchenTicketsPerStation(t *testing.T) {
	f := start(t)
	id := f.Open("T3").ID
	o := f.Waiter.Patch(id, 1,
		apitest.AddItem("steak", 2, apitest.Seat(1), apitest.Mods("medium rare"), apitest.LineNote("sauce apart")),
		apitest.AddItem("burger", 1, apitest.Seat(2)),
		apitest.AddItem("fries", 1, apitest.Seat(1)),
		apitest.AddItem("beer", 3, apitest.Seat(2)),
		apitest.Fire())
	lines := skuLines(o)

	for _, tk := range []*apitest.Client{f.Kitchen, f.Manager} {
		grill := tk.Tickets("grill")
		require.Len(t, grill, 1)
		g := grill[0]
		require.Equal(t, "fire", g.Kind)
		require.Equal(t, "new", g.Status)
		require.Equal(t, id, g.OrderID)
		require.Equal(t, "T3", g.Table)
		require.Equal(t, "grill", g.Station)
		require.Equal(t, "Alice", g.Server)
		require.Nil(t, g.BumpedAt)
		require.WithinDuration(t, time.Now(), g.CreatedAt, time.Minute)
		require.Equal(t, []kitchen.Line{
			ticketLine(lines["steak"][0], "Steak frites", 2, 1, 1, []string{"medium rare"}, "sauce apart"),
			ticketLine(lines["burger"][0], "Bistro burger", 1, 2, 1, nil, ""),
		}, g.Lines)

		fry := tk.Tickets("fry")
		require.Len(t, fry, 1)
		require.Equal(t, []kitchen.Line{ticketLine(lines["fries"][0], "Fries", 1, 1, 1, nil, "")}, fry[0].Lines)
		bar := tk.Tickets("bar")
		require.Len(t, bar, 1)
		require.Equal(t, []kitchen.Line{ticketLine(lines["beer"][0], "Draft beer", 3, 2, 1, nil, "")}, bar[0].Lines)
		require.Empty(t, tk.Tickets("cold"))
	}
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE order_id = $1", id))
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM kitchen_ticket_events WHERE action = 'created'"))

	// Send course 2 only: the caesar goes to cold, the course-3 fries wait.
	o = f.Waiter.Patch(id, 2,
		apitest.AddItem("caesar", 1, apitest.Course(2), apitest.Seat(3)),
		apitest.AddItem("fries", 1, apitest.Course(3), apitest.Seat(3)),
		apitest.FireCourse(2))
	lines = skuLines(o)
	cold := f.Kitchen.Tickets("cold")
	require.Len(t, cold, 1)
	require.Equal(t, []kitchen.Line{ticketLine(lines["caesar"][0], "Caesar salad", 1, 3, 2, nil, "")}, cold[0].Lines)
	require.Len(t, f.Kitchen.Tickets("fry"), 1, "the course-3 fries are not sent")
	for _, l := range o.Lines {
		want := "sent"
		if l.ID == lines["fries"][1] {
			want = "pending"
		}
		require.Equal(t, want, l.Status, "line %v", l.SKU)
	}
	// A send of a course with nothing pending is refused, naming the course,
	// and writes and fires nothing (a bare send with nothing pending is a
	// 200 no-op: internal/order TestSendOfACourseWithNothingPendingNamesTheCourse).
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(id, 3, apitest.FireCourse(5)), 422, "validation-failed", 0, "course")
	require.Contains(t, string(f.Waiter.TryPatch(id, 3, apitest.FireCourse(5)).Body), "course 5 has no pending lines")
	require.EqualValues(t, 4, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets"))
	require.EqualValues(t, 3, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))

	// The manager voids the sent steak: a void ticket for the grill, after
	// the fire ticket (oldest first).
	f.Manager.Patch(id, 3, apitest.Void(lines["steak"][0], "guest left"))
	grill := f.Kitchen.Tickets("grill")
	require.Len(t, grill, 2)
	require.Equal(t, "fire", grill[0].Kind)
	require.Equal(t, "void", grill[1].Kind)
	require.Equal(t, []kitchen.Line{ticketLine(lines["steak"][0], "Steak frites", 2, 1, 1, []string{"medium rare"}, "sauce apart")}, grill[1].Lines)
	require.True(t, grill[0].CreatedAt.Before(grill[1].CreatedAt), "%s before %s", grill[0].CreatedAt, grill[1].CreatedAt)
	require.Len(t, f.Kitchen.Tickets("fry"), 1, "the void touched only the grill")

	// Roles: waiters and auditors may neither see nor move tickets nor stream.
	ticket := grill[0].ID
	for _, tk := range []*apitest.Client{f.Waiter, f.Auditor} {
		apitest.RequireProblem(t, tk.Get("/v1/kitchen/tickets?station=grill"), 403, "forbidden")
		apitest.RequireProblem(t, tk.TryMove(ticket, "bump"), 403, "forbidden")
		apitest.RequireProblem(t, tk.TryMove(ticket, "recall"), 403, "forbidden")
		apitest.RequireProblem(t, tk.Get("/v1/kitchen/stream?station=grill"), 403, "forbidden")
	}
	apitest.RequireProblem(t, f.As(t, "").Get("/v1/kitchen/tickets?station=grill"), 401, "unauthorized")

	// Unknown or missing station: 400 naming the station parameter.
	for _, path := range []string{"/v1/kitchen/tickets?station=pizza", "/v1/kitchen/tickets", "/v1/kitchen/stream?station=pizza"} {
		apitest.RequireFieldProblem(t, f.Kitchen.Get(path), 400, "bad-request", apitest.TopLevel, "station")
	}

	// Another venue's ticket does not exist for this venue's kitchen.
	otherOrder := f.Other.Open("T1", 2).ID
	f.Other.Patch(otherOrder, 1, apitest.AddItem("steak", 1), apitest.Fire())
	var foreign uuid.UUID
	require.NoError(t, f.DB.Admin.QueryRow(context.Background(),
		"SELECT id FROM kitchen_tickets WHERE venue_id = 'demo2'").Scan(&foreign))
	for _, tk := range []*apitest.Client{f.Kitchen, f.Manager} {
		apitest.RequireProblem(t, tk.TryMove(foreign, "bump"), 404, "not-found")
		apitest.RequireProblem(t, tk.TryMove(foreign, "recall"), 404, "not-found")
	}
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets WHERE id = $1 AND status = 'new'", foreign))
	for _, tk := range f.Kitchen.Tickets("grill") {
		require.NotEqual(t, foreign, tk.ID)
	}
	apitest.RequireProblem(t, f.Kitchen.TryMove(uuid.MustParse("01900000-0000-7000-8000-000000000000"), "bump"), 404, "not-found")
	apitest.RequireProblem(t, f.Kitchen.Post("/v1/kitchen/tickets/not-a-uuid/bump", nil), 404, "not-found")
}

// TestKitchenBumpRecall proves that kitchen progress is not part of the order
// (section 4): bump moves a new ticket to ready and recall moves it back,
// each only from the right state (409 ticket-state otherwise, with the
// ticket as it is); neither changes the order's version or ETag, so a
// waiter's next save against the version it had still succeeds; every
// change is in the ticket log and reaches the station's subject.
func TestKitchenBumpRecall(t *testing.T) {
	f := start(t)
	id := f.Open("T4").ID
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1), apitest.Fire())
	tickets := f.Kitchen.Tickets("grill")
	require.Len(t, tickets, 1)
	tk := tickets[0]

	r := f.Kitchen.TryMove(tk.ID, "bump")
	require.Equal(t, 200, r.Status, string(r.Body))
	var bumped kitchen.Ticket
	r.JSON(t, &bumped)
	require.Equal(t, "ready", bumped.Status)
	require.NotNil(t, bumped.BumpedAt)
	require.WithinDuration(t, time.Now(), *bumped.BumpedAt, time.Minute)
	require.Equal(t, tk.ID, bumped.ID)
	require.Equal(t, tk.Lines, bumped.Lines)
	require.Empty(t, f.Kitchen.Tickets("grill"), "a ready ticket leaves the rail")

	p := apitest.RequireProblem(t, f.Manager.TryMove(tk.ID, "bump"), 409, "ticket-state")
	require.Equal(t, "ready", p.Ticket.Status)

	r = f.Manager.TryMove(tk.ID, "recall")
	require.Equal(t, 200, r.Status, string(r.Body))
	var recalled kitchen.Ticket
	r.JSON(t, &recalled)
	require.Equal(t, "new", recalled.Status)
	require.Nil(t, recalled.BumpedAt)
	p = apitest.RequireProblem(t, f.Kitchen.TryMove(tk.ID, "recall"), 409, "ticket-state")
	require.Equal(t, "new", p.Ticket.Status)
	require.Equal(t, []uuid.UUID{tk.ID}, ticketIDs(f.Kitchen.Tickets("grill")))

	// The order did not move: same version, same ETag, and the waiter's
	// save against version 2 is no conflict.
	g := f.Waiter.TryOrder(id)
	require.Equal(t, 200, g.Status)
	require.Equal(t, `"2"`, g.Header.Get("ETag"))
	require.EqualValues(t, 2, g.Order(t).Version)
	require.EqualValues(t, 2, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))
	o := f.Waiter.Patch(id, 2, apitest.AddItem("fries", 1))
	require.EqualValues(t, 3, o.Version)

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
	var msgs []streamMsg
	apitest.Eventually(t, 10*time.Second, func() bool {
		msgs = subjectMsgs(t, f, "pos.demo.kitchen.grill")
		return len(msgs) >= 3
	}, "three grill messages")
	require.Len(t, msgs, 3)
	for i, want := range []string{"ticket.created", "ticket.bumped", "ticket.recalled"} {
		require.Equal(t, want, msgs[i].Type)
		require.Equal(t, "2", msgs[i].Version)
		var m kitchen.Message
		require.NoError(t, json.Unmarshal(msgs[i].Data, &m))
		require.Equal(t, want, m.Type)
		require.Equal(t, tk.ID, m.Ticket.ID)
	}
}

func ticketIDs(ts []kitchen.Ticket) []uuid.UUID {
	ids := make([]uuid.UUID, len(ts))
	for i, t := range ts {
		ids[i] = t.ID
	}
	return ids
}

// streamMsg is one message of the POS stream.
type streamMsg struct {
	Seq     uint64
	Type    string
	Version string
	Data    []byte
}

// subjectMsgs reads every message on subject from the POS stream, in order.
func subjectMsgs(t *testing.T, f *apitest.Fixture, subject string) []streamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := f.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	require.NoError(t, err)
	n := int(info.State.Subjects[subject])
	var out []streamMsg
	if n == 0 {
		return out
	}
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	require.NoError(t, err)
	// Gone when read, so the tests that count the stream's consumers
	// count only posd's.
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			_ = st.DeleteConsumer(context.WithoutCancel(ctx), info.Name)
		}
	}()
	for len(out) < n {
		batch, err := cons.Fetch(n-len(out), jetstream.FetchMaxWait(2*time.Second))
		require.NoError(t, err)
		got := 0
		for m := range batch.Messages() {
			md, err := m.Metadata()
			require.NoError(t, err)
			out = append(out, streamMsg{Seq: md.Sequence.Stream, Type: m.Headers().Get(outbox.HeaderType),
				Version: m.Headers().Get(outbox.HeaderOrderVersion), Data: m.Data()})
			got++
		}
		require.NoError(t, batch.Error())
		require.NotZero(t, got, "subject %s ends early", subject)
	}
	return out
}

// waitPublished waits until the relay's cursor is past every outbox row,
// so every committed message is in the stream.
func waitPublished(t *testing.T, f *apitest.Fixture) {
	t.Helper()
	apitest.Eventually(t, 20*time.Second, func() bool {
		return f.DB.Count(t, `SELECT count(*) FROM outbox o JOIN outbox_cursor c ON c.name = 'relay'
			WHERE (o.txid, o.id) > (c.txid, c.id)`) == 0
	}, "the relay to publish every outbox row")
}

// sseConn is one Server-Sent Events connection to the kitchen stream, read by
// a small parser: events arrive on events (closed when the connection ends),
// heartbeat comments on beats.
type sseConn struct {
	events chan sseEvent
	beats  chan struct{}
	cancel context.CancelFunc
}

// sseEvent is one SSE event. HasID tells an event without an id: line apart.
type sseEvent struct {
	ID    uint64
	HasID bool
	Type  string
	Data  []byte
}

// connectSSE opens the kitchen stream with the given query and headers and
// requires it to be accepted.
func connectSSE(t *testing.T, f *apitest.Fixture, query string, header map[string]string) *sseConn {
	t.Helper()
	return connectSSEAt(t, f, "/v1/kitchen/stream?"+query, header)
}

// connectSSEAt opens the stream at path (with its query) and requires it
// to be accepted.
func connectSSEAt(t *testing.T, f *apitest.Fixture, path string, header map[string]string) *sseConn {
	t.Helper()
	query := path
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", f.BaseURL+path, nil)
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
	c := &sseConn{events: make(chan sseEvent, 10000), beats: make(chan struct{}, 1), cancel: cancel}
	go func() {
		defer close(c.events)
		defer resp.Body.Close()
		br := bufio.NewReaderSize(resp.Body, 64<<10)
		var ev sseEvent
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
				ev, data = sseEvent{}, nil
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
func (c *sseConn) next(t *testing.T, limit time.Duration) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		require.True(t, ok, "the stream ended")
		return ev
	case <-time.After(limit):
		t.Fatalf("no event within %s", limit)
		return sseEvent{}
	}
}

// quiet waits for a heartbeat that comes after everything received so far
// and requires that no event arrived before it.
func (c *sseConn) quiet(t *testing.T) {
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
func (c *sseConn) close() []sseEvent {
	c.cancel()
	var rest []sseEvent
	for ev := range c.events {
		rest = append(rest, ev)
	}
	return rest
}

func sseFixture(t *testing.T) *apitest.Fixture {
	return start(t, apitest.Options{Heartbeat: 100 * time.Millisecond})
}

// TestKitchenSSEResume proves invariant 5: while six waiters fire tickets on
// their own orders and a cook bumps and recalls grill tickets, a grill
// display that drops twice and reconnects with its last cursor (once with
// Last-Event-ID and ?access_token=, once with ?after= and the Authorization
// header) receives, over its three connections, exactly the grill messages
// of the POS stream: each once, none missing, cursors strictly increasing,
// and the same ticket changes the ticket log recorded.
func TestKitchenSSEResume(t *testing.T) {
	f := sseFixture(t)
	c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	c.quiet(t) // live, with an empty snapshot: nothing has been fired yet

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fired atomic.Int64
	tokens := []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}
	skus := []string{"steak", "fries", "burger", "beer", "salmon"}
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := f.As(t, tokens[w%len(tokens)])
			r := tk.TryOpen(fmt.Sprintf("T%d", w+1), 2)
			if r.Status != 201 {
				t.Errorf("open: %d %s", r.Status, r.Body)
				return
			}
			var o order.Order
			_ = json.Unmarshal(r.Body, &o)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := tk.TryPatch(o.ID, o.Version, apitest.AddItem(skus[(w+i)%len(skus)], 1), apitest.AddItem(skus[(w+i+1)%len(skus)], 1), apitest.Fire())
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
			r := f.Kitchen.Get("/v1/kitchen/tickets?station=grill")
			var list struct{ Tickets []kitchen.Ticket }
			if r.Status != 200 || json.Unmarshal(r.Body, &list) != nil {
				t.Errorf("tickets: %d %s", r.Status, r.Body)
				return
			}
			if len(list.Tickets) == 0 {
				continue
			}
			id := list.Tickets[0].ID
			if r := f.Kitchen.TryMove(id, "bump"); r.Status != 200 {
				t.Errorf("bump: %d %s", r.Status, r.Body)
				return
			}
			if i%4 == 0 {
				if r := f.Kitchen.TryMove(id, "recall"); r.Status != 200 {
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

	var got []sseEvent
	take := func(c *sseConn, n int) {
		for len(got) < n {
			got = append(got, c.next(t, 20*time.Second))
		}
	}
	waitFired := func(n int64) {
		target := fired.Load() + n
		apitest.Eventually(t, 20*time.Second, func() bool { return fired.Load() >= target || t.Failed() }, "more sends")
		require.False(t, t.Failed())
	}

	take(c, 20)
	got = append(got, c.close()...)
	waitFired(10) // messages keep coming while the display is away
	last := strconv.FormatUint(got[len(got)-1].ID, 10)
	c = connectSSE(t, f, "station=grill&access_token="+seed.TokenKitchen, map[string]string{"Last-Event-ID": last})
	take(c, len(got)+20)
	got = append(got, c.close()...)
	waitFired(10)
	last = strconv.FormatUint(got[len(got)-1].ID, 10)
	c = connectSSE(t, f, "station=grill&after="+last, map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	waitFired(10)
	stopLoad()

	waitPublished(t, f)
	want := subjectMsgs(t, f, "pos.demo.kitchen.grill")
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
		var m kitchen.Message
		require.NoError(t, json.Unmarshal(ev.Data, &m))
		require.Equal(t, ev.Type, m.Type)
		require.Equal(t, "grill", m.Ticket.Station)
		fromStream = append(fromStream, m.Ticket.ID.String()+" "+strings.TrimPrefix(m.Type, "ticket."))
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
	f := sseFixture(t)
	fire := func(table string, skus ...string) {
		var items []order.Op
		for _, s := range skus {
			items = append(items, apitest.AddItem(s, 1))
		}
		f.Fired(table, items...)
	}
	fire("T1", "steak")
	fire("T2", "burger")
	fire("T3", "fries", "salmon")
	grill := f.Kitchen.Tickets("grill")
	require.Len(t, grill, 3)
	r := f.Kitchen.TryMove(grill[1].ID, "bump")
	require.Equal(t, 200, r.Status, string(r.Body))
	waitPublished(t, f)
	msgs := subjectMsgs(t, f, "pos.demo.kitchen.grill")
	require.Len(t, msgs, 4) // three created, one bumped
	last := msgs[3].Seq

	c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	for i, want := range []kitchen.Ticket{grill[0], grill[2]} {
		ev := c.next(t, 10*time.Second)
		require.Equal(t, "ticket.created", ev.Type)
		if i == 0 {
			require.False(t, ev.HasID, "a screen cut off inside the snapshot has no cursor and gets it all again")
		} else {
			require.True(t, ev.HasID, "the last snapshot item carries the cursor")
			require.Equal(t, last, ev.ID)
		}
		var m kitchen.Message
		require.NoError(t, json.Unmarshal(ev.Data, &m))
		require.Equal(t, "ticket.created", m.Type)
		require.Equal(t, want, m.Ticket)
	}
	c.quiet(t)

	fire("T4", "chicken")
	ev := c.next(t, 10*time.Second)
	require.Equal(t, "ticket.created", ev.Type)
	require.Greater(t, ev.ID, last)
	var live kitchen.Message
	require.NoError(t, json.Unmarshal(ev.Data, &live))
	require.Equal(t, "T4", live.Ticket.Table)
	c.quiet(t)
	c.close()

	c = connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen, "Last-Event-ID": strconv.FormatUint(last, 10)})
	again := c.next(t, 10*time.Second)
	require.Equal(t, ev, again, "resuming from the snapshot's cursor gives exactly the later message")
	c.quiet(t)
	c.close()

	// Other stations' messages are not on the grill stream: the T3 fries
	// went to the fry display only.
	c = connectSSE(t, f, "station=fry&after=0", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	ev = c.next(t, 10*time.Second)
	var fry kitchen.Message
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
	f := sseFixture(t)
	bearer := map[string]string{"Authorization": "Bearer " + seed.TokenKitchen}
	c := connectSSE(t, f, "station=grill&after=0", bearer)
	id := f.Open("T1").ID
	version := int64(1)
	fire := func() {
		f.Waiter.Patch(id, version, apitest.AddItem("steak", 1), apitest.Fire())
		version++
	}
	fire()
	fire()
	got := []sseEvent{c.next(t, 10*time.Second), c.next(t, 10*time.Second)}

	f.NATS.Shutdown()
	ended := make(chan []sseEvent)
	go func() {
		var rest []sseEvent
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
	apitest.Eventually(t, 10*time.Second, func() bool { return !f.NC.IsConnected() }, "the client to notice")
	r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill", Token: seed.TokenKitchen, Header: map[string]string{"Last-Event-ID": last}})
	apitest.RequireProblem(t, r, 503, "kitchen-unavailable")
	fire()
	fire()
	fire()

	f.RestartNATS(t)
	apitest.Eventually(t, 10*time.Second, f.NC.IsConnected, "the client to reconnect")
	c = connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen, "Last-Event-ID": last})
	waitPublished(t, f)
	want := subjectMsgs(t, f, "pos.demo.kitchen.grill")
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
	f := sseFixture(t)
	c := connectSSE(t, f, "station=grill&access_token="+seed.TokenKitchen, nil)
	c.quiet(t)
	c.close()
	c = connectSSE(t, f, "station=grill&access_token="+seed.TokenManager, nil)
	c.quiet(t)
	c.close()

	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill&access_token=" + seed.TokenWaiter1}), 403, "forbidden")
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill&access_token=nope"}), 401, "unauthorized")
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill"}), 401, "unauthorized")
	for _, path := range []string{
		"/v1/kitchen/tickets?station=grill&access_token=" + seed.TokenKitchen,
		"/v1/menu?access_token=" + seed.TokenKitchen,
		"/v1/tables?access_token=" + seed.TokenWaiter1,
		"/v1/orders?access_token=" + seed.TokenManager,
	} {
		apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path}), 401, "unauthorized")
	}
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders?access_token=" + seed.TokenWaiter1, Body: `{"table":"T9","guests":2}`}), 401, "unauthorized")
	require.Zero(t, f.DB.Count(t, "SELECT count(*) FROM orders"))
}

// ---- kitchen streams at the edges (issue 8) --------------------------------

// streamFixture starts a stack with the given stream limits.
func streamFixture(t *testing.T, o apitest.Options) *apitest.Fixture {
	if o.Heartbeat == 0 {
		o.Heartbeat = 200 * time.Millisecond
	}
	return start(t, o)
}

// consumers is the number of consumers on the POS stream.
func consumers(t *testing.T, f *apitest.Fixture) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := f.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	return info.State.Consumers
}

// rawRequest sends one raw HTTP/1.1 request on a new TCP connection and returns
// the connection, not read from.
func rawRequest(t *testing.T, f *apitest.Fixture, method, path, token string, rcvBuf int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(f.BaseURL, "http://"))
	require.NoError(t, err)
	if rcvBuf > 0 {
		require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(rcvBuf))
	}
	_, err = fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: posd\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", method, path, token)
	require.NoError(t, err)
	return conn
}

// openStatus opens the grill stream, reads its status line and drops it.
func openStatus(f *apitest.Fixture, token string) (int, http.Header, error) {
	status, h, _, err := openStream(f, token)
	return status, h, err
}

// openStream is openStatus that also returns the body of a refusal.
func openStream(f *apitest.Fixture, token string) (int, http.Header, []byte, error) {
	req, err := http.NewRequest("GET", f.BaseURL+"/v1/kitchen/stream?station=grill", nil)
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 {
		// Read the stream's first line, so it was really open.
		_, err = bufio.NewReader(resp.Body).ReadString('\n')
		return resp.StatusCode, resp.Header, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body, err
}

// TestKitchenStreamOpensEndTheirConsumers proves that a stream's JetStream
// consumer ends with it: 1,500 stream opens, each dropped by its screen (16
// at a time, with the per-device limits out of the way), leave no consumer
// on the POS stream, and a fresh screen of another venue, and of the same
// venue, still connect and receive live tickets.
// manyConns lifts the connection caps for the tests that open hundreds of
// streams from one address at once: a closed stream's connection is only
// given back once the server notices the close.
const manyConns = 8192

func TestKitchenStreamOpensEndTheirConsumers(t *testing.T) {
	f := streamFixture(t, apitest.Options{MaxConnsPerIP: manyConns, MaxConns: manyConns, StreamLimits: httpapi.StreamLimits{
		OpensPerDevice: 100000, OpensPerVenue: 100000, PerDevice: 2000, PerVenue: 2000}})
	const opens, parallel = 1500, 16
	var next atomic.Int64
	var wg sync.WaitGroup
	var peak atomic.Int64
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= opens {
				status, _, err := openStatus(f, seed.TokenKitchen)
				if err != nil || status != 200 {
					t.Errorf("open: %d %v", status, err)
					return
				}
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
				if n := int64(consumers(t, f)); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	require.False(t, t.Failed())
	apitest.Eventually(t, 10*time.Second, func() bool { return consumers(t, f) == 0 }, "every stream's consumer to be deleted")
	t.Logf("%d opens: at most %d consumers at once, 0 after", opens, peak.Load())

	demo2 := f.AddDevice("demo2", "pass", order.RoleKitchen, "pass")
	for _, tk := range []string{demo2, seed.TokenKitchen} {
		c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + tk})
		c.quiet(t)
		c.close()
	}
	c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	c.quiet(t)
	f.Waiter.Patch(f.Open("T1").ID, 1, apitest.AddItem("steak", 1), apitest.Fire())
	require.Equal(t, "ticket.created", c.next(t, 10*time.Second).Type)
	c.close()
}

// TestKitchenStreamLimits proves the per-device and per-venue stream bounds:
// a device that opens the stream 1,500 times in a row is refused with 429
// too-many-streams and a Retry-After once over its opens per window, while a
// screen of another venue connects at once; after the window the device
// connects again; a device holding its most open streams that opens another
// gets it and its oldest stream ends (a screen is never locked out by its
// own dead connections); and the venue's total is bounded: one more stream
// of the venue is refused (429) while other venues are not.
func TestKitchenStreamLimits(t *testing.T) {
	const window = 3 * time.Second
	lim := httpapi.StreamLimits{OpensPerDevice: 30, OpensPerVenue: 1000, PerDevice: 2, PerVenue: 3, Window: window}
	f := streamFixture(t, apitest.Options{MaxConnsPerIP: manyConns, MaxConns: manyConns, StreamLimits: lim})
	demo2 := f.AddDevice("demo2", "pass", order.RoleKitchen, "pass")

	start := time.Now()
	accepted, refused := 0, 0
	for i := 0; i < 1500; i++ {
		status, h, body, err := openStream(f, seed.TokenKitchen)
		require.NoError(t, err)
		switch status {
		case 200:
			accepted++
		case 429:
			if refused == 0 {
				var p httpapi.Problem
				require.NoError(t, json.Unmarshal(body, &p))
				require.Equal(t, "https://posd.dev/problems/too-many-streams", p.Type)
				require.Contains(t, p.Detail, "more than 30 times")
			}
			refused++
			ra, err := strconv.Atoi(h.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", h.Get("Retry-After"))
			require.True(t, ra >= 1 && ra <= 5, "Retry-After %d", ra)
		default:
			t.Fatalf("open %d: status %d", i, status)
		}
		if i == 100 {
			// Meanwhile another venue's screen is not affected.
			c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + demo2})
			c.quiet(t)
			c.close()
		}
	}
	windows := int(time.Since(start)/window) + 1
	t.Logf("1,500 opens in %s: %d accepted, %d refused (429)", time.Since(start).Round(time.Millisecond), accepted, refused)
	require.LessOrEqual(t, accepted, windows*lim.OpensPerDevice)
	require.Equal(t, 1500, accepted+refused)
	require.GreaterOrEqual(t, refused, 1500-windows*lim.OpensPerDevice)

	// After the window the device connects again.
	time.Sleep(window)
	c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	c.quiet(t)
	c2 := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	c2.quiet(t)
	// PerDevice 2: a third stream of the same device ends its oldest.
	c3 := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	c3.quiet(t)
	select {
	case _, ok := <-c.events:
		require.False(t, ok, "the oldest stream ended")
	case <-time.After(10 * time.Second):
		t.Fatal("the device's oldest stream did not end")
	}
	c2.quiet(t)
	// PerVenue 3: a third device's stream is the venue's third; a fourth
	// is refused, another venue's is not.
	other := f.AddDevice("demo", "pass-2", order.RoleKitchen, "pass-2")
	c4 := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + other})
	r := f.Manager.Get("/v1/kitchen/stream?station=grill")
	p := apitest.RequireProblem(t, r, 429, "too-many-streams")
	require.Contains(t, p.Detail, "venue already has 3")
	require.Equal(t, "5", r.Header.Get("Retry-After"))
	c5 := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + demo2})
	c5.quiet(t)
	// A closed stream gives its place back.
	c4.close()
	apitest.Eventually(t, 10*time.Second, func() bool {
		s, _, err := openStatus(f, seed.TokenManager)
		return err == nil && s == 200
	}, "the closed stream's place to be free")
	c2.close()
	c3.close()
	c5.close()
}

// TestKitchenStreamHeadAndEarlyCloseDoNotLeak proves that HEAD on the
// stream, and a client gone before the stream's first flush, leave no NATS
// consumer and no goroutine behind: after 200 of each the process is back
// to its goroutine baseline and the POS stream has no consumer.
func TestKitchenStreamHeadAndEarlyCloseDoNotLeak(t *testing.T) {
	// Not parallel: it counts the goroutines of the whole test binary, which
	// other tests running at the same time would move.
	f := apitest.NewFixture(t, apitest.Options{Heartbeat: 200 * time.Millisecond,
		MaxConnsPerIP: manyConns, MaxConns: manyConns, StreamLimits: httpapi.StreamLimits{
			OpensPerDevice: 100000, OpensPerVenue: 100000, PerDevice: 1000, PerVenue: 1000}})
	// Warm up (first connections start pools and timers), then take the
	// baseline.
	status, _, err := openStatus(f, seed.TokenKitchen)
	require.NoError(t, err)
	require.Equal(t, 200, status)
	apitest.Eventually(t, 10*time.Second, func() bool { return consumers(t, f) == 0 }, "the warm-up consumer to go")
	time.Sleep(500 * time.Millisecond)
	base := runtime.NumGoroutine()

	for i := 0; i < 200; i++ {
		conn := rawRequest(t, f, "HEAD", "/v1/kitchen/stream?station=grill", seed.TokenKitchen, 0)
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: "HEAD"})
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
		conn.Close()
		// Gone before the first flush: the request is sent, nothing read.
		rawRequest(t, f, "GET", "/v1/kitchen/stream?station=grill", seed.TokenKitchen, 0).Close()
	}
	var n int
	apitest.Eventually(t, 20*time.Second, func() bool {
		n = runtime.NumGoroutine()
		return n <= base+5 && consumers(t, f) == 0
	}, "goroutines back to the baseline and no consumer left")
	t.Logf("goroutines: %d before, %d after 200 HEAD and 200 early-closed streams", base, n)
}

// TestKitchenStreamCursorAhead proves that a cursor after the POS stream's
// last message (a forged one, or a screen's after a JetStream store loss) is
// refused with 409 cursor-ahead naming the stream's last cursor, by
// Last-Event-ID and by ?after=, and nothing is opened; the last cursor
// itself is accepted.
func TestKitchenStreamCursorAhead(t *testing.T) {
	f := streamFixture(t, apitest.Options{})
	f.Waiter.Patch(f.Open("T1").ID, 1, apitest.AddItem("steak", 1), apitest.Fire())
	waitPublished(t, f)
	msgs := subjectMsgs(t, f, "pos.demo.kitchen.grill")
	require.Len(t, msgs, 1)
	ctx := context.Background()
	st, err := f.JS.Stream(ctx, outbox.StreamName)
	require.NoError(t, err)
	info, err := st.Info(ctx)
	require.NoError(t, err)
	last := info.State.LastSeq
	before := consumers(t, f)

	for _, req := range []apitest.Req{
		{Method: "GET", Path: "/v1/kitchen/stream?station=grill&after=" + strconv.FormatUint(last+1, 10), Token: seed.TokenKitchen},
		{Method: "GET", Path: "/v1/kitchen/stream?station=grill", Token: seed.TokenKitchen, Header: map[string]string{"Last-Event-ID": "9000000000"}},
	} {
		p := apitest.RequireProblem(t, f.Do(t, req), 409, "cursor-ahead")
		require.NotNil(t, p.LastCursor)
		require.Equal(t, last, *p.LastCursor)
		require.Contains(t, p.Detail, "without a cursor")
	}
	require.Equal(t, before, consumers(t, f))
	c := connectSSE(t, f, "station=grill&after="+strconv.FormatUint(last, 10), map[string]string{"Authorization": "Bearer " + seed.TokenKitchen})
	c.quiet(t)
	c.close()
}

// TestKitchenStreamRevokedDevice proves that a revoked kitchen device's
// stream ends within the documented time (StreamAuthCheck, 2 s by default,
// plus one check) and is sent no ticket fired after the revocation (a ticket
// message is sent only if the device was found active within AuthFresh, 1 s).
func TestKitchenStreamRevokedDevice(t *testing.T) {
	f := streamFixture(t, apitest.Options{})
	token := f.AddDevice("demo", "pass-3", order.RoleKitchen, "pass-3")
	c := connectSSE(t, f, "station=grill", map[string]string{"Authorization": "Bearer " + token})
	c.quiet(t)
	f.RevokeDevice("demo", "pass-3")
	revoked := time.Now()
	time.Sleep(httpapi.DefaultStreamLimits.AuthFresh)
	id := f.Open("T2").ID
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1), apitest.Fire())
	waitPublished(t, f)
	var got []sseEvent
	ended := false
	for !ended {
		select {
		case ev, ok := <-c.events:
			if !ok {
				ended = true
				break
			}
			got = append(got, ev)
		case <-time.After(30 * time.Second):
			t.Fatal("the revoked device's stream is still open after 30 s")
		}
	}
	took := time.Since(revoked)
	t.Logf("revoked device's stream ended %s after the revocation", took.Round(time.Millisecond))
	require.Empty(t, got, "no ticket for a revoked device")
	require.Less(t, took, httpapi.DefaultStreamAuthCheck+2*time.Second, "ended within the documented time")
	require.Equal(t, 401, f.As(t, token).Get("/v1/kitchen/stream?station=grill").Status)
}

// TestKitchenStreamCutsStuckReader proves that a screen that stops reading
// is cut: a client with a 4 KiB receive buffer that never reads its stream
// of a station with large open tickets is disconnected within the write
// timeout (1 s here): its stream ends and its consumer is deleted, and it
// gets only part of the snapshot.
func TestKitchenStreamCutsStuckReader(t *testing.T) {
	f := streamFixture(t, apitest.Options{StreamLimits: httpapi.StreamLimits{WriteTimeout: time.Second}})
	// 100 open tickets of 60 kB each (written straight to the table: more
	// than the API lets one line carry), so the 6 MB snapshot cannot all sit
	// in the kernel's socket buffers (4 MiB at most on Linux by default).
	id := f.Open("T1").ID
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1), apitest.Fire())
	f.InsertOpenTickets(id, 100, 60000)
	waitPublished(t, f)
	before := consumers(t, f)
	conn := rawRequest(t, f, "GET", "/v1/kitchen/stream?station=grill", seed.TokenKitchen, 4096)
	defer conn.Close()
	apitest.Eventually(t, 10*time.Second, func() bool { return consumers(t, f) == before+1 }, "the stream to open")
	opened := time.Now()
	apitest.Eventually(t, 15*time.Second, func() bool { return consumers(t, f) == before }, "the stuck stream to be cut")
	t.Logf("stuck reader cut %s after its stream opened", time.Since(opened).Round(time.Millisecond))
	// What the kernel had queued still trickles out (slowly: the tiny
	// window); the rest of the snapshot never comes.
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, _ := io.Copy(io.Discard, conn)
	t.Logf("the stuck reader got %d of the snapshot's %d bytes", n, 100*60000)
	snapshot := 100 * 60000
	require.Less(t, n, int64(snapshot), "only part of the snapshot went out")
}

// TestKitchenStreamSnapshotMemory proves the snapshot is bounded and shared:
// 500 screens open the grill stream of a station with 3,001 open tickets
// (100 opening at a time, all 500 held open to the end); each gets
// kitchen.MaxSnapshotTickets (1,000) tickets, the oldest,
// and the process heap (Postgres and the browsers are outside it; posd, NATS
// and the 500 clients are inside) grows by less than 200 MB.
func TestKitchenStreamSnapshotMemory(t *testing.T) {
	f := streamFixture(t, apitest.Options{MaxConnsPerIP: manyConns, MaxConns: manyConns, Heartbeat: 2 * time.Second, StreamLimits: httpapi.StreamLimits{
		OpensPerDevice: 100000, OpensPerVenue: 100000, PerDevice: 1000, PerVenue: 1000}})
	id := f.Open("T1").ID
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1), apitest.Fire())
	f.InsertOpenTickets(id, 3000, 200)
	waitPublished(t, f)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	const screens = 500
	var wg sync.WaitGroup
	counts := make([]int, screens)
	conns := make([]net.Conn, screens)
	// Opens in flight at once: each creates a JetStream consumer, and a
	// loaded CI machine under -race times out a burst of 100 of them.
	opening := make(chan struct{}, 25)
	for i := range screens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			opening <- struct{}{}
			defer func() { <-opening }()
			conn := rawRequest(t, f, "GET", "/v1/kitchen/stream?station=grill", seed.TokenKitchen, 0)
			conns[i] = conn
			br := bufio.NewReaderSize(conn, 4096)
			var first []byte // the start of the answer, to say why it failed
			for {
				line, err := br.ReadSlice('\n')
				if len(first) < 1024 {
					first = append(first, line...)
				}
				if err != nil {
					t.Errorf("screen %d: %v after %d tickets (response %q)", i, err, counts[i], first)
					return
				}
				if bytes.HasPrefix(line, []byte("event: ticket.created")) {
					counts[i]++
				}
				if bytes.HasPrefix(line, []byte("id: ")) {
					counts[i]++ // the snapshot's last item, the one with the cursor
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	require.False(t, t.Failed())
	for i, n := range counts {
		require.Equal(t, kitchen.MaxSnapshotTickets, n, "screen %d", i)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("%d screens × %d-ticket snapshots (of 3,001 open): heap %d MB before, peak %d MB (+%d MB)",
		screens, kitchen.MaxSnapshotTickets, base>>20, peak.Load()>>20, grew>>20)
	require.Less(t, grew, int64(200<<20))
	r := f.Kitchen.Get("/v1/kitchen/tickets?station=grill")
	require.Equal(t, 200, r.Status)
	var list struct {
		Tickets   []kitchen.Ticket `json:"tickets"`
		Truncated bool             `json:"truncated"`
	}
	r.JSON(t, &list)
	require.Len(t, list.Tickets, kitchen.MaxSnapshotTickets)
	require.True(t, list.Truncated)
}

// TestKitchenTicketDetails proves what a ticket tells the cook besides its
// lines: the order's note and guest count on every ticket; on a void ticket
// the void's reason and the staff member who voided (omitted on fires); and
// GET ?status=ready lists the station's recently bumped tickets, most
// recent first, so a screen loaded later can recall them. Any other status
// is 400 naming it.
func TestKitchenTicketDetails(t *testing.T) {
	f := start(t)
	id := f.Open("T3").ID
	o := f.Waiter.Patch(id, 1,
		apitest.SetNote("allergy: shellfish"),
		apitest.SetGuests(5),
		apitest.AddItem("steak", 1), apitest.AddItem("burger", 1), apitest.Fire())
	lines := skuLines(o)
	fire := f.Kitchen.Tickets("grill")[0]
	require.Equal(t, "allergy: shellfish", fire.OrderNote)
	require.Equal(t, 5, fire.Guests)
	// The wire format: a fire has no reason nor voided_by member at all,
	// and the list says it is whole.
	r := f.Kitchen.Get("/v1/kitchen/tickets?station=grill")
	require.Equal(t, 200, r.Status)
	list := r.Map(t)
	require.Equal(t, false, list["truncated"])
	require.NotContains(t, list["tickets"].([]any)[0], "reason")
	require.NotContains(t, list["tickets"].([]any)[0], "voided_by")

	f.Manager.Patch(id, 2,
		apitest.Void(lines["steak"][0], "guest left"),
		apitest.Void(lines["burger"][0], "wrong table"))
	grill := f.Kitchen.Tickets("grill")
	require.Len(t, grill, 2)
	void := grill[1]
	require.Equal(t, "void", void.Kind)
	require.Equal(t, "guest left; wrong table", void.Reason)
	require.Equal(t, "Maria", void.VoidedBy)
	require.Equal(t, "allergy: shellfish", void.OrderNote)

	for _, tk := range grill {
		require.Equal(t, 200, f.Kitchen.TryMove(tk.ID, "bump").Status)
	}
	r = f.Kitchen.Get("/v1/kitchen/tickets?station=grill&status=ready")
	require.Equal(t, 200, r.Status, string(r.Body))
	var ready struct{ Tickets []kitchen.Ticket }
	r.JSON(t, &ready)
	require.Equal(t, []uuid.UUID{grill[1].ID, grill[0].ID}, ticketIDs(ready.Tickets), "most recently bumped first")
	require.Empty(t, f.Kitchen.Tickets("grill"))
	apitest.RequireFieldProblem(t, f.Kitchen.Get("/v1/kitchen/tickets?station=grill&status=done"), 400, "bad-request", apitest.TopLevel, "status")
}
