package httpapi_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
)

const (
	waiter  = "demo-waiter-1"
	waiter2 = "demo-waiter-2"
	manager = "demo-manager"
	kitchen = "demo-kitchen"
	auditor = "demo-auditor"
	other   = "demo2-waiter"
)

// fixture is one running stack plus helpers to drive and inspect it.
type fixture struct {
	*apitest.Stack
	t *testing.T
}

func setup(t *testing.T) fixture {
	t.Parallel()
	return fixture{Stack: apitest.Start(t), t: t}
}

// open opens an order on table and returns its id.
func (f fixture) open(table string) string {
	f.t.Helper()
	r := f.Do(f.t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: waiter, Body: map[string]any{"table": table, "guests": 2}})
	require.Equal(f.t, 201, r.Status, string(r.Body))
	return r.Map(f.t)["id"].(string)
}

// patch sends a PATCH with expected_version and ops as the given token.
func (f fixture) patch(token, id string, version int, ops ...map[string]any) apitest.Response {
	f.t.Helper()
	return f.Do(f.t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: token,
		Body: map[string]any{"expected_version": version, "ops": ops}})
}

// mustPatch is patch that requires 200 and returns the order.
func (f fixture) mustPatch(token, id string, version int, ops ...map[string]any) map[string]any {
	f.t.Helper()
	r := f.patch(token, id, version, ops...)
	require.Equal(f.t, 200, r.Status, string(r.Body))
	return r.Map(f.t)
}

// state is a fingerprint of everything the write path can change.
func (f fixture) state() string {
	f.t.Helper()
	return fmt.Sprintf("orders=%d versions=%d events=%d lines=%d linehash=%d payments=%d",
		f.DB.Count(f.t, "SELECT count(*) FROM orders"),
		f.DB.Count(f.t, "SELECT coalesce(sum(version),0) FROM orders"),
		f.DB.Count(f.t, "SELECT count(*) FROM order_events"),
		f.DB.Count(f.t, "SELECT count(*) FROM order_lines"),
		f.DB.Count(f.t, "SELECT coalesce(sum(hashtext(id::text || qty || status || comped)),0) FROM order_lines"),
		f.DB.Count(f.t, "SELECT count(*) FROM order_payments"))
}

// requireProblem checks status, content type and the problem type's last
// segment.
func requireProblem(t *testing.T, r apitest.Response, status int, kind string) map[string]any {
	t.Helper()
	require.Equal(t, status, r.Status, string(r.Body))
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	p := r.Map(t)
	require.True(t, strings.HasSuffix(p["type"].(string), "/"+kind), "type %v, want …/%s", p["type"], kind)
	require.EqualValues(t, status, p["status"])
	require.NotEmpty(t, p["title"])
	require.NotEmpty(t, p["detail"])
	return p
}

// requireFieldError checks a problem names field (and op index when idx >= 0).
func requireFieldError(t *testing.T, p map[string]any, idx int, field string) {
	t.Helper()
	errs, _ := p["errors"].([]any)
	for _, e := range errs {
		m := e.(map[string]any)
		if m["field"] != field {
			continue
		}
		if idx < 0 {
			require.NotContains(t, m, "op_index")
			return
		}
		require.EqualValues(t, idx, m["op_index"], "problem %v", p)
		return
	}
	t.Fatalf("no error for op %d field %q in %v", idx, field, p)
}

func addItem(sku string, extra ...any) map[string]any {
	m := map[string]any{"op": "add_item", "sku": sku}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

func TestOpenOrder(t *testing.T) {
	f := setup(t)
	r := f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: waiter, Body: `{"table":"T12","guests":4}`})
	require.Equal(t, 201, r.Status, string(r.Body))
	o := r.Map(t)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.Equal(t, "/v1/orders/"+o["id"].(string), r.Header.Get("Location"))
	require.EqualValues(t, 1, o["version"])
	require.Equal(t, "T12", o["table"])
	require.Equal(t, "open", o["status"])
	require.Equal(t, "Alice", o["server"])
	require.Equal(t, []any{}, o["lines"])
	require.Equal(t, []any{}, o["payments"])
	require.Nil(t, o["closed_at"])
	_, err := uuid.Parse(o["id"].(string))
	require.NoError(t, err)
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND type = 'order.opened'", o["id"]))

	tables := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/tables", Token: kitchen}).Map(t)["tables"].([]any)
	require.Len(t, tables, 30)
	for _, tb := range tables {
		m := tb.(map[string]any)
		if m["id"] == "T12" {
			require.Equal(t, o["id"], m["open_order_id"])
		} else {
			require.Nil(t, m["open_order_id"])
		}
	}
}

