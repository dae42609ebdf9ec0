package httpapi_test

// The OpenAPI document (docs/openapi.yaml) is checked against what the server
// really does: every response below, successes and problems, is validated
// with kin-openapi; every route the Fiber app registers must be a path of the
// document, and every one of them must have been exercised here; every
// problem type the httpapi source can produce must be in ProblemType. A route,
// member or problem type added without its description fails these tests.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

const openAPIPath = "../../docs/openapi.yaml"

var registerDecoders sync.Once

// loadOpenAPI loads and validates the document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(openAPIPath)
	require.NoError(t, err)
	require.NoError(t, doc.Validate(loader.Context), "docs/openapi.yaml is not a valid OpenAPI document")
	require.True(t, doc.IsOpenAPI31OrLater(), "docs/openapi.yaml declares OpenAPI 3.1")
	registerDecoders.Do(func() {
		// Bodies that are text, not JSON: compared as strings.
		for _, ct := range []string{"text/event-stream", "text/html", "text/csv", "text/css", "text/javascript", "application/javascript"} {
			openapi3filter.RegisterBodyDecoder(ct, openapi3filter.PlainBodyDecoder)
		}
	})
	return doc
}

// contract validates responses of one stack against the document and
// remembers which operations and statuses it saw.
type contract struct {
	t      *testing.T
	s      *apitest.Stack
	doc    *openapi3.T
	router routers.Router
	seen   map[string][]int // "GET /v1/orders/{id}" → statuses
}

func newContract(t *testing.T, s *apitest.Stack) *contract {
	doc := loadOpenAPI(t)
	doc.Servers = openapi3.Servers{{URL: s.BaseURL}}
	router, err := gorillamux.NewRouter(doc)
	require.NoError(t, err)
	return &contract{t: t, s: s, doc: doc, router: router, seen: map[string][]int{}}
}

// do sends r, requires status want, validates the response against the
// document and returns it.
func (c *contract) do(r apitest.Req, want int) apitest.Response {
	c.t.Helper()
	resp := c.s.Do(c.t, r)
	require.Equal(c.t, want, resp.Status, "%s %s: %s", r.Method, r.Path, resp.Body)
	c.validate(r.Method, r.Path, r.Header, resp)
	return resp
}

func (c *contract) validate(method, path string, hdr map[string]string, resp apitest.Response) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.s.BaseURL+path, nil)
	require.NoError(c.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		// A path no route has (404) or a method no path has (405): the body
		// must still be a Problem.
		require.Contains(c.t, []int{404, 405}, resp.Status, "%s %s is not in docs/openapi.yaml: %v", method, path, err)
		require.Equal(c.t, "application/problem+json", resp.Header.Get("Content-Type"))
		require.NoError(c.t, c.doc.Components.Schemas["Problem"].Value.VisitJSON(decodeAny(c.t, resp.Body), openapi3.EnableJSONSchema2020()),
			"%s %s: %s", method, path, resp.Body)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.Status,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(resp.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	require.NoError(c.t, openapi3filter.ValidateResponse(context.Background(), in),
		"%s %s → %d does not match docs/openapi.yaml: %s", method, path, resp.Status, resp.Body)
	op := route.Method + " " + route.Path
	c.seen[op] = append(c.seen[op], resp.Status)
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	v, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(b), nil, nil, nil)
	require.NoError(t, err, string(b))
	return v
}

// problemType is the slug at the end of a problem's type.
func problemType(t *testing.T, r apitest.Response) string {
	t.Helper()
	return strings.TrimPrefix(r.Problem(t).Type, httpapi.ProblemBase)
}

