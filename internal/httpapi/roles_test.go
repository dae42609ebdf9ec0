package httpapi_test

// TestRoleMatrix proves DESIGN.md section 4's roles column for every /v1
// endpoint and every kind of caller. Helpers carry an "rm" prefix so they
// cannot clash with other test files of package httpapi_test.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// The roles column of DESIGN.md section 4, in its own words.
var (
	rmAll           = []string{order.RoleWaiter, order.RoleManager, order.RoleKitchen, order.RoleAuditor}
	rmAllButKitchen = []string{order.RoleWaiter, order.RoleManager, order.RoleAuditor}
	rmWaiterManager = []string{order.RoleWaiter, order.RoleManager}
	rmKitchenMgr    = []string{order.RoleKitchen, order.RoleManager}
	rmManagerAudit  = []string{order.RoleManager, order.RoleAuditor}
)

// rmPrincipal is one kind of caller. An empty role means the token does not
// authenticate.
type rmPrincipal struct {
	name, token, role, venue string
}

// rmEndpoint is one route of the API. req builds the request for a
// principal, first creating whatever fresh state the call consumes (an
// order to patch, a ticket to bump), so no principal's call depends on
// another's. check inspects an allowed answer.
type rmEndpoint struct {
	name  string
	roles []string
	// demoTarget: the path names a demo order or ticket, which another
	// venue's devices must not be able to tell exists (404).
	demoTarget bool
	// mutates: an allowed call changes the database; any other call must not.
	mutates bool
	// stream: the answer is a Server-Sent Events stream (only the status is read).
	stream bool
	ok     int
	req    func(f *rmFixture, p rmPrincipal) apitest.Req
	check  func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response)
}

// rmFixture is the stack with the demo data every endpoint reads.
type rmFixture struct {
	fixture
	readOrder    string // open on demo T1, with a sent steak (versions 1 and 2)
	kitchenOrder string // open on demo T2; each fresh ticket is one more send
	closedBy     string // staff who closed an order in the shift
	nextTable    int
}

// table returns a demo table no order has been opened on.
func (f *rmFixture) table() string {
	f.nextTable++
	require.LessOrEqual(f.t, f.nextTable, 30, "out of demo tables")
	return fmt.Sprintf("T%d", f.nextTable)
}

// freshOrder opens an order on an unused demo table.
func (f *rmFixture) freshOrder() string {
	f.t.Helper()
	return f.open(f.table())
}

// freshTicket fires one more steak on the kitchen order and returns the new
// grill ticket, bumped first when bumped is true.
func (f *rmFixture) freshTicket(bumped bool) string {
	f.t.Helper()
	o := f.Do(f.t, apitest.Req{Method: "GET", Path: "/v1/orders/" + f.kitchenOrder, Token: waiter}).Map(f.t)
	f.mustPatch(waiter, f.kitchenOrder, int(o["version"].(float64)), addItem("steak"), map[string]any{"op": "send"})
	var id string
	require.NoError(f.t, f.DB.Admin.QueryRow(context.Background(),
		`SELECT id::text FROM kitchen_tickets WHERE order_id = $1 AND station = 'grill' ORDER BY created_at DESC, id DESC LIMIT 1`,
		f.kitchenOrder).Scan(&id))
	if bumped {
		r := ktMove(f.t, f.fixture, kitchen, id, "bump")
		require.Equal(f.t, 200, r.Status, string(r.Body))
	}
	return id
}

// fingerprint covers everything any /v1 call could change: orders, lines,
// payments, events, tickets and their log, recorded conflicts.
func (f *rmFixture) fingerprint(t *testing.T) string {
	t.Helper()
	return f.state() + fmt.Sprintf(" tickets=%d ticketstate=%d ticketevents=%d conflicts=%d",
		f.DB.Count(t, "SELECT count(*) FROM kitchen_tickets"),
		f.DB.Count(t, "SELECT coalesce(sum(hashtext(id::text || status || coalesce(bumped_at::text, ''))),0) FROM kitchen_tickets"),
		f.DB.Count(t, "SELECT count(*) FROM kitchen_ticket_events"),
		f.DB.Count(t, "SELECT count(*) FROM order_conflicts"))
}