func TestOpenOccupiedTable(t *testing.T) {
	f := setup(t)
	id := f.open("T3")
	before := f.state()
	r := f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: waiter2, Body: map[string]any{"table": "T3", "guests": 2}})
	p := requireProblem(t, r, 409, "table-occupied")
	require.Equal(t, id, p["current"].(map[string]any)["id"])
	require.Equal(t, before, f.state())
}

// TestRacingOpens: many waiters opening one table at once get exactly one
// order; the rest are told the table is occupied.
func TestRacingOpens(t *testing.T) {
	f := setup(t)
	for round := 0; round < 5; round++ {
		table := fmt.Sprintf("T%d", 20+round)
		const n = 12
		statuses := make([]int, n)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: waiter, Body: map[string]any{"table": table, "guests": 2}})
				statuses[i] = r.Status
			}(i)
		}
		wg.Wait()
		created := 0
		for _, s := range statuses {
			require.Contains(t, []int{201, 409}, s)
			if s == 201 {
				created++
			}
		}
		require.Equal(t, 1, created, "statuses %v", statuses)
		require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders WHERE table_id = $1", table))
	}
}

func TestOpenBadInput(t *testing.T) {
	f := setup(t)
	before := f.state()
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
			req.Method, req.Path, req.Token = "POST", "/v1/orders", waiter
			p := requireProblem(t, f.Do(t, req), c.status, c.kind)
			if c.field != "" {
				requireFieldError(t, p, -1, c.field)
			}
		})
	}
	require.Equal(t, before, f.state())
}

func TestAuthAndRoles(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	before := f.state()
	path := "/v1/orders/" + id
	patchBody := map[string]any{"expected_version": 1, "ops": []any{addItem("steak")}}

	r := f.Do(t, apitest.Req{Method: "GET", Path: path})
	requireProblem(t, r, 401, "unauthorized")
	require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path, Token: "nope"}), 401, "unauthorized")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path, Header: map[string]string{"Authorization": "Basic " + waiter}}), 401, "unauthorized")

	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path, Token: kitchen}), 403, "forbidden")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders", Token: kitchen}), 403, "forbidden")
	requireProblem(t, f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: kitchen, Body: `{"table":"T2","guests":1}`}), 403, "forbidden")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: kitchen, Body: patchBody}), 403, "forbidden")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: auditor, Body: patchBody}), 403, "forbidden")
	require.Equal(t, 200, f.Do(t, apitest.Req{Method: "GET", Path: path, Token: auditor}).Status)
	require.Equal(t, 200, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/menu", Token: kitchen}).Status)

	// Another venue's order does not exist as far as its devices can tell.
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path, Token: other}), 404, "not-found")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path + "/events", Token: other}), 404, "not-found")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: other, Body: patchBody}), 404, "not-found")
	list := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders", Token: other}).Map(t)
	require.Empty(t, list["orders"])
	tables := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/tables", Token: other}).Map(t)["tables"].([]any)
	require.Len(t, tables, 5)
	require.Nil(t, tables[0].(map[string]any)["open_order_id"])
	require.Equal(t, before, f.state())
}

