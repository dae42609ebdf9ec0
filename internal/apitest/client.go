package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// Client is one device speaking to a Stack: its methods take and return the
// API's own types (order.Order, order.Event, kitchen.Ticket, httpapi.Problem,
// audit.Report). Must* methods require the success status and fail the test
// otherwise; the others return the Response for the test to judge.
type Client struct {
	s     *Stack
	t     testing.TB
	Token string
}

// As returns a client sending token (empty: no Authorization header).
func (s *Stack) As(t testing.TB, token string) *Client {
	return &Client{s: s, t: t, Token: token}
}

// Patch is the body of PATCH /v1/orders/{id}.
type Patch struct {
	ExpectedVersion int64      `json:"expected_version,omitempty"`
	Force           bool       `json:"force,omitempty"`
	Ops             []order.Op `json:"ops"`
}

// OpenRequest is the body of POST /v1/orders.
type OpenRequest struct {
	Table  string `json:"table"`
	Guests int    `json:"guests"`
}

// Do sends r with the client's token.
func (c *Client) Do(r Req) Response {
	c.t.Helper()
	r.Token = c.Token
	return c.s.Do(c.t, r)
}

// Get sends GET path.
func (c *Client) Get(path string, header ...map[string]string) Response {
	c.t.Helper()
	r := Req{Method: "GET", Path: path}
	if len(header) > 0 {
		r.Header = header[0]
	}
	return c.Do(r)
}

// Post sends POST path with body (nil: none).
func (c *Client) Post(path string, body any, header ...map[string]string) Response {
	c.t.Helper()
	r := Req{Method: "POST", Path: path, Body: body}
	if len(header) > 0 {
		r.Header = header[0]
	}
	return c.Do(r)
}

// TryOpen sends POST /v1/orders.
func (c *Client) TryOpen(table string, guests int, header ...map[string]string) Response {
	c.t.Helper()
	return c.Post("/v1/orders", OpenRequest{Table: table, Guests: guests}, header...)
}

// Open opens an order on table for guests and requires 201.
func (c *Client) Open(table string, guests int) order.Order {
	c.t.Helper()
	r := c.TryOpen(table, guests)
	require.Equal(c.t, 201, r.Status, "open %s: %s", table, r.Body)
	return r.Order(c.t)
}

// OrderPath is the path of an order.
func OrderPath(id uuid.UUID) string { return "/v1/orders/" + id.String() }

// TryOrder sends GET /v1/orders/{id}.
func (c *Client) TryOrder(id uuid.UUID) Response {
	c.t.Helper()
	return c.Get(OrderPath(id))
}

// Order reads an order and requires 200.
func (c *Client) Order(id uuid.UUID) order.Order {
	c.t.Helper()
	r := c.TryOrder(id)
	require.Equal(c.t, 200, r.Status, "get %s: %s", id, r.Body)
	return r.Order(c.t)
}

// SendPatch sends body as PATCH /v1/orders/{id}.
func (c *Client) SendPatch(id uuid.UUID, body any, header ...map[string]string) Response {
	c.t.Helper()
	r := Req{Method: "PATCH", Path: OrderPath(id), Body: body}
	if len(header) > 0 {
		r.Header = header[0]
	}
	return c.Do(r)
}

// TryPatch sends ops made against version.
func (c *Client) TryPatch(id uuid.UUID, version int64, ops ...order.Op) Response {
	c.t.Helper()
	return c.SendPatch(id, Patch{ExpectedVersion: version, Ops: ops})
}

// Patch sends ops made against version and requires 200.
func (c *Client) Patch(id uuid.UUID, version int64, ops ...order.Op) order.Order {
	c.t.Helper()
	r := c.TryPatch(id, version, ops...)
	require.Equal(c.t, 200, r.Status, "PATCH %s: %s", id, r.Body)
	return r.Order(c.t)
}

// Apply sends ops against the order's current version (read first) and
// requires 200.
func (c *Client) Apply(id uuid.UUID, ops ...order.Op) order.Order {
	c.t.Helper()
	return c.Patch(id, c.Order(id).Version, ops...)
}