func TestEveryRouteAnswersAsTheOpenAPIDocumentSays(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	c := newContract(t, s)
	get := func(path, token string) apitest.Req { return apitest.Req{Method: "GET", Path: path, Token: token} }

	// Operations.
	var health apitest.Health
	c.do(get("/healthz", ""), 200).JSON(t, &health)
	require.Equal(t, "apitest", health.Version)
	c.do(get("/readyz", ""), 200)
	c.do(get("/metrics", ""), 200)
	c.do(get("/kds?station=grill", ""), 200)
	c.do(get("/kds/assets/kds.js", ""), 200)
	c.do(get("/pos", ""), 200)
	c.do(get("/pos/sw.js", ""), 200)
	c.do(get("/pos/assets/pos.js", ""), 200)
	c.do(apitest.Req{Method: "DELETE", Path: "/healthz"}, 405)
	c.do(get("/no/such/route", seed.TokenWaiter1), 404)

	// Who the token is.
	for _, tok := range []string{seed.TokenWaiter1, seed.TokenManager, seed.TokenKitchen, seed.TokenAuditor} {
		c.do(get("/v1/me", tok), 200)
	}
	require.Equal(t, "unauthorized", problemType(t, c.do(get("/v1/me", ""), 401)))

	// Menu and tables.
	c.do(get("/v1/menu", seed.TokenWaiter1), 200)
	require.Equal(t, "unauthorized", problemType(t, c.do(get("/v1/menu", ""), 401)))
	c.do(get("/v1/tables", seed.TokenKitchen), 200)

	// Menu writes.
	var menu apitest.MenuDoc
	c.do(get("/v1/menu", seed.TokenManager), 200).JSON(t, &menu)
	put := func(path, token string, body any, h map[string]string) apitest.Req {
		return apitest.Req{Method: "PUT", Path: path, Token: token, Body: body, Header: h}
	}
	chicken := menu.Item(t, "chicken")
	ib := apitest.ItemBodyOf(chicken)
	ib.PriceCents = 1650
	var changed order.MenuItem
	c.do(put(apitest.ItemPath("chicken"), seed.TokenManager, ib, apitest.IfMatch(chicken.Version)), 200).JSON(t, &changed)
	require.Equal(t, "menu-version-conflict", problemType(t, c.do(put(apitest.ItemPath("chicken"), seed.TokenManager, ib, apitest.IfMatch(chicken.Version)), 412)))
	require.Equal(t, "menu-version-conflict", problemType(t, c.do(put(apitest.ItemPath("nope"), seed.TokenManager, ib, apitest.IfMatch(1)), 412)))
	require.Equal(t, "precondition-required", problemType(t, c.do(put(apitest.ItemPath("chicken"), seed.TokenManager, ib, nil), 428)))
	require.Equal(t, "forbidden", problemType(t, c.do(put(apitest.ItemPath("chicken"), seed.TokenKitchen, ib, apitest.IfMatch(chicken.Version)), 403)))
	ib.PriceCents = -1
	require.Equal(t, "validation-failed", problemType(t, c.do(put(apitest.ItemPath("chicken"), seed.TokenManager, ib, apitest.IfMatch(changed.Version)), 422)))
	c.do(put(apitest.ItemPath("soup"), seed.TokenManager, apitest.ItemBody{Name: "Soup", PriceCents: 700, Station: "cold", TaxClass: "food"}, apitest.Create), 201)
	sides := menu.Group(t, "sides")
	gb := apitest.GroupBodyOf(sides)
	gb.Name = "Sides"
	c.do(put(apitest.GroupPath("sides"), seed.TokenManager, gb, apitest.IfMatch(sides.Version)), 200)
	require.Equal(t, "menu-version-conflict", problemType(t, c.do(put(apitest.GroupPath("sides"), seed.TokenManager, gb, apitest.IfMatch(sides.Version)), 412)))
	c.do(put(apitest.GroupPath("sauces"), seed.TokenManager, apitest.GroupBody{Name: "Sauces", Max: 1,
		Options: []order.ModifierOption{{ID: "aioli", Name: "Aioli", PriceCents: 100}}}, apitest.Create), 201)
	require.Equal(t, "precondition-required", problemType(t, c.do(put(apitest.GroupPath("sides"), seed.TokenManager, gb, nil), 428)))
	avail := func(sku, token string, body any) apitest.Req {
		return apitest.Req{Method: "POST", Path: apitest.AvailabilityPath(sku), Token: token, Body: body}
	}
	c.do(avail("soup", seed.TokenKitchen, apitest.Raw{"available": false, "until": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)}), 200)
	c.do(avail("soup", seed.TokenManager, apitest.Raw{"available": true, "remaining": 4}), 200)
	require.Equal(t, "validation-failed", problemType(t, c.do(avail("soup", seed.TokenKitchen, apitest.Raw{"remaining": -1}), 422)))
	require.Equal(t, "not-found", problemType(t, c.do(avail("nope", seed.TokenKitchen, apitest.Raw{"available": false}), 404)))
	require.Equal(t, "forbidden", problemType(t, c.do(avail("soup", seed.TokenWaiter1, apitest.Raw{"available": false}), 403)))

	// Opening orders.
	open := func(table, token string) apitest.Req {
		return apitest.Req{Method: "POST", Path: "/v1/orders", Token: token, Body: apitest.OpenRequest{Table: table, Guests: 2}}
	}
	o := c.do(open("T10", seed.TokenWaiter1), 201).Order(t)
	id := o.ID.String()
	c.do(open("T11", seed.TokenWaiter1), 201)
	occupied := c.do(open("T10", seed.TokenWaiter2), 409)
	require.Equal(t, "table-occupied", problemType(t, occupied))
	require.NotNil(t, occupied.Problem(t).OccupiedBy, "%s", occupied.Body)
	require.Equal(t, id, *occupied.Problem(t).OccupiedBy)
	require.Equal(t, "forbidden", problemType(t, c.do(open("T12", seed.TokenKitchen), 403)))
	require.Equal(t, "validation-failed", problemType(t, c.do(open("T999", seed.TokenWaiter1), 422)))
	require.Equal(t, "bad-request", problemType(t, c.do(apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1, Body: `{"table":`}, 400)))
	require.Equal(t, "unsupported-media-type", problemType(t, c.do(apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1,
		Body: `{"table":"T12","guests":2}`, ContentType: "text/plain"}, 415)))
	keyed := open("T13", seed.TokenWaiter1)
	keyed.Header = map[string]string{"Idempotency-Key": "openapi-1"}
	c.do(keyed, 201)
	replay := c.do(keyed, 201)
	require.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	keyed.Body = apitest.OpenRequest{Table: "T14", Guests: 2}
	require.Equal(t, "idempotency-key-reused", problemType(t, c.do(keyed, 422)))

	// Reading orders.
	var page apitest.OrderList
	c.do(get("/v1/orders?status=open&limit=1", seed.TokenWaiter1), 200).JSON(t, &page)
	require.NotNil(t, page.Next)
	c.do(get(*page.Next, seed.TokenWaiter1), 200)
	require.Equal(t, "bad-request", problemType(t, c.do(get("/v1/orders?status=maybe", seed.TokenWaiter1), 400)))
	got := c.do(get("/v1/orders/"+id, seed.TokenWaiter1), 200)
	c.do(apitest.Req{Method: "GET", Path: "/v1/orders/" + id, Token: seed.TokenWaiter1, Header: map[string]string{"If-None-Match": got.Header.Get("ETag")}}, 304)
	c.do(get("/v1/orders/"+id+"?at_version=1", seed.TokenAuditor), 200)
	require.Equal(t, "not-found", problemType(t, c.do(get("/v1/orders/0190a0a0-0000-7000-8000-000000000000", seed.TokenWaiter1), 404)))

	// The versioned write and its refusals.
	patch := func(token string, expected int64, ops ...order.Op) apitest.Req {
		return apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: token, Body: apitest.Patch{ExpectedVersion: expected, Ops: ops}}
	}
	steak := apitest.AddItem("steak", 2, apitest.Course(2), apitest.Mods("no onions"))
	fries := apitest.AddItem("fries", 1)
	c.do(patch(seed.TokenWaiter1, 1, steak, fries), 200)
	conflict := c.do(patch(seed.TokenWaiter2, 1, fries), 409).Problem(t)
	require.NotNil(t, conflict.Changes)
	require.Len(t, *conflict.Changes, 1)
	require.NotNil(t, conflict.ChangesTruncated)
	require.False(t, *conflict.ChangesTruncated)
	ifMatch := patch(seed.TokenWaiter2, 0, fries)
	ifMatch.Header = map[string]string{"If-Match": `"1"`}
	require.Equal(t, "version-conflict", problemType(t, c.do(ifMatch, 412)))
	require.Equal(t, "precondition-required", problemType(t, c.do(patch(seed.TokenWaiter1, 0, fries), 428)))
	many := make([]order.Op, 101)
	for i := range many {
		many[i] = fries
	}
	require.Equal(t, "payload-too-large", problemType(t, c.do(patch(seed.TokenWaiter1, 2, many...), 413)))
	require.Equal(t, "forbidden", problemType(t, c.do(patch(seed.TokenWaiter1, 2, apitest.Comp(o.ID, "x")), 403)))
	noCourse := c.do(patch(seed.TokenWaiter1, 2, apitest.FireCourse(9)), 422).Problem(t)
	require.Contains(t, fmt.Sprint(noCourse.Errors), "course 9 has no pending lines")
	c.do(patch(seed.TokenWaiter1, 2, apitest.Fire()), 200)
	c.do(get("/v1/orders/"+id+"/events", seed.TokenAuditor), 200)
	c.do(get("/v1/orders/"+id+"/events?after_version=1", seed.TokenWaiter1), 200)

	// Checks, and changes between two orders.
	t20 := c.do(open("T20", seed.TokenWaiter1), 201).Order(t)
	t21 := c.do(open("T21", seed.TokenWaiter2), 201).Order(t)
	patchOf := func(o order.Order, ops ...order.Op) apitest.Req {
		return apitest.Req{Method: "PATCH", Path: apitest.OrderPath(o.ID), Token: seed.TokenWaiter1, Body: apitest.Patch{ExpectedVersion: o.Version, Ops: ops}}
	}
	t20 = c.do(patchOf(t20, apitest.AddItem("beer", 2, apitest.Seat(1)), apitest.AddItem("steak", 1, apitest.Seat(2)), apitest.AddItem("fries", 1)), 200).Order(t)
	t20 = c.do(patchOf(t20, apitest.SplitBySeat(), apitest.ShareLine(apitest.LineOf(t20, "fries"), 1, 2)), 200).Order(t)
	t20 = c.do(patchOf(t20, apitest.MoveToCheck(apitest.LineOf(t20, "beer"), 3, 1), apitest.MergeChecks(3, 1),
		order.Op{Op: order.OpSplitEven, Split: 2}), 200).Order(t)
	pair := func(path string, body any) apitest.Req {
		return apitest.Req{Method: "POST", Path: apitest.OrderPath(t20.ID) + path, Token: seed.TokenWaiter1, Body: body}
	}
	c.do(patchOf(t20, apitest.MergeChecks(2, 1)), 200)
	stale := c.do(pair("/transfer", apitest.Raw{"expected_version": t20.Version, "to": apitest.Ref(t21),
		"lines": []order.LineMove{{LineID: apitest.LineOf(t20, "steak")}}}), 409).Problem(t)
	require.Len(t, stale.Conflicts, 1)
	t20 = c.do(get(apitest.OrderPath(t20.ID), seed.TokenWaiter1), 200).Order(t)
	require.Equal(t, "validation-failed", problemType(t, c.do(pair("/transfer", apitest.Raw{"expected_version": t20.Version,
		"to": apitest.Ref(t21), "lines": []any{}}), 422)))
	c.do(pair("/transfer", apitest.Raw{"expected_version": t20.Version, "to": apitest.Raw{"table": "T22", "check": 2},
		"lines": []order.LineMove{{LineID: apitest.Lines(t20, "beer")[0], Qty: ptr(1)}}}), 200)
	t20 = c.do(get(apitest.OrderPath(t20.ID), seed.TokenWaiter1), 200).Order(t)
	c.do(pair("/merge", apitest.Raw{"expected_version": t20.Version, "from": apitest.Ref(t21)}), 200)
	require.Equal(t, "version-conflict", problemType(t, c.do(pair("/merge", apitest.Raw{"expected_version": t20.Version, "from": apitest.Ref(t21)}), 409)))

	// The kitchen.
	open1 := c.do(get("/v1/kitchen/tickets?station=grill", seed.TokenKitchen), 200)
	require.Equal(t, false, open1.Map(t)["truncated"])
	tickets := apitest.List[kitchen.Ticket](t, open1, "tickets")
	require.NotEmpty(t, tickets)
	ticket := tickets[0].ID.String()
	require.Equal(t, "bad-request", problemType(t, c.do(get("/v1/kitchen/tickets", seed.TokenKitchen), 400)))
	bump := apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/" + ticket + "/bump", Token: seed.TokenKitchen}
	c.do(bump, 200)
	require.Equal(t, "ticket-state", problemType(t, c.do(bump, 409)))
	recent := apitest.List[kitchen.Ticket](t, c.do(get("/v1/kitchen/tickets?station=grill&status=ready", seed.TokenKitchen), 200), "tickets")
	require.NotEmpty(t, recent)
	require.Equal(t, ticket, recent[0].ID.String())
	require.Equal(t, "bad-request", problemType(t, c.do(get("/v1/kitchen/tickets?station=grill&status=maybe", seed.TokenKitchen), 400)))
	c.do(apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/" + ticket + "/recall", Token: seed.TokenManager}, 200)
	c.do(apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/0190a0a0-0000-7000-8000-000000000000/bump", Token: seed.TokenKitchen}, 404)
	c.stream("/v1/kitchen/stream?station=grill&access_token="+seed.TokenKitchen, 200, "event: ticket.created")
	ahead := c.do(get("/v1/kitchen/stream?station=grill&after=999999999", seed.TokenKitchen), 409)
	require.Equal(t, "cursor-ahead", problemType(t, ahead))
	require.NotNil(t, ahead.Problem(t).LastCursor, "%s", ahead.Body)
	c.stream("/v1/stream?access_token="+seed.TokenWaiter1, 200, "event: ready")
	require.Equal(t, "bad-request", problemType(t, c.do(get("/v1/stream?after=x", seed.TokenWaiter1), 400)))
	require.Equal(t, "forbidden", problemType(t, c.do(get("/v1/stream", seed.TokenKitchen), 403)))

	// Pricing: a manager's discounts and waiver, a payment over what is
	// due, a refund; the order, its events and its history show them.
	cur := c.do(get("/v1/orders/"+id, seed.TokenWaiter1), 200).Order(t)
	line := cur.Lines[0].ID
	withDiscounts := c.do(patch(seed.TokenManager, 3, apitest.PercentOff(1000, "regulars", apitest.DiscountID("regulars")),
		apitest.AmountOff(100, "cold", apitest.OnLine(line)), apitest.WaiveServiceCharge("regulars")), 200).Order(t)
	require.NotNil(t, withDiscounts.ServiceChargeWaiver)
	due := withDiscounts.Totals.DueCents
	over := c.do(patch(seed.TokenWaiter1, 4, apitest.Pay("card", due+1, 0)), 422)
	require.Equal(t, "overpayment", problemType(t, over))
	require.Equal(t, "forbidden", problemType(t, c.do(patch(seed.TokenWaiter1, 4, apitest.Refund(0, 1, "x")), 403)))
	paid := c.do(patch(seed.TokenWaiter1, 4, apitest.Pay("card", due, 100)), 200).Order(t)
	c.do(patch(seed.TokenManager, 5, apitest.RemoveDiscount("regulars"), apitest.AmountOff(50, "late", apitest.OnLine(line)),
		apitest.RefundID(*paid.Payments[0].ID, 50, "late"), apitest.RefundTip(0, 0, 20, "tip mistyped")), 200)
	c.do(get("/v1/orders/"+id+"/events?after_version=3", seed.TokenAuditor), 200)
	c.do(get("/v1/orders/"+id+"?at_version=6", seed.TokenManager), 200)

	// Closing, then the closed order refuses.
	total := c.do(get("/v1/orders/"+id, seed.TokenWaiter1), 200).Order(t).Totals.DueCents
	c.do(patch(seed.TokenWaiter1, 6, apitest.Pay("card", total, 0)), 200)
	// The tip added after the card settled the check: a tip alone.
	c.do(patch(seed.TokenWaiter1, 7, apitest.Pay("card", 0, 100), apitest.Close()), 200)
	require.Equal(t, "order-closed", problemType(t, c.do(patch(seed.TokenWaiter1, 8, fries), 409)))

	// The journal and the report (a scripted shift with voids, comps,
	// overrides and conflicts, so every member of the report is there).
	sc := apitest.ScriptShift(t, s)
	c.do(get("/v1/audit/shift?"+sc.Query(), seed.TokenAuditor), 200)
	csvResp := c.do(get("/v1/audit/shift?"+sc.Query()+"&format=csv", seed.TokenManager), 200)
	require.True(t, strings.HasPrefix(csvResp.Header.Get("Content-Type"), "text/csv"))
	accept := get("/v1/audit/shift?"+sc.Query(), seed.TokenAuditor)
	accept.Header = map[string]string{"Accept": "text/csv"}
	require.Equal(t, csvResp.Body, c.do(accept, 200).Body)
	require.Equal(t, "bad-request", problemType(t, c.do(get("/v1/audit/shift?"+sc.Query()+"&format=xml", seed.TokenAuditor), 400)))
	require.Equal(t, "bad-request", problemType(t, c.do(get("/v1/audit/shift", seed.TokenAuditor), 400)))
	c.do(get("/v1/audit/verify", seed.TokenManager), 200)

	// NATS away: still ready (orders are taken), the kitchen stream says 503.
	s.NATS.Shutdown()
	apitest.Eventually(t, 10*time.Second, func() bool {
		var ready apitest.Readiness
		s.Do(t, get("/readyz", "")).JSON(t, &ready)
		return ready.Checks["nats"] != "ok"
	}, "/readyz to see NATS gone")
	var ready apitest.Readiness
	c.do(get("/readyz", ""), 200).JSON(t, &ready)
	require.Equal(t, "ready", ready.Status)
	c.do(open("T15", seed.TokenWaiter1), 201)
	require.Equal(t, "kitchen-unavailable", problemType(t, c.do(get("/v1/kitchen/stream?station=grill", seed.TokenKitchen), 503)))

	// Every route the server registers is in the document, and was checked.
	for _, r := range s.Server.App().GetRoutes(true) {
		if r.Method == "HEAD" {
			continue // Fiber adds HEAD to every GET
		}
		op := r.Method + " " + openAPIPathOf(r.Path)
		require.NotNil(t, c.doc.Paths.Find(openAPIPathOf(r.Path)), "route %s is not in docs/openapi.yaml", op)
		require.NotNil(t, c.doc.Paths.Find(openAPIPathOf(r.Path)).GetOperation(r.Method), "route %s is not in docs/openapi.yaml", op)
		require.NotEmpty(t, c.seen[op], "route %s is not exercised by this test", op)
	}
	// And every operation of the document was exercised.
	for path, item := range c.doc.Paths.Map() {
		for method := range item.Operations() {
			require.NotEmpty(t, c.seen[method+" "+path], "%s %s is documented but not exercised", method, path)
		}
	}
}

// stream opens an SSE response, reads until it has seen want, and validates
// the status, headers and what it read.
func (c *contract) stream(path string, status int, want string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.s.BaseURL+path, nil)
	require.NoError(c.t, err)
	resp, err := c.s.Client.Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	require.Equal(c.t, status, resp.StatusCode)
	var read bytes.Buffer
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		read.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), want) {
			break
		}
	}
	require.Contains(c.t, read.String(), want)
	c.validate("GET", path, nil, apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: read.Bytes()})
}