func TestGetOrderETag(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + id, Token: waiter})
	require.Equal(t, 200, r.Status)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	r = f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + id, Token: waiter, Header: map[string]string{"If-None-Match": `"1"`}})
	require.Equal(t, 304, r.Status)
	f.mustPatch(waiter, id, 1, addItem("beer"))
	r = f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + id, Token: waiter, Header: map[string]string{"If-None-Match": `"1"`}})
	require.Equal(t, 200, r.Status)
	require.Equal(t, `"2"`, r.Header.Get("ETag"))

	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + uuid.NewString(), Token: waiter}), 404, "not-found")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/not-a-uuid", Token: waiter}), 404, "not-found")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/nothing-here", Token: waiter}), 404, "not-found")
}

func TestPreconditions(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	path := "/v1/orders/" + id
	ops := []any{addItem("steak")}
	before := f.state()

	p := requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"ops": ops}}), 428, "precondition-required")
	requireFieldError(t, p, -1, "expected_version")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"ops": ops},
		Header: map[string]string{"If-Match": "*"}}), 428, "precondition-required")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"expected_version": 1, "ops": ops},
		Header: map[string]string{"If-Match": `"2"`}}), 400, "bad-request")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"ops": ops},
		Header: map[string]string{"If-Match": `W/"1"`}}), 400, "bad-request")
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"expected_version": 0, "ops": ops}}), 422, "validation-failed")
	require.Equal(t, before, f.state())

	// If-Match alone, and If-Match agreeing with the body, are both fine.
	r := f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"ops": ops}, Header: map[string]string{"If-Match": `"1"`}})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	r = f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"expected_version": 2, "ops": ops}, Header: map[string]string{"If-Match": `"2"`}})
	require.Equal(t, 200, r.Status, string(r.Body))

	// Stale: 412 through If-Match, 409 through the body, same problem body.
	before = f.state()
	r = f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: map[string]any{"ops": ops}, Header: map[string]string{"If-Match": `"1"`}})
	p412 := requireProblem(t, r, 412, "version-conflict")
	require.Equal(t, `"3"`, r.Header.Get("ETag"))
	p409 := requireProblem(t, f.patch(waiter, id, 1, addItem("steak")), 409, "version-conflict")
	for _, p := range []map[string]any{p412, p409} {
		require.EqualValues(t, 1, p["expected_version"])
		require.EqualValues(t, 3, p["current_version"])
		require.EqualValues(t, 3, p["current"].(map[string]any)["version"])
		changes := p["changes"].([]any)
		require.Len(t, changes, 2)
		require.EqualValues(t, 2, changes[0].(map[string]any)["version"])
		require.EqualValues(t, 3, changes[1].(map[string]any)["version"])
	}
	require.Equal(t, before, f.state())

	// The conflict is logged at info with both versions, and counted.
	require.Contains(t, f.LogText(), `"level":"info"`)
	require.Regexp(t, `"expected_version":1.*"current_version":3`, f.LogText())
	metrics := string(f.Do(t, apitest.Req{Method: "GET", Path: "/metrics"}).Body)
	require.Contains(t, metrics, `posd_order_conflicts_total{kind="version-conflict"} 2`)
	require.Contains(t, metrics, `posd_http_requests_total{method="PATCH",route="/v1/orders/:id",status="409"} 1`)
}

func TestNoOpPatchKeepsVersion(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	before := f.state()
	o := f.mustPatch(waiter, id, 1, map[string]any{"op": "set_guests", "guests": 2}, map[string]any{"op": "set_note", "note": ""}, map[string]any{"op": "send"})
	require.EqualValues(t, 1, o["version"])
	require.Equal(t, before, f.state())
}

// TestPatchAtomic: a PATCH whose last op is bad writes none of its ops.
func TestPatchAtomic(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	before := f.state()
	p := requireProblem(t, f.patch(waiter, id, 1, addItem("steak"), addItem("fries"), addItem("unicorn")), 422, "validation-failed")
	requireFieldError(t, p, 2, "sku")
	require.Equal(t, before, f.state())

	// Ops apply in order: a line added earlier in the same PATCH can be
	// referred to by its client-chosen id.
	lineID := uuid.NewString()
	o := f.mustPatch(waiter, id, 1, addItem("steak", "line_id", lineID, "qty", 1), map[string]any{"op": "set_qty", "line_id": lineID, "qty": 3})
	require.EqualValues(t, 2, o["version"])
	line := o["lines"].([]any)[0].(map[string]any)
	require.Equal(t, lineID, line["id"])
	require.EqualValues(t, 3, line["qty"])
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1 AND version = 2", id))
}