// EventPage is the answer of GET /v1/orders/{id}/events.
type EventPage struct {
	Events []order.Event `json:"events"`
	Next   *string       `json:"next"`
}

// Events reads the events of an order after version (0 and no extra: no
// query at all; extra is more of the query, e.g. "&limit=2") and requires
// 200.
func (c *Client) Events(id uuid.UUID, after int64, extra ...string) EventPage {
	c.t.Helper()
	path := OrderPath(id) + "/events"
	if after > 0 || len(extra) > 0 {
		path += fmt.Sprintf("?after_version=%d%s", after, strings.Join(extra, ""))
	}
	r := c.Get(path)
	require.Equal(c.t, 200, r.Status, "events of %s: %s", id, r.Body)
	var p EventPage
	r.JSON(c.t, &p)
	return p
}

// OrderList is the answer of GET /v1/orders.
type OrderList struct {
	Orders []order.Order `json:"orders"`
	Next   *string       `json:"next"`
}

// Orders lists orders (query: "" or "?status=open" …) and requires 200.
func (c *Client) Orders(query string) OrderList {
	c.t.Helper()
	r := c.Get("/v1/orders" + query)
	require.Equal(c.t, 200, r.Status, "list %s: %s", query, r.Body)
	var l OrderList
	r.JSON(c.t, &l)
	return l
}

// Tables lists the caller's venue's tables and requires 200 and a list.
func (c *Client) Tables() []store.Table {
	c.t.Helper()
	r := c.Get("/v1/tables")
	require.Equal(c.t, 200, r.Status, string(r.Body))
	return List[store.Table](c.t, r, "tables")
}

// Menu reads the menu and requires 200 and a list.
func (c *Client) Menu() []order.MenuItem {
	c.t.Helper()
	r := c.Get("/v1/menu")
	require.Equal(c.t, 200, r.Status, string(r.Body))
	return List[order.MenuItem](c.t, r, "items")
}

// Tickets lists a station's open tickets and requires 200 and a list.
func (c *Client) Tickets(station string) []kitchen.Ticket {
	c.t.Helper()
	r := c.Get("/v1/kitchen/tickets?station=" + url.QueryEscape(station))
	require.Equal(c.t, 200, r.Status, string(r.Body))
	return List[kitchen.Ticket](c.t, r, "tickets")
}

// List decodes the member key of an object answer as a list of T, and
// requires it to be a JSON array: a list is never null or absent, and
// empty is [].
func List[T any](t testing.TB, r Response, key string) []T {
	t.Helper()
	var obj map[string]json.RawMessage
	r.JSON(t, &obj)
	raw := bytes.TrimSpace(obj[key])
	require.True(t, len(raw) > 0 && raw[0] == '[', "%s is a list, never null or absent: %s", key, r.Body)
	out := []T{}
	require.NoError(t, json.Unmarshal(raw, &out), "%s", r.Body)
	return out
}

// TryMove sends POST /v1/kitchen/tickets/{id}/{move} (bump or recall).
func (c *Client) TryMove(id uuid.UUID, move string) Response {
	c.t.Helper()
	return c.Post("/v1/kitchen/tickets/"+id.String()+"/"+move, nil)
}

// Bump bumps a ticket and requires 200.
func (c *Client) Bump(id uuid.UUID) kitchen.Ticket {
	c.t.Helper()
	return c.move(id, "bump")
}

// Recall recalls a ticket and requires 200.
func (c *Client) Recall(id uuid.UUID) kitchen.Ticket {
	c.t.Helper()
	return c.move(id, "recall")
}

func (c *Client) move(id uuid.UUID, move string) kitchen.Ticket {
	c.t.Helper()
	r := c.TryMove(id, move)
	require.Equal(c.t, 200, r.Status, "%s %s: %s", move, id, r.Body)
	var tk kitchen.Ticket
	r.JSON(c.t, &tk)
	return tk
}

// ShiftPath is the shift report's path for [from, to).
func ShiftPath(from, to time.Time) string {
	return "/v1/audit/shift?from=" + url.QueryEscape(from.Format(time.RFC3339Nano)) +
		"&to=" + url.QueryEscape(to.Format(time.RFC3339Nano))
}