var fiberParam = regexp.MustCompile(`:([A-Za-z_]+)`)

// openAPIPathOf turns Fiber's /v1/orders/:id into /v1/orders/{id}.
func openAPIPathOf(p string) string { return fiberParam.ReplaceAllString(p, "{$1}") }

// TestEveryProblemTypeIsDocumented reads the httpapi source for every problem
// type it can answer with (problemOf's slug, requestError's slug, the
// framework errors' table, ProblemBase + "…") and requires each in the
// document's ProblemType.
func TestEveryProblemTypeIsDocumented(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	documented := map[string]bool{}
	for _, s := range doc.Components.Schemas["ProblemType"].Value.OneOf {
		if c, ok := s.Value.Const.(string); ok {
			documented[c] = true
		}
	}
	slugs := problemSlugs(t)
	require.GreaterOrEqual(t, len(slugs), 15, "the source scan found too few problem types: %v", slugs)
	for _, slug := range slugs {
		require.True(t, documented[httpapi.ProblemBase+slug], "problem type %q is not in docs/openapi.yaml ProblemType", slug)
	}
	// And the prose reference lists each too.
	api := readFile(t, "../../docs/API.md")
	for _, slug := range slugs {
		require.Contains(t, api, "`"+slug+"`", "problem type %q is not in docs/API.md", slug)
	}
}