// venueOrders are the ids of a venue's orders.
func (f *rmFixture) venueOrders(t *testing.T, venue string) []string {
	t.Helper()
	rows, err := f.DB.Admin.Query(context.Background(), "SELECT id::text FROM orders WHERE venue_id = $1", venue)
	require.NoError(t, err)
	var ids []string
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// rmStreamStatus opens the kitchen stream, reads the status and headers,
// and closes the connection at once.
func rmStreamStatus(t *testing.T, f *rmFixture, r apitest.Req) apitest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, f.BaseURL+r.Path, nil)
	require.NoError(t, err)
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	resp, err := f.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return apitest.Response{Status: resp.StatusCode, Header: resp.Header}
	}
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func rmList(t *testing.T, r apitest.Response, key string) []map[string]any {
	t.Helper()
	raw, ok := r.Map(t)[key].([]any)
	require.True(t, ok, "%s is a list: %s", key, r.Body)
	out := make([]map[string]any, len(raw))
	for i, v := range raw {
		out[i] = v.(map[string]any)
	}
	return out
}

func rmEndpoints() []rmEndpoint {
	get := func(path func(f *rmFixture) string) func(f *rmFixture, p rmPrincipal) apitest.Req {
		return func(f *rmFixture, p rmPrincipal) apitest.Req {
			return apitest.Req{Method: "GET", Path: path(f), Token: p.token}
		}
	}
	fixed := func(path string) func(f *rmFixture, p rmPrincipal) apitest.Req {
		return get(func(*rmFixture) string { return path })
	}
	onRead := func(suffix string) func(f *rmFixture, p rmPrincipal) apitest.Req {
		return get(func(f *rmFixture) string { return "/v1/orders/" + f.readOrder + suffix })
	}
	move := func(m string) rmEndpoint {
		return rmEndpoint{
			name: "POST /v1/kitchen/tickets/{id}/" + m, roles: rmKitchenMgr, demoTarget: true, mutates: true, ok: 200,
			req: func(f *rmFixture, p rmPrincipal) apitest.Req {
				id := f.freshTicket(m == "recall")
				return apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/" + id + "/" + m, Token: p.token}
			},
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				want := map[string]string{"bump": "ready", "recall": "new"}[m]
				require.Equal(t, want, r.Map(t)["status"])
			},
		}
	}
	now := time.Now().UTC()
	shift := shiftPath(now.Add(-time.Hour), now.Add(time.Hour))

	return []rmEndpoint{
		{name: "GET /v1/menu", roles: rmAll, ok: 200, req: fixed("/v1/menu"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				require.GreaterOrEqual(t, len(rmList(t, r, "items")), 12)
			}},
		{name: "GET /v1/tables", roles: rmAll, ok: 200, req: fixed("/v1/tables"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				tables := rmList(t, r, "tables")
				require.Len(t, tables, map[string]int{"demo": 30, "demo2": 5}[p.venue], "the caller's venue's tables")
				demo := f.venueOrders(t, "demo")
				for _, tb := range tables {
					if id, ok := tb["open_order_id"].(string); ok {
						require.Equal(t, p.venue == "demo", slices.Contains(demo, id), "table %v", tb)
					}
				}
				if p.venue == "demo" {
					require.Equal(t, f.readOrder, tables[0]["open_order_id"])
				}
			}},
		{name: "POST /v1/orders", roles: rmWaiterManager, mutates: true, ok: 201,
			req: func(f *rmFixture, p rmPrincipal) apitest.Req {
				// demo2's callers name demo's T1 and T2, which are taken in
				// demo: only their own venue's free table lets them in.
				table := map[string]string{"demo2-waiter": "T1", "demo2-manager": "T2"}[p.name]
				if table == "" {
					table = f.table()
				}
				return apitest.Req{Method: "POST", Path: "/v1/orders", Token: p.token, Body: map[string]any{"table": table, "guests": 2}}
			},
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				o := r.Map(t)
				require.Equal(t, p.venue, o["venue"])
				require.Equal(t, "/v1/orders/"+o["id"].(string), r.Header.Get("Location"))
				require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders WHERE id = $1 AND venue_id = $2", o["id"], p.venue))
			}},
		{name: "GET /v1/orders", roles: rmAllButKitchen, ok: 200, req: fixed("/v1/orders"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				orders := rmList(t, r, "orders")
				for _, o := range orders {
					require.Equal(t, p.venue, o["venue"])
				}
				if p.venue == "demo" {
					require.NotEmpty(t, orders)
				}
			}},
		{name: "GET /v1/orders/{id}", roles: rmAllButKitchen, demoTarget: true, ok: 200, req: onRead(""),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				require.Equal(t, f.readOrder, r.Map(t)["id"])
				require.Equal(t, `"2"`, r.Header.Get("ETag"))
			}},
		{name: "GET /v1/orders/{id}?at_version=1", roles: rmManagerAudit, demoTarget: true, ok: 200, req: onRead("?at_version=1"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				o := r.Map(t)
				require.EqualValues(t, 1, o["version"])
				require.Empty(t, o["lines"])
			}},
		{name: "PATCH /v1/orders/{id}", roles: rmWaiterManager, demoTarget: true, mutates: true, ok: 200,
			req: func(f *rmFixture, p rmPrincipal) apitest.Req {
				return apitest.Req{Method: "PATCH", Path: "/v1/orders/" + f.freshOrder(), Token: p.token,
					Body: map[string]any{"expected_version": 1, "ops": []any{addItem("steak")}}}
			},
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				o := r.Map(t)
				require.EqualValues(t, 2, o["version"])
				require.Len(t, o["lines"], 1)
			}},
		{name: "GET /v1/orders/{id}/events", roles: rmAllButKitchen, demoTarget: true, ok: 200, req: onRead("/events"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				evs := rmList(t, r, "events")
				require.Len(t, evs, 2)
				for _, e := range evs {
					require.Equal(t, f.readOrder, e["order_id"])
				}
			}},
		{name: "GET /v1/kitchen/tickets?station=grill", roles: rmKitchenMgr, ok: 200, req: fixed("/v1/kitchen/tickets?station=grill"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				tickets := rmList(t, r, "tickets")
				mine := f.venueOrders(t, p.venue)
				for _, tk := range tickets {
					require.Contains(t, mine, tk["order_id"], "a ticket of another venue")
				}
				if p.venue == "demo" {
					require.NotEmpty(t, tickets)
				}
			}},
		move("bump"),
		move("recall"),
		{name: "GET /v1/kitchen/stream?station=grill", roles: rmKitchenMgr, stream: true, ok: 200, req: fixed("/v1/kitchen/stream?station=grill"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				require.Equal(t, "text/event-stream", r.Header.Get("Content-Type"))
			}},
		{name: "GET /v1/audit/shift", roles: rmManagerAudit, ok: 200, req: fixed(shift),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				var staff []string
				for _, s := range rmList(t, r, "by_staff") {
					staff = append(staff, s["staff"].(string))
				}
				require.Equal(t, p.venue == "demo", slices.Contains(staff, f.closedBy), "by_staff %v", staff)
			}},
		{name: "GET /v1/audit/verify", roles: rmManagerAudit, ok: 200, req: fixed("/v1/audit/verify"),
			check: func(t *testing.T, f *rmFixture, p rmPrincipal, r apitest.Response) {
				m := r.Map(t)
				require.Equal(t, true, m["ok"])
				require.EqualValues(t, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE venue_id = $1", p.venue), m["events_checked"])
			}},
	}
}

