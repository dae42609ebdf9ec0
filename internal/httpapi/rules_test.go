package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

func TestOpenOrder(t *testing.T) {
	f := start(t)
	r := f.Waiter.Post("/v1/orders", `{"table":"T12","guests":4}`)
	require.Equal(t, 201, r.Status, string(r.Body))
	o := r.Order(t)
	shape := r.Map(t)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.Equal(t, apitest.OrderPath(o.ID), r.Header.Get("Location"))
	require.EqualValues(t, 1, o.Version)
	require.Equal(t, "T12", o.Table)
	require.Equal(t, "open", o.Status)
	require.Equal(t, "Alice", o.Server)
	require.Equal(t, []any{}, shape["lines"])
	require.Equal(t, []any{}, shape["payments"])
	require.Contains(t, shape, "closed_at")
	require.Nil(t, shape["closed_at"])
	_, err := uuid.Parse(shape["id"].(string))
	require.NoError(t, err)
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND type = 'order.opened'", o.ID))

	tables := f.Kitchen.Tables()
	require.Len(t, tables, 30)
	for _, tb := range tables {
		if tb.ID == "T12" {
			require.Equal(t, &o.ID, tb.OpenOrderID)
		} else {
			require.Nil(t, tb.OpenOrderID)
		}
	}
}

func TestOpenOccupiedTable(t *testing.T) {
	f := start(t)
	o := f.Open("T3")
	before := f.Fingerprint()
	p := apitest.RequireProblem(t, f.Waiter2.TryOpen("T3", 2), 409, "table-occupied")
	require.Equal(t, o.ID, p.Current.ID)
	require.Equal(t, before, f.Fingerprint())
}

// TestRacingOpens: many waiters opening one table at once get exactly one
// order; the rest are told the table is occupied, naming the winner. The
// opens start together (apitest.Race), and the test requires that they
// really raced: in at least one round a loser was sent before the winner's
// answer came back, so its insert met the winner's uncommitted one at the
// unique index rather than a committed order (which a sequential run would
// give every time).
func TestRacingOpens(t *testing.T) {
	f := start(t)
	overlapped := 0
	for round := 0; round < 10; round++ {
		table := fmt.Sprintf("T%d", 15+round)
		const n = 12
		res := make([]apitest.Response, n)
		sent, answered := make([]time.Time, n), make([]time.Time, n)
		apitest.Race(n, func(i int) {
			sent[i] = time.Now()
			res[i] = f.Waiter.TryOpen(table, 2)
			answered[i] = time.Now()
		})
		created, win := 0, -1
		for i, r := range res {
			require.Contains(t, []int{201, 409}, r.Status, string(r.Body))
			if r.Status == 201 {
				created++
				win = i
			}
		}
		require.Equal(t, 1, created, "statuses %v", statuses(res))
		winner := res[win].Order(t).ID
		for i, r := range res {
			if i == win {
				continue
			}
			p := apitest.RequireProblem(t, r, 409, "table-occupied")
			require.Equal(t, winner, p.Current.ID)
			if sent[i].Before(answered[win]) {
				overlapped++
			}
		}
		require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders WHERE table_id = $1", table))
	}
	require.Positive(t, overlapped, "no losing open was in flight with the winning one: the opens ran one after another")
}

func statuses(res []apitest.Response) []int {
	out := make([]int, len(res))
	for i, r := range res {
		out[i] = r.Status
	}
	return out
}