func TestPatchBadInput(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	pendingID, sentID := uuid.NewString(), uuid.NewString()
	f.mustPatch(waiter, id, 1, addItem("steak", "line_id", sentID), map[string]any{"op": "send"}, addItem("fries", "line_id", pendingID))
	path := "/v1/orders/" + id
	before := f.state()

	type tc struct {
		name   string
		token  string
		body   any
		status int
		kind   string
		idx    int
		field  string
	}
	op := func(m map[string]any) any { return map[string]any{"expected_version": 2, "ops": []any{m}} }
	cases := []tc{
		{"unknown op", waiter, op(map[string]any{"op": "explode"}), 422, "validation-failed", 0, "op"},
		{"missing op", waiter, op(map[string]any{"sku": "steak"}), 422, "validation-failed", 0, "op"},
		{"op not an object", waiter, map[string]any{"expected_version": 2, "ops": []any{"add_item"}}, 422, "validation-failed", 0, "op"},
		{"unknown sku", waiter, op(addItem("unicorn")), 422, "validation-failed", 0, "sku"},
		{"qty zero", waiter, op(addItem("steak", "qty", 0)), 422, "validation-failed", 0, "qty"},
		{"qty 100", waiter, op(addItem("steak", "qty", 100)), 422, "validation-failed", 0, "qty"},
		{"qty fraction", waiter, op(addItem("steak", "qty", 1.5)), 422, "validation-failed", 0, "qty"},
		{"qty string", waiter, op(addItem("steak", "qty", "2")), 422, "validation-failed", 0, "qty"},
		{"field of another op", waiter, op(addItem("steak", "reason", "x")), 422, "validation-failed", 0, "reason"},
		{"bad line id", waiter, op(map[string]any{"op": "remove_item", "line_id": "abc"}), 422, "validation-failed", 0, "line_id"},
		{"line id reused", waiter, op(addItem("steak", "line_id", sentID)), 422, "validation-failed", 0, "line_id"},
		{"set_qty without line", waiter, op(map[string]any{"op": "set_qty", "qty": 2}), 422, "validation-failed", 0, "line_id"},
		{"set_qty unknown line", waiter, op(map[string]any{"op": "set_qty", "line_id": uuid.NewString(), "qty": 2}), 422, "validation-failed", 0, "line_id"},
		{"set_qty on sent line", waiter, op(map[string]any{"op": "set_qty", "line_id": sentID, "qty": 2}), 422, "validation-failed", 0, "line_id"},
		{"remove sent line", waiter, op(map[string]any{"op": "remove_item", "line_id": sentID}), 422, "validation-failed", 0, "line_id"},
		{"void pending line", manager, op(map[string]any{"op": "void_item", "line_id": pendingID, "reason": "x"}), 422, "validation-failed", 0, "line_id"},
		{"void without reason", manager, op(map[string]any{"op": "void_item", "line_id": sentID}), 422, "validation-failed", 0, "reason"},
		{"void blank reason", manager, op(map[string]any{"op": "void_item", "line_id": sentID, "reason": "  "}), 422, "validation-failed", 0, "reason"},
		{"comp without reason", manager, op(map[string]any{"op": "comp_item", "line_id": sentID}), 422, "validation-failed", 0, "reason"},
		{"void by waiter", waiter, op(map[string]any{"op": "void_item", "line_id": sentID, "reason": "x"}), 403, "forbidden", 0, "op"},
		{"comp by waiter", waiter, op(map[string]any{"op": "comp_item", "line_id": sentID, "reason": "x"}), 403, "forbidden", 0, "op"},
		{"guests zero", waiter, op(map[string]any{"op": "set_guests", "guests": 0}), 422, "validation-failed", 0, "guests"},
		{"note missing", waiter, op(map[string]any{"op": "set_note"}), 422, "validation-failed", 0, "note"},
		{"note too long", waiter, op(map[string]any{"op": "set_note", "note": strings.Repeat("n", 281)}), 422, "validation-failed", 0, "note"},
		{"note with NUL", waiter, op(map[string]any{"op": "set_note", "note": "a\u0000b"}), 422, "validation-failed", 0, "note"},
		{"modifier with control", waiter, op(addItem("steak", "modifiers", []string{"no\u0007onions"})), 422, "validation-failed", 0, "modifiers"},
		{"reason with NUL", manager, op(map[string]any{"op": "void_item", "line_id": sentID, "reason": "bad\u0000reason"}), 422, "validation-failed", 0, "reason"},
		{"move to unknown table", waiter, op(map[string]any{"op": "move_table", "table": "T404"}), 422, "validation-failed", 0, "table"},
		{"send bad course", waiter, op(map[string]any{"op": "send", "course": 0}), 422, "validation-failed", 0, "course"},
		{"bad tender", waiter, op(map[string]any{"op": "add_payment", "tender": "iou", "amount_cents": 100}), 422, "validation-failed", 0, "tender"},
		{"zero amount", waiter, op(map[string]any{"op": "add_payment", "tender": "card", "amount_cents": 0}), 422, "validation-failed", 0, "amount_cents"},
		{"negative tip", waiter, op(map[string]any{"op": "add_payment", "tender": "card", "amount_cents": 10, "tip_cents": -1}), 422, "validation-failed", 0, "tip_cents"},
		{"close with pending", waiter, op(map[string]any{"op": "close"}), 422, "validation-failed", 0, "op"},
		{"no ops", waiter, map[string]any{"expected_version": 2, "ops": []any{}}, 422, "validation-failed", -1, "ops"},
		{"ops missing", waiter, map[string]any{"expected_version": 2}, 422, "validation-failed", -1, "ops"},
		{"ops not array", waiter, map[string]any{"expected_version": 2, "ops": "send"}, 422, "validation-failed", -1, "ops"},
		{"version string", waiter, map[string]any{"expected_version": "2", "ops": []any{addItem("steak")}}, 422, "validation-failed", -1, "expected_version"},
		{"unknown top-level field", waiter, map[string]any{"expected_version": 2, "ops": []any{addItem("steak")}, "merge": true}, 422, "validation-failed", -1, "merge"},
		{"force by waiter", waiter, map[string]any{"force": true, "ops": []any{addItem("steak")}}, 403, "forbidden", -1, "force"},
		{"malformed", waiter, `{"expected_version": 2, "ops": [`, 400, "bad-request", -2, ""},
	}
	many := make([]any, 101)
	for i := range many {
		many[i] = addItem("beer")
	}
	cases = append(cases, tc{"101 ops", waiter, map[string]any{"expected_version": 2, "ops": many}, 413, "payload-too-large", -1, "ops"})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: c.token, Body: c.body}), c.status, c.kind)
			if c.idx >= -1 {
				requireFieldError(t, p, c.idx, c.field)
			}
		})
	}
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: path, Token: waiter, Body: `{"expected_version":2,"ops":[{"op":"send"}]}`, ContentType: "application/xml"}), 415, "unsupported-media-type")
	require.Equal(t, before, f.state())
}