// TestRoleMatrix sends every /v1 request as every kind of caller: no token,
// an unknown token, a revoked manager's token, demo2's waiter and a demo2
// manager, and demo's waiter, manager, kitchen and auditor. Each gets
// exactly what DESIGN.md section 4 says: 401 without a valid token, 403 when
// the role is not in the route's roles (checked before anything else),
// 404 for another venue's order or ticket when the role is allowed, 200 but
// scoped to the caller's venue for lists, and the route's success otherwise.
// A refused request, and any GET, changes nothing in the database; each
// allowed write works on state made for it alone.
func TestRoleMatrix(t *testing.T) {
	f := &rmFixture{fixture: setup(t), nextTable: 2}
	ctx := context.Background()

	// Demo's shared state: an order to read (versions 1 and 2), an order
	// the kitchen tickets come from, and an order closed in the shift so
	// the report has a server to show.
	f.readOrder = f.open("T1")
	f.mustPatch(waiter, f.readOrder, 1, addItem("steak"), map[string]any{"op": "send"})
	f.kitchenOrder = f.open("T2")
	closed := f.freshOrder()
	f.mustPatch(waiter, closed, 1, addItem("beer"), map[string]any{"op": "send"},
		map[string]any{"op": "add_payment", "tender": "cash", "amount_cents": 700, "tip_cents": 100}, map[string]any{"op": "close"})
	f.closedBy = "Alice"

	// A manager revoked before the test (so its 401 is not about its role),
	// and a manager of demo2 (so every route has an allowed caller from
	// another venue).
	_, revoked, err := store.AddDevice(ctx, f.DB.Admin, device.Spec{Venue: "demo", Name: "old-manager", Role: order.RoleManager})
	require.NoError(t, err)
	require.Equal(t, 200, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/audit/verify", Token: revoked}).Status)
	_, err = store.RevokeDevice(ctx, f.DB.Admin, "demo", "old-manager")
	require.NoError(t, err)
	_, demo2Manager, err := store.AddDevice(ctx, f.DB.Admin, device.Spec{Venue: "demo2", Name: "manager", Role: order.RoleManager, Staff: "Yann"})
	require.NoError(t, err)

	principals := []rmPrincipal{
		{name: "no token"},
		{name: "unknown token", token: "posd_" + strings.Repeat("A", 43)},
		{name: "revoked manager", token: revoked},
		{name: "demo2-waiter", token: other, role: order.RoleWaiter, venue: "demo2"},
		{name: "demo2-manager", token: demo2Manager, role: order.RoleManager, venue: "demo2"},
		{name: "waiter", token: waiter, role: order.RoleWaiter, venue: "demo"},
		{name: "manager", token: manager, role: order.RoleManager, venue: "demo"},
		{name: "kitchen", token: kitchen, role: order.RoleKitchen, venue: "demo"},
		{name: "auditor", token: auditor, role: order.RoleAuditor, venue: "demo"},
	}

	covered := map[string]bool{}
	for _, ep := range rmEndpoints() {
		for _, p := range principals {
			t.Run(ep.name+" as "+p.name, func(t *testing.T) {
				// A copy whose helpers fail this subtest, not the parent.
				sf := *f
				sf.t = t
				req := ep.req(&sf, p)
				f.nextTable = sf.nextTable

				before := sf.fingerprint(t)
				var r apitest.Response
				if ep.stream {
					r = rmStreamStatus(t, &sf, req)
				} else {
					r = sf.Do(t, req)
				}

				switch {
				case p.role == "":
					requireProblem(t, r, 401, "unauthorized")
					require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
				case !slices.Contains(ep.roles, p.role):
					requireProblem(t, r, 403, "forbidden")
				case ep.demoTarget && p.venue != "demo":
					requireProblem(t, r, 404, "not-found")
				default:
					require.Equal(t, ep.ok, r.Status, string(r.Body))
					ep.check(t, &sf, p, r)
					covered[ep.name] = true
					if ep.mutates {
						require.NotEqual(t, before, sf.fingerprint(t), "an allowed write changed nothing")
						return
					}
				}
				require.Equal(t, before, sf.fingerprint(t), "the database changed")
			})
		}
	}
	// Every route was allowed for someone, so every check ran.
	require.Len(t, covered, len(rmEndpoints()))
}