func TestOpenBadInput(t *testing.T) {
	f := start(t)
	before := f.Fingerprint()
	cases := []struct {
		name   string
		req    apitest.Req
		status int
		kind   string
		field  string
	}{
		{"unknown table", apitest.Req{Body: `{"table":"T99","guests":2}`}, 422, "validation-failed", "table"},
		{"zero guests", apitest.Req{Body: `{"table":"T1","guests":0}`}, 422, "validation-failed", "guests"},
		{"missing table", apitest.Req{Body: `{"guests":2}`}, 422, "validation-failed", "table"},
		{"missing guests", apitest.Req{Body: `{"table":"T1"}`}, 422, "validation-failed", "guests"},
		{"guests as string", apitest.Req{Body: `{"table":"T1","guests":"two"}`}, 422, "validation-failed", "guests"},
		{"unknown field", apitest.Req{Body: `{"table":"T1","guests":2,"vip":true}`}, 422, "validation-failed", "vip"},
		{"table with NUL", apitest.Req{Body: `{"table":"T1\u0000","guests":2}`}, 422, "validation-failed", "table"},
		{"malformed", apitest.Req{Body: `{"table":"T1",`}, 400, "bad-request", ""},
		{"not an object", apitest.Req{Body: `[1,2]`}, 400, "bad-request", ""},
		{"trailing data", apitest.Req{Body: `{"table":"T1","guests":2} {}`}, 400, "bad-request", ""},
		{"empty body", apitest.Req{Body: ``}, 400, "bad-request", ""},
		{"invalid utf-8", apitest.Req{Body: []byte("{\"table\":\"T\xff\",\"guests\":2}")}, 400, "bad-request", ""},
		{"wrong content type", apitest.Req{Body: `{"table":"T1","guests":2}`, ContentType: "text/plain"}, 415, "unsupported-media-type", "Content-Type"},
		// Sent whole: posd reads and discards it before closing, so the
		// client reads the 413 rather than a reset connection.
		{"too large", apitest.Req{Body: `{"table":"` + strings.Repeat("x", 70<<10) + `","guests":2}`}, 413, "payload-too-large", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := c.req
			req.Method, req.Path = "POST", "/v1/orders"
			p := apitest.RequireProblem(t, f.Waiter.Do(req), c.status, c.kind)
			if c.field != "" {
				apitest.RequireField(t, p, apitest.TopLevel, c.field)
			}
		})
	}
	require.Equal(t, before, f.Fingerprint())
}

func TestAuthAndRoles(t *testing.T) {
	f := start(t)
	o := f.Open("T1")
	before := f.Fingerprint()
	path := apitest.OrderPath(o.ID)
	patch := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.AddItem("steak", 1)}}
	anon := f.As(t, "")

	r := anon.Get(path)
	apitest.RequireProblem(t, r, 401, "unauthorized")
	require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
	apitest.RequireProblem(t, f.As(t, "nope").Get(path), 401, "unauthorized")
	apitest.RequireProblem(t, anon.Get(path, map[string]string{"Authorization": "Basic " + seed.TokenWaiter1}), 401, "unauthorized")

	apitest.RequireProblem(t, f.Kitchen.Get(path), 403, "forbidden")
	apitest.RequireProblem(t, f.Kitchen.Get("/v1/orders"), 403, "forbidden")
	apitest.RequireProblem(t, f.Kitchen.Post("/v1/orders", `{"table":"T2","guests":1}`), 403, "forbidden")
	apitest.RequireProblem(t, f.Kitchen.SendPatch(o.ID, patch), 403, "forbidden")
	apitest.RequireProblem(t, f.Auditor.SendPatch(o.ID, patch), 403, "forbidden")
	require.Equal(t, 200, f.Auditor.Get(path).Status)
	require.Equal(t, 200, f.Kitchen.Get("/v1/menu").Status)

	// Another venue's order does not exist as far as its devices can tell.
	apitest.RequireProblem(t, f.Other.Get(path), 404, "not-found")
	apitest.RequireProblem(t, f.Other.Get(path+"/events"), 404, "not-found")
	apitest.RequireProblem(t, f.Other.SendPatch(o.ID, patch), 404, "not-found")
	require.Empty(t, f.Other.Orders("").Orders)
	tables := f.Other.Tables()
	require.Len(t, tables, 5)
	require.Nil(t, tables[0].OpenOrderID)
	require.Equal(t, before, f.Fingerprint())
}