func TestLineRulesAndTotals(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	steak, fries, beer := uuid.NewString(), uuid.NewString(), uuid.NewString()
	o := f.mustPatch(waiter, id, 1,
		addItem("steak", "line_id", steak, "qty", 2, "seat", 1, "course", 2, "modifiers", []string{"no onions"}, "note", "medium rare"),
		addItem("fries", "line_id", fries, "course", 2), addItem("beer", "line_id", beer, "course", 1))
	require.EqualValues(t, 2*2400+500+700, o["totals"].(map[string]any)["subtotal_cents"])

	o = f.mustPatch(waiter, id, 2, map[string]any{"op": "send", "course": 1})
	statuses := map[string]string{}
	for _, l := range o["lines"].([]any) {
		m := l.(map[string]any)
		statuses[m["id"].(string)] = m["status"].(string)
	}
	require.Equal(t, map[string]string{steak: "pending", fries: "pending", beer: "sent"}, statuses)

	o = f.mustPatch(waiter, id, 3, map[string]any{"op": "remove_item", "line_id": fries}, map[string]any{"op": "send"})
	require.Len(t, o["lines"], 2)
	o = f.mustPatch(manager, id, 4, map[string]any{"op": "void_item", "line_id": beer, "reason": "spilled"},
		map[string]any{"op": "comp_item", "line_id": steak, "reason": "long wait"})
	require.EqualValues(t, 0, o["totals"].(map[string]any)["subtotal_cents"])
	require.EqualValues(t, 0, o["totals"].(map[string]any)["due_cents"])
	o = f.mustPatch(waiter, id, 5, map[string]any{"op": "close"})
	require.Equal(t, "closed", o["status"])
	require.NotNil(t, o["closed_at"])

	// A closed order refuses every op and frees its table.
	before := f.state()
	p := requireProblem(t, f.patch(waiter, id, 6, addItem("beer")), 409, "order-closed")
	require.Equal(t, "closed", p["current"].(map[string]any)["status"])
	require.Equal(t, before, f.state())
	f.open("T1")
}