func problemSlugs(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	fset := token.NewFileSet()
	found := map[string]bool{}
	lit := func(e ast.Expr) {
		if b, ok := e.(*ast.BasicLit); ok && b.Kind == token.STRING {
			if s, err := strconv.Unquote(b.Value); err == nil && s != "" && !strings.HasSuffix(s, "-") {
				found[s] = true
			}
		}
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		require.NoError(t, err)
		ast.Inspect(file, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr: // problemOf(status, "slug", …)
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "problemOf" && len(n.Args) > 1 {
					lit(n.Args[1])
				}
			case *ast.KeyValueExpr: // requestError{slug: "slug"}
				if id, ok := n.Key.(*ast.Ident); ok && id.Name == "slug" {
					lit(n.Value)
				}
			case *ast.BinaryExpr: // ProblemBase + "slug"
				if id, ok := n.X.(*ast.Ident); ok && id.Name == "ProblemBase" {
					lit(n.Y)
				}
			case *ast.AssignStmt: // slug := map[int]string{…}[code]
				if len(n.Lhs) == 1 {
					if id, ok := n.Lhs[0].(*ast.Ident); ok && id.Name == "slug" {
						ast.Inspect(n.Rhs[0], func(m ast.Node) bool {
							if kv, ok := m.(*ast.KeyValueExpr); ok {
								lit(kv.Value)
							}
							return true
						})
					}
				}
			}
			return true
		})
	}
	out := make([]string, 0, len(found))
	for s := range found {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestOrdersPaginateWithAfter: pages of limit orders, newest first, chained
// by next, cover every order exactly once; a bad cursor is refused.
func TestOrdersPaginateWithAfter(t *testing.T) {
	f := start(t)
	var opened []uuid.UUID
	for i := 1; i <= 7; i++ {
		opened = append(opened, f.Waiter.Open(fmt.Sprintf("T%d", i), 1).ID)
	}
	var listed []uuid.UUID
	next := "/v1/orders?limit=3"
	pages := 0
	for next != "" {
		r := f.Auditor.Get(next)
		require.Equal(t, 200, r.Status, string(r.Body))
		var page apitest.OrderList
		r.JSON(t, &page)
		for _, o := range page.Orders {
			listed = append(listed, o.ID)
		}
		require.LessOrEqual(t, len(page.Orders), 3)
		next = ""
		if page.Next != nil {
			next = *page.Next
		}
		pages++
	}
	require.Equal(t, 3, pages)
	slices.Reverse(opened)
	require.Equal(t, opened, listed, "newest first, each once")

	for _, bad := range []string{"nope", "0190a0a0-0000-7000-8000-000000000000"} {
		r := f.Waiter.Get("/v1/orders?after=" + bad)
		require.Equal(t, 400, r.Status, string(r.Body))
		require.Contains(t, string(r.Body), `"field":"after"`)
	}
	// Another venue's order is no cursor here either.
	theirs := f.Other.Open("T1", 1)
	r := f.Waiter.Get("/v1/orders?after=" + theirs.ID.String())
	require.Equal(t, 400, r.Status, string(r.Body))
}

// TestOrderEventsPaginate: the events of an order come in pages of at most
// limit (MaxEventsPage by default), each with the next page's URL, so a
// conflict's changes_url never answers an unbounded body.
func TestOrderEventsPaginate(t *testing.T) {
	f := start(t)
	id := f.Open("T9").ID
	for v := int64(1); v <= 7; v++ {
		f.Waiter.Patch(id, v, apitest.SetGuests(int(v)+2))
	}
	var versions []int64
	pages := 0
	page := f.Auditor.Events(id, 1, "&limit=3")
	for {
		require.LessOrEqual(t, len(page.Events), 3)
		for _, e := range page.Events {
			versions = append(versions, e.Version)
		}
		pages++
		if page.Next == nil {
			break
		}
		r := f.Auditor.Get(*page.Next)
		require.Equal(t, 200, r.Status, string(r.Body))
		page = apitest.EventPage{}
		r.JSON(t, &page)
	}
	require.Equal(t, []int64{2, 3, 4, 5, 6, 7, 8}, versions, "every event after version 1 once, in order")
	require.Equal(t, 3, pages)
	whole := f.Auditor.Get(apitest.OrderPath(id) + "/events")
	require.Len(t, apitest.List[order.Event](t, whole, "events"), 8)
	require.Contains(t, whole.Map(t), "next")
	require.Nil(t, whole.Map(t)["next"], "8 events fit the default page")
	for _, bad := range []string{"0", "501", "x"} {
		r := f.Auditor.Get(apitest.OrderPath(id) + "/events?limit=" + bad)
		require.Equal(t, 400, r.Status, string(r.Body))
		require.Contains(t, string(r.Body), `"field":"limit"`)
	}
}

// TestShiftReportAsCSVOverHTTP: the HTTP CSV is the CLI's CSV of the same
// report (audit.WriteCSV), row for row.
func TestShiftReportAsCSVOverHTTP(t *testing.T) {
	f := start(t)
	sc := apitest.ScriptShift(t, f.Stack)
	r := f.Auditor.Get("/v1/audit/shift?" + sc.Query() + "&format=csv")
	require.Equal(t, 200, r.Status, string(r.Body))
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "section", rows[0][0])
	sections := map[string]int{}
	for _, row := range rows[1:] {
		sections[row[0]]++
	}
	require.Equal(t, map[string]int{"staff": len(sc.Expected.ByStaff), "void": len(sc.Expected.Voids), "comp": len(sc.Expected.Comps),
		"forced_override": len(sc.Expected.ForcedOverrides), "conflicts": len(sc.Expected.Conflicts.ByTable),
		"money": 1, "tax": len(sc.Expected.Money.Taxes), "tender": len(sc.Expected.Money.Tenders), "menu_changes": 1,
		"voids": 1, "comps": 1, "forced_overrides": 1, "conflicts_total": 1, "conflict_tables": 1}, sections)
}