func TestGetOrderETag(t *testing.T) {
	f := start(t)
	o := f.Open("T1")
	r := f.Waiter.TryOrder(o.ID)
	require.Equal(t, 200, r.Status)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	path := apitest.OrderPath(o.ID)
	r = f.Waiter.Get(path, map[string]string{"If-None-Match": `"1"`})
	require.Equal(t, 304, r.Status)
	f.Waiter.Patch(o.ID, 1, apitest.AddItem("beer", 1))
	r = f.Waiter.Get(path, map[string]string{"If-None-Match": `"1"`})
	require.Equal(t, 200, r.Status)
	require.Equal(t, `"2"`, r.Header.Get("ETag"))

	apitest.RequireProblem(t, f.Waiter.TryOrder(uuid.New()), 404, "not-found")
	apitest.RequireProblem(t, f.Waiter.Get("/v1/orders/not-a-uuid"), 404, "not-found")
	apitest.RequireProblem(t, f.Waiter.Get("/v1/nothing-here"), 404, "not-found")
}

func TestPreconditions(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	ops := []order.Op{apitest.AddItem("steak", 1)}
	unversioned := apitest.Patch{Ops: ops}
	ifMatch := func(v string) map[string]string { return map[string]string{"If-Match": v} }
	before := f.Fingerprint()

	apitest.RequireFieldProblem(t, f.Waiter.SendPatch(id, unversioned), 428, "precondition-required", apitest.TopLevel, "expected_version")
	apitest.RequireProblem(t, f.Waiter.SendPatch(id, unversioned, ifMatch("*")), 428, "precondition-required")
	apitest.RequireProblem(t, f.Waiter.SendPatch(id, apitest.Patch{ExpectedVersion: 1, Ops: ops}, ifMatch(`"2"`)), 400, "bad-request")
	apitest.RequireProblem(t, f.Waiter.SendPatch(id, unversioned, ifMatch(`W/"1"`)), 400, "bad-request")
	apitest.RequireProblem(t, f.Waiter.SendPatch(id, apitest.Raw{"expected_version": 0, "ops": ops}), 422, "validation-failed")
	require.Equal(t, before, f.Fingerprint())

	// If-Match alone, and If-Match agreeing with the body, are both fine.
	r := f.Waiter.SendPatch(id, unversioned, ifMatch(`"1"`))
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	r = f.Waiter.SendPatch(id, apitest.Patch{ExpectedVersion: 2, Ops: ops}, ifMatch(`"2"`))
	require.Equal(t, 200, r.Status, string(r.Body))

	// Stale: 412 through If-Match, 409 through the body, same problem body.
	before = f.Fingerprint()
	r = f.Waiter.SendPatch(id, unversioned, ifMatch(`"1"`))
	p412 := apitest.RequireProblem(t, r, 412, "version-conflict")
	require.Equal(t, `"3"`, r.Header.Get("ETag"))
	p409 := apitest.RequireProblem(t, f.Waiter.TryPatch(id, 1, apitest.AddItem("steak", 1)), 409, "version-conflict")
	for _, p := range []httpapi.Problem{p412, p409} {
		require.EqualValues(t, 1, *p.ExpectedVersion)
		require.EqualValues(t, 3, *p.CurrentVersion)
		require.EqualValues(t, 3, p.Current.Version)
		changes := *p.Changes
		require.Len(t, changes, 2)
		require.EqualValues(t, 2, changes[0].Version)
		require.EqualValues(t, 3, changes[1].Version)
	}
	require.Equal(t, before, f.Fingerprint())

	// The conflict is logged at info with both versions, and counted.
	require.Contains(t, f.LogText(), `"level":"info"`)
	require.Regexp(t, `"expected_version":1.*"current_version":3`, f.LogText())
	metrics := string(f.As(t, "").Get("/metrics").Body)
	require.Contains(t, metrics, `posd_order_conflicts_total{kind="version-conflict"} 2`)
	require.Contains(t, metrics, `posd_http_requests_total{method="PATCH",route="/v1/orders/:id",status="409"} 1`)
}