func TestCloseNeedsPayment(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	f.mustPatch(waiter, id, 1, addItem("steak"), map[string]any{"op": "send"})
	before := f.state()
	p := requireProblem(t, f.patch(waiter, id, 2, map[string]any{"op": "close"}), 422, "validation-failed")
	requireFieldError(t, p, 0, "op")
	require.Equal(t, before, f.state())
	o := f.mustPatch(waiter, id, 2, map[string]any{"op": "add_payment", "tender": "card", "amount_cents": 2400, "tip_cents": 300}, map[string]any{"op": "close"})
	require.Equal(t, "closed", o["status"])
	require.Equal(t, []any{map[string]any{"tender": "card", "amount_cents": float64(2400), "tip_cents": float64(300)}}, o["payments"])
	require.EqualValues(t, 2400, o["totals"].(map[string]any)["paid_cents"])
}

func TestMoveTable(t *testing.T) {
	f := setup(t)
	a := f.open("T1")
	b := f.open("T2")
	before := f.state()
	p := requireProblem(t, f.patch(waiter, a, 1, map[string]any{"op": "move_table", "table": "T2"}), 409, "table-occupied")
	require.Equal(t, "T1", p["current"].(map[string]any)["table"])
	require.Equal(t, b, p["occupied_by"])
	require.Equal(t, before, f.state())
	o := f.mustPatch(waiter, a, 1, map[string]any{"op": "move_table", "table": "T7"})
	require.Equal(t, "T7", o["table"])
	f.open("T1")
}

// TestForce: a manager's forced write skips the version check and records
// what it overrode; anyone else is refused before the precondition is looked at.
func TestForce(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	f.mustPatch(waiter, id, 1, addItem("steak"))
	f.mustPatch(waiter2, id, 2, addItem("fries"))

	before := f.state()
	requireProblem(t, f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: waiter,
		Body: map[string]any{"expected_version": 1, "force": true, "ops": []any{addItem("beer")}}}), 403, "forbidden")
	require.Equal(t, before, f.state())

	r := f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: manager,
		Body: map[string]any{"expected_version": 1, "force": true, "ops": []any{map[string]any{"op": "set_guests", "guests": 9}}}})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.EqualValues(t, 4, r.Map(t)["version"])
	evs := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + id + "/events?after_version=3", Token: manager}).Map(t)["events"].([]any)
	require.Len(t, evs, 1)
	ev := evs[0].(map[string]any)
	require.Equal(t, true, ev["forced"])
	require.EqualValues(t, 3, ev["overridden_version"])
	require.Equal(t, map[string]any{"device": "manager", "staff": "Maria", "role": "manager"}, ev["actor"])

	// Without a precondition a forced write still lands.
	r = f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: manager,
		Body: map[string]any{"force": true, "ops": []any{map[string]any{"op": "set_guests", "guests": 3}}}})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.EqualValues(t, 5, r.Map(t)["version"])
}