// Shift reads the shift report for [from, to) and requires 200.
func (c *Client) Shift(from, to time.Time) audit.Report {
	c.t.Helper()
	r := c.Get(ShiftPath(from, to))
	require.Equal(c.t, 200, r.Status, string(r.Body))
	var rep audit.Report
	r.JSON(c.t, &rep)
	return rep
}

// Verify reads GET /v1/audit/verify and requires 200.
func (c *Client) Verify() audit.Result {
	c.t.Helper()
	r := c.Get("/v1/audit/verify")
	require.Equal(c.t, 200, r.Status, string(r.Body))
	var res audit.Result
	r.JSON(c.t, &res)
	return res
}

// Health is the answer of GET /healthz.
type Health struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// Readiness is the answer of GET /readyz: "ready" or "unavailable", and
// each dependency's state ("ok" or what is wrong).
type Readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Health reads /healthz and requires 200.
func (c *Client) Health() Health {
	c.t.Helper()
	r := c.Get("/healthz")
	require.Equal(c.t, 200, r.Status, string(r.Body))
	var h Health
	r.JSON(c.t, &h)
	return h
}

// Readiness reads /readyz and returns its status code (200 or 503) with
// the answer.
func (c *Client) Readiness() (int, Readiness) {
	c.t.Helper()
	r := c.Get("/readyz")
	var rd Readiness
	r.JSON(c.t, &rd)
	return r.Status, rd
}

// Order decodes the body as an order.
func (r Response) Order(t testing.TB) order.Order {
	t.Helper()
	var o order.Order
	r.JSON(t, &o)
	return o
}

// Problem decodes the body as a problem. A menu-version-conflict's
// current is a menu entity, not an order: it is left out (RequireMenuConflict
// reads it).
func (r Response) Problem(t testing.TB) httpapi.Problem {
	t.Helper()
	var kind struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(r.Body, &kind) == nil && strings.HasSuffix(kind.Type, "/menu-version-conflict") {
		var menu struct {
			httpapi.Problem
			Current json.RawMessage `json:"current"`
		}
		r.JSON(t, &menu)
		return menu.Problem
	}
	var p httpapi.Problem
	r.JSON(t, &p)
	return p
}

// RequireProblem checks a problem answer: status, content type, the problem
// type's last segment (kind), and that status, title and detail are set.
func RequireProblem(t testing.TB, r Response, status int, kind string) httpapi.Problem {
	t.Helper()
	require.Equal(t, status, r.Status, string(r.Body))
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
	p := r.Problem(t)
	require.True(t, strings.HasSuffix(p.Type, "/"+kind), "type %q, want …/%s", p.Type, kind)
	require.Equal(t, status, p.Status)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Detail)
	return p
}

// TopLevel is RequireField's op index for a field of the request itself.
const TopLevel = -1

// RequireField checks the problem names field, in op idx (TopLevel: a
// top-level field, with no op index).
func RequireField(t testing.TB, p httpapi.Problem, idx int, field string) {
	t.Helper()
	for _, e := range p.Errors {
		if e.Field != field {
			continue
		}
		if idx < 0 {
			require.Nil(t, e.OpIndex, "problem %+v", p)
			return
		}
		require.NotNil(t, e.OpIndex, "problem %+v", p)
		require.Equal(t, idx, *e.OpIndex, "problem %+v", p)
		return
	}
	t.Fatalf("no error for op %d field %q in %+v", idx, field, p)
}

// RequireFieldProblem is RequireProblem then RequireField.
func RequireFieldProblem(t testing.TB, r Response, status int, kind string, idx int, field string) httpapi.Problem {
	t.Helper()
	p := RequireProblem(t, r, status, kind)
	RequireField(t, p, idx, field)
	return p
}

// Keyed is the header of a request sent under an Idempotency-Key.
func Keyed(key string) map[string]string { return map[string]string{"Idempotency-Key": key} }

// Raw is a JSON object sent as it is: for requests no typed value can
// express (wrong types, unknown members).
type Raw = map[string]any