func TestNoOpPatchKeepsVersion(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	before := f.Fingerprint()
	o := f.Waiter.Patch(id, 1, apitest.SetGuests(2), apitest.SetNote(""), apitest.Fire())
	require.EqualValues(t, 1, o.Version)
	require.Equal(t, before, f.Fingerprint())
}

// TestPatchAtomic: a PATCH whose last op is bad writes none of its ops.
func TestPatchAtomic(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	before := f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(id, 1, apitest.AddItem("steak", 1), apitest.AddItem("fries", 1), apitest.AddItem("unicorn", 1)),
		422, "validation-failed", 2, "sku")
	require.Equal(t, before, f.Fingerprint())

	// Ops apply in order: a line added earlier in the same PATCH can be
	// referred to by its client-chosen id.
	lineID := uuid.New()
	o := f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1, apitest.LineID(lineID)), apitest.SetQty(lineID, 3))
	require.EqualValues(t, 2, o.Version)
	require.Equal(t, lineID, o.Lines[0].ID)
	require.EqualValues(t, 3, o.Lines[0].Qty)
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND version = 2", id))
}

func TestPatchBadInput(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	pendingID, sentID := uuid.New(), uuid.New()
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1, apitest.LineID(sentID)), apitest.Fire(), apitest.AddItem("fries", 1, apitest.LineID(pendingID)))
	before := f.Fingerprint()

	type tc struct {
		name   string
		as     *apitest.Client
		body   any
		status int
		kind   string
		idx    int
		field  string
	}
	const top = apitest.TopLevel
	// op is a body at version 2 with one op: a typed one, or raw JSON for
	// what no order.Op can express.
	op := func(o any) any { return apitest.Raw{"expected_version": 2, "ops": []any{o}} }
	w, m := f.Waiter, f.Manager
	cases := []tc{
		{"unknown op", w, op(apitest.Raw{"op": "explode"}), 422, "validation-failed", 0, "op"},
		{"missing op", w, op(apitest.Raw{"sku": "steak"}), 422, "validation-failed", 0, "op"},
		{"op not an object", w, op("add_item"), 422, "validation-failed", 0, "op"},
		{"unknown sku", w, op(apitest.AddItem("unicorn", 1)), 422, "validation-failed", 0, "sku"},
		{"qty zero", w, op(apitest.Raw{"op": "add_item", "sku": "steak", "qty": 0}), 422, "validation-failed", 0, "qty"},
		{"qty 100", w, op(apitest.AddItem("steak", 100)), 422, "validation-failed", 0, "qty"},
		{"qty fraction", w, op(apitest.Raw{"op": "add_item", "sku": "steak", "qty": 1.5}), 422, "validation-failed", 0, "qty"},
		{"qty string", w, op(apitest.Raw{"op": "add_item", "sku": "steak", "qty": "2"}), 422, "validation-failed", 0, "qty"},
		{"field of another op", w, op(apitest.Raw{"op": "add_item", "sku": "steak", "reason": "x"}), 422, "validation-failed", 0, "reason"},
		{"bad line id", w, op(apitest.Raw{"op": "remove_item", "line_id": "abc"}), 422, "validation-failed", 0, "line_id"},
		{"line id reused", w, op(apitest.AddItem("steak", 1, apitest.LineID(sentID))), 422, "validation-failed", 0, "line_id"},
		{"set_qty without line", w, op(apitest.Raw{"op": "set_qty", "qty": 2}), 422, "validation-failed", 0, "line_id"},
		{"set_qty unknown line", w, op(apitest.SetQty(uuid.New(), 2)), 422, "validation-failed", 0, "line_id"},
		{"set_qty on sent line", w, op(apitest.SetQty(sentID, 2)), 422, "validation-failed", 0, "line_id"},
		{"remove sent line", w, op(apitest.Remove(sentID)), 422, "validation-failed", 0, "line_id"},
		{"void pending line", m, op(apitest.Void(pendingID, "x")), 422, "validation-failed", 0, "line_id"},
		{"void without reason", m, op(apitest.Void(sentID, "")), 422, "validation-failed", 0, "reason"},
		{"void blank reason", m, op(apitest.Void(sentID, "  ")), 422, "validation-failed", 0, "reason"},
		{"comp without reason", m, op(apitest.Comp(sentID, "")), 422, "validation-failed", 0, "reason"},
		{"void by waiter", w, op(apitest.Void(sentID, "x")), 403, "forbidden", 0, "op"},
		{"comp by waiter", w, op(apitest.Comp(sentID, "x")), 403, "forbidden", 0, "op"},
		{"guests zero", w, op(apitest.SetGuests(0)), 422, "validation-failed", 0, "guests"},
		{"note missing", w, op(apitest.Raw{"op": "set_note"}), 422, "validation-failed", 0, "note"},
		{"note too long", w, op(apitest.SetNote(strings.Repeat("n", 281))), 422, "validation-failed", 0, "note"},
		{"note with NUL", w, op(apitest.SetNote("a\u0000b")), 422, "validation-failed", 0, "note"},
		{"modifier with control", w, op(apitest.AddItem("steak", 1, apitest.Mods("no\u0007onions"))), 422, "validation-failed", 0, "modifiers"},
		{"reason with NUL", m, op(apitest.Void(sentID, "bad\u0000reason")), 422, "validation-failed", 0, "reason"},
		{"move to unknown table", w, op(apitest.Move("T404")), 422, "validation-failed", 0, "table"},
		{"send bad course", w, op(apitest.FireCourse(0)), 422, "validation-failed", 0, "course"},
		{"bad tender", w, op(apitest.PayNoTip("iou", 100)), 422, "validation-failed", 0, "tender"},
		{"zero amount", w, op(apitest.PayNoTip("card", 0)), 422, "validation-failed", 0, "amount_cents"},
		{"negative tip", w, op(apitest.Pay("card", 10, -1)), 422, "validation-failed", 0, "tip_cents"},
		{"close with pending", w, op(apitest.Close()), 422, "validation-failed", 0, "op"},
		{"no ops", w, apitest.Patch{ExpectedVersion: 2, Ops: []order.Op{}}, 422, "validation-failed", top, "ops"},
		{"ops missing", w, apitest.Raw{"expected_version": 2}, 422, "validation-failed", top, "ops"},
		{"ops not array", w, apitest.Raw{"expected_version": 2, "ops": "send"}, 422, "validation-failed", top, "ops"},
		{"version string", w, apitest.Raw{"expected_version": "2", "ops": []any{apitest.AddItem("steak", 1)}}, 422, "validation-failed", top, "expected_version"},
		{"unknown top-level field", w, apitest.Raw{"expected_version": 2, "ops": []any{apitest.AddItem("steak", 1)}, "merge": true}, 422, "validation-failed", top, "merge"},
		{"force by waiter", w, apitest.Patch{Force: true, Ops: []order.Op{apitest.AddItem("steak", 1)}}, 403, "forbidden", top, "force"},
		{"malformed", w, `{"expected_version": 2, "ops": [`, 400, "bad-request", -2, ""},
	}
	many := make([]order.Op, 101)
	for i := range many {
		many[i] = apitest.AddItem("beer", 1)
	}
	cases = append(cases, tc{"101 ops", w, apitest.Patch{ExpectedVersion: 2, Ops: many}, 413, "payload-too-large", top, "ops"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := apitest.RequireProblem(t, f.As(t, c.as.Token).SendPatch(id, c.body), c.status, c.kind)
			if c.idx >= top {
				apitest.RequireField(t, p, c.idx, c.field)
			}
		})
	}
	apitest.RequireProblem(t, f.Waiter.Do(apitest.Req{Method: "PATCH", Path: apitest.OrderPath(id),
		Body: `{"expected_version":2,"ops":[{"op":"send"}]}`, ContentType: "application/xml"}), 415, "unsupported-media-type")
	require.Equal(t, before, f.Fingerprint())
}