// TestHistory: at_version rebuilds earlier states from the log, and folding
// the whole log gives exactly the stored order (invariant 3).
func TestHistory(t *testing.T) {
	f := setup(t)
	id := f.open("T1")
	line := uuid.NewString()
	f.mustPatch(waiter, id, 1, addItem("steak", "line_id", line, "qty", 1))
	f.mustPatch(waiter, id, 2, map[string]any{"op": "set_qty", "line_id": line, "qty": 4}, map[string]any{"op": "set_note", "note": "birthday"})
	f.mustPatch(waiter, id, 3, map[string]any{"op": "send"}, map[string]any{"op": "move_table", "table": "T9"})
	f.mustPatch(manager, id, 4, map[string]any{"op": "comp_item", "line_id": line, "reason": "birthday"})
	f.mustPatch(waiter, id, 5, map[string]any{"op": "add_payment", "tender": "cash", "amount_cents": 1}, map[string]any{"op": "close"})

	path := "/v1/orders/" + id
	v2 := f.Do(t, apitest.Req{Method: "GET", Path: path + "?at_version=2", Token: manager}).Map(t)
	require.EqualValues(t, 2, v2["version"])
	require.EqualValues(t, 1, v2["lines"].([]any)[0].(map[string]any)["qty"])
	require.Equal(t, "T1", v2["table"])

	current := f.Do(t, apitest.Req{Method: "GET", Path: path, Token: auditor}).Map(t)
	folded := f.Do(t, apitest.Req{Method: "GET", Path: path + "?at_version=6", Token: auditor}).Map(t)
	require.Equal(t, current, folded)
	require.EqualValues(t, 6, current["version"])
	require.EqualValues(t, 6, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE order_id = $1", id))

	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path + "?at_version=2", Token: waiter}), 403, "forbidden")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path + "?at_version=7", Token: manager}), 422, "validation-failed")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path + "?at_version=x", Token: manager}), 400, "bad-request")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + uuid.NewString() + "?at_version=1", Token: manager}), 404, "not-found")

	evs := f.Do(t, apitest.Req{Method: "GET", Path: path + "/events?after_version=4", Token: waiter}).Map(t)["events"].([]any)
	require.Len(t, evs, 2)
	require.EqualValues(t, 5, evs[0].(map[string]any)["version"])
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: path + "/events?after_version=-1", Token: waiter}), 400, "bad-request")
}

func TestListOrders(t *testing.T) {
	f := setup(t)
	a := f.open("T1")
	b := f.open("T2")
	f.mustPatch(waiter, b, 1, map[string]any{"op": "close"})
	ids := func(q string) []string {
		r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders" + q, Token: auditor})
		require.Equal(t, 200, r.Status, string(r.Body))
		var out []string
		for _, o := range r.Map(t)["orders"].([]any) {
			out = append(out, o.(map[string]any)["id"].(string))
		}
		return out
	}
	require.ElementsMatch(t, []string{a, b}, ids(""))
	require.Equal(t, []string{a}, ids("?status=open"))
	require.Equal(t, []string{b}, ids("?status=closed"))
	require.Equal(t, []string{b}, ids("?table=T2"))
	require.Empty(t, ids("?table=T2&status=open"))
	require.Len(t, ids("?limit=1"), 1)
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders?status=maybe", Token: waiter}), 400, "bad-request")
	requireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders?limit=0", Token: waiter}), 400, "bad-request")
}

func TestMenu(t *testing.T) {
	f := setup(t)
	items := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/menu", Token: waiter}).Map(t)["items"].([]any)
	require.GreaterOrEqual(t, len(items), 12)
	stations := map[string]bool{}
	for _, it := range items {
		m := it.(map[string]any)
		require.NotEmpty(t, m["sku"])
		require.NotEmpty(t, m["name"])
		require.Greater(t, m["price_cents"].(float64), 0.0)
		stations[m["station"].(string)] = true
	}
	require.Equal(t, map[string]bool{"grill": true, "fry": true, "cold": true, "bar": true}, stations)
}