func TestLineRulesAndTotals(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	steak, fries, beer := uuid.New(), uuid.New(), uuid.New()
	o := f.Waiter.Patch(id, 1,
		apitest.AddItem("steak", 2, apitest.LineID(steak), apitest.Seat(1), apitest.Course(2), apitest.Mods("no onions"), apitest.LineNote("medium rare")),
		apitest.AddItem("fries", 1, apitest.LineID(fries), apitest.Course(2)), apitest.AddItem("beer", 1, apitest.LineID(beer), apitest.Course(1)))
	require.EqualValues(t, 2*2400+500+700, o.Totals.SubtotalCents)

	o = f.Waiter.Patch(id, 2, apitest.FireCourse(1))
	statuses := map[uuid.UUID]string{}
	for _, l := range o.Lines {
		statuses[l.ID] = l.Status
	}
	require.Equal(t, map[uuid.UUID]string{steak: "pending", fries: "pending", beer: "sent"}, statuses)

	o = f.Waiter.Patch(id, 3, apitest.Remove(fries), apitest.Fire())
	require.Len(t, o.Lines, 2)
	o = f.Manager.Patch(id, 4, apitest.Void(beer, "spilled"), apitest.Comp(steak, "long wait"))
	require.EqualValues(t, 0, o.Totals.SubtotalCents)
	require.EqualValues(t, 0, o.Totals.DueCents)
	o = f.Waiter.Patch(id, 5, apitest.Close())
	require.Equal(t, "closed", o.Status)
	require.NotNil(t, o.ClosedAt)

	// A closed order refuses every op and frees its table.
	before := f.Fingerprint()
	p := apitest.RequireProblem(t, f.Waiter.TryPatch(id, 6, apitest.AddItem("beer", 1)), 409, "order-closed")
	require.Equal(t, "closed", p.Current.Status)
	require.Equal(t, before, f.Fingerprint())
	f.Open("T1")
}

func TestCloseNeedsPayment(t *testing.T) {
	f := start(t)
	id := f.Fired("T1", apitest.AddItem("steak", 1)).ID
	before := f.Fingerprint()
	apitest.RequireFieldProblem(t, f.Waiter.TryPatch(id, 2, apitest.Close()), 422, "validation-failed", 0, "op")
	require.Equal(t, before, f.Fingerprint())
	r := f.Waiter.TryPatch(id, 2, apitest.Pay("card", 2400, 300), apitest.Close())
	require.Equal(t, 200, r.Status, string(r.Body))
	o := r.Order(t)
	require.Equal(t, "closed", o.Status)
	require.Len(t, o.Payments, 1)
	require.NotNil(t, o.Payments[0].ID, "a payment has a server-assigned id")
	require.Equal(t, []any{map[string]any{"id": o.Payments[0].ID.String(), "tender": "card", "amount_cents": float64(2400), "tip_cents": float64(300), "check": float64(1)}}, r.Map(t)["payments"])
	require.EqualValues(t, 2400, o.Totals.PaidCents)
}

func TestMoveTable(t *testing.T) {
	f := start(t)
	a := f.Open("T1").ID
	b := f.Open("T2").ID
	before := f.Fingerprint()
	p := apitest.RequireProblem(t, f.Waiter.TryPatch(a, 1, apitest.Move("T2")), 409, "table-occupied")
	require.Equal(t, "T1", p.Current.Table)
	require.Equal(t, b.String(), *p.OccupiedBy)
	require.Equal(t, before, f.Fingerprint())
	o := f.Waiter.Patch(a, 1, apitest.Move("T7"))
	require.Equal(t, "T7", o.Table)
	f.Open("T1")
}

// TestForce: a manager's forced write skips the version check and records
// what it overrode; anyone else is refused before the precondition is looked at.
func TestForce(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1))
	f.Waiter2.Patch(id, 2, apitest.AddItem("fries", 1))

	before := f.Fingerprint()
	apitest.RequireProblem(t, f.Waiter.SendPatch(id, apitest.Patch{ExpectedVersion: 1, Force: true, Ops: []order.Op{apitest.AddItem("beer", 1)}}), 403, "forbidden")
	require.Equal(t, before, f.Fingerprint())

	r := f.Manager.SendPatch(id, apitest.Patch{ExpectedVersion: 1, Force: true, Ops: []order.Op{apitest.SetGuests(9)}})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.EqualValues(t, 4, r.Order(t).Version)
	evs := f.Manager.Events(id, 3).Events
	require.Len(t, evs, 1)
	require.True(t, evs[0].Forced)
	require.NotNil(t, evs[0].OverriddenVersion)
	require.EqualValues(t, 3, *evs[0].OverriddenVersion)
	require.Equal(t, order.Actor{Device: "manager", Staff: "Maria", Role: "manager"}, evs[0].Actor)

	// Without a precondition a forced write still lands.
	r = f.Manager.SendPatch(id, apitest.Patch{Force: true, Ops: []order.Op{apitest.SetGuests(3)}})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.EqualValues(t, 5, r.Order(t).Version)
}

// TestHistory: at_version rebuilds earlier states from the log, and folding
// the whole log gives exactly the stored order (invariant 3).
func TestHistory(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	line := uuid.New()
	f.Waiter.Patch(id, 1, apitest.AddItem("steak", 1, apitest.LineID(line)))
	f.Waiter.Patch(id, 2, apitest.SetQty(line, 4), apitest.SetNote("birthday"))
	f.Waiter.Patch(id, 3, apitest.Fire(), apitest.Move("T9"))
	f.Manager.Patch(id, 4, apitest.Comp(line, "birthday"))
	// The comp leaves nothing due: closing needs no payment.
	f.Waiter.Patch(id, 5, apitest.Close())

	path := apitest.OrderPath(id)
	r := f.Manager.Get(path + "?at_version=2")
	require.Equal(t, 200, r.Status, string(r.Body))
	v2 := r.Order(t)
	require.EqualValues(t, 2, v2.Version)
	require.EqualValues(t, 1, v2.Lines[0].Qty)
	require.Equal(t, "T1", v2.Table)

	current := f.Auditor.Get(path)
	folded := f.Auditor.Get(path + "?at_version=6")
	require.Equal(t, 200, folded.Status, string(folded.Body))
	require.Equal(t, current.Map(t), folded.Map(t))
	require.EqualValues(t, 6, current.Order(t).Version)
	require.EqualValues(t, 6, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))

	apitest.RequireProblem(t, f.Waiter.Get(path+"?at_version=2"), 403, "forbidden")
	apitest.RequireProblem(t, f.Manager.Get(path+"?at_version=7"), 422, "validation-failed")
	apitest.RequireProblem(t, f.Manager.Get(path+"?at_version=x"), 400, "bad-request")
	apitest.RequireProblem(t, f.Manager.Get(apitest.OrderPath(uuid.New())+"?at_version=1"), 404, "not-found")

	evs := f.Waiter.Events(id, 4).Events
	require.Len(t, evs, 2)
	require.EqualValues(t, 5, evs[0].Version)
	apitest.RequireProblem(t, f.Waiter.Get(path+"/events?after_version=-1"), 400, "bad-request")
}

func TestListOrders(t *testing.T) {
	f := start(t)
	a := f.Open("T1").ID
	b := f.Open("T2").ID
	f.Waiter.Patch(b, 1, apitest.Close())
	ids := func(q string) []uuid.UUID {
		var out []uuid.UUID
		for _, o := range f.Auditor.Orders(q).Orders {
			out = append(out, o.ID)
		}
		return out
	}
	require.ElementsMatch(t, []uuid.UUID{a, b}, ids(""))
	require.Equal(t, []uuid.UUID{a}, ids("?status=open"))
	require.Equal(t, []uuid.UUID{b}, ids("?status=closed"))
	require.Equal(t, []uuid.UUID{b}, ids("?table=T2"))
	require.Empty(t, ids("?table=T2&status=open"))
	require.Len(t, ids("?limit=1"), 1)
	apitest.RequireProblem(t, f.Waiter.Get("/v1/orders?status=maybe"), 400, "bad-request")
	apitest.RequireProblem(t, f.Waiter.Get("/v1/orders?limit=0"), 400, "bad-request")
}

func TestMenu(t *testing.T) {
	f := start(t)
	items := f.Waiter.Menu()
	require.GreaterOrEqual(t, len(items), 12)
	stations := map[string]bool{}
	for _, it := range items {
		require.NotEmpty(t, it.SKU)
		require.NotEmpty(t, it.Name)
		require.Greater(t, it.PriceCents, int64(0))
		stations[it.Station] = true
	}
	require.Equal(t, map[string]bool{"grill": true, "fry": true, "cold": true, "bar": true}, stations)

	// The whole answer (DESIGN.md section 9), as the demo seed makes it.
	r := f.Kitchen.Get("/v1/menu")
	require.Equal(t, 200, r.Status, string(r.Body))
	m := r.Map(t)
	keys := []string{}
	for k := range m {
		keys = append(keys, k)
	}
	require.ElementsMatch(t, []string{"version", "items", "modifier_groups", "tax_classes", "service_charge", "tenders"}, keys)
	require.GreaterOrEqual(t, m["version"], float64(1))
	require.Equal(t, []any{"cash", "card", "voucher", "other"}, m["tenders"])
	require.Equal(t, map[string]any{"min_guests": float64(8), "rate_bps": float64(1800), "tax_class": "food"}, m["service_charge"])
	require.Equal(t, []any{
		map[string]any{"id": "food", "name": "Food", "rate_bps": float64(1000), "inclusive": true},
		map[string]any{"id": "drinks", "name": "Drinks", "rate_bps": float64(2000), "inclusive": true},
	}, m["tax_classes"])
	groups := m["modifier_groups"].([]any)
	require.Len(t, groups, 2)
	temp := groups[0].(map[string]any)
	require.Equal(t, "temp", temp["id"])
	require.Equal(t, float64(1), temp["min"])
	require.Equal(t, float64(1), temp["max"])
	require.Equal(t, map[string]any{"id": "truffle-fries", "name": "Truffle fries", "price_cents": float64(450)},
		groups[1].(map[string]any)["options"].([]any)[0])
	bySKU := map[string]map[string]any{}
	for _, it := range m["items"].([]any) {
		bySKU[it.(map[string]any)["sku"].(string)] = it.(map[string]any)
	}
	steak := bySKU["steak"]
	delete(steak, "version")
	require.Equal(t, map[string]any{"sku": "steak", "name": "Steak frites", "category": "mains", "price_cents": float64(2400),
		"station": "grill", "tax_class": "food", "modifier_groups": []any{"sides"},
		"available": true, "unavailable_until": nil, "remaining": nil}, steak)
	require.Equal(t, false, bySKU[seed.Demo86d]["available"])
	require.Equal(t, float64(seed.DemoCountedPortions), bySKU[seed.DemoCounted]["remaining"])
	require.Equal(t, []any{}, bySKU["fries"]["modifier_groups"])
}
