package httpapi_test

// TestRoleMatrix proves DESIGN.md section 4's roles column for every /v1
// endpoint and every kind of caller.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// The roles column of DESIGN.md section 4, in its own words.
var (
	allRoles       = []string{order.RoleWaiter, order.RoleManager, order.RoleKitchen, order.RoleAuditor}
	allButKitchen  = []string{order.RoleWaiter, order.RoleManager, order.RoleAuditor}
	waiterManager  = []string{order.RoleWaiter, order.RoleManager}
	kitchenManager = []string{order.RoleKitchen, order.RoleManager}
	managerAuditor = []string{order.RoleManager, order.RoleAuditor}
)

// caller is one kind of caller. An empty role means the token does not
// authenticate.
type caller struct {
	name, token, role, venue string
}

// endpoint is one route of the API. req builds the request for a caller,
// first creating whatever fresh state the call consumes (an order to patch,
// a ticket to bump), so no caller's call depends on another's. check
// inspects an allowed answer.
type endpoint struct {
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
	req    func(m *matrix, p caller) apitest.Req
	check  func(t *testing.T, m *matrix, p caller, r apitest.Response)
}

// matrix is the stack with the demo data every endpoint reads.
type matrix struct {
	*apitest.Fixture
	readOrder    uuid.UUID // open on demo T1, with a sent steak (versions 1 and 2)
	kitchenOrder uuid.UUID // open on demo T2; each fresh ticket is one more send
	closedBy     string    // staff who closed an order in the shift
	nextTable    int
}

// table returns a demo table no order has been opened on.
func (m *matrix) table() string {
	m.nextTable++
	require.LessOrEqual(m.T, m.nextTable, 30, "out of demo tables")
	return fmt.Sprintf("T%d", m.nextTable)
}

// freshOrder opens an order on an unused demo table.
func (m *matrix) freshOrder() uuid.UUID {
	m.T.Helper()
	return m.Open(m.table()).ID
}

// freshTicket fires one more steak on the kitchen order and returns the new
// grill ticket, bumped first when bumped is true.
func (m *matrix) freshTicket(bumped bool) uuid.UUID {
	m.T.Helper()
	m.Waiter.Apply(m.kitchenOrder, apitest.AddItem("steak", 1), apitest.Fire())
	var id uuid.UUID
	require.NoError(m.T, m.DB.Admin.QueryRow(context.Background(),
		`SELECT id FROM kitchen_tickets WHERE order_id = $1 AND station = 'grill' ORDER BY created_at DESC, id DESC LIMIT 1`,
		m.kitchenOrder).Scan(&id))
	if bumped {
		m.Kitchen.Bump(id)
	}
	return id
}

// fingerprint is apitest.Fingerprint and the recorded conflicts: everything
// any /v1 call could change.
func (m *matrix) fingerprint(t *testing.T) string {
	t.Helper()
	return apitest.Fingerprint(t, m.DB) + fmt.Sprintf("conflicts=%d", m.DB.Count(t, "SELECT count(*) FROM order_conflicts"))
}

// venueOrders are the ids of a venue's orders.
func (m *matrix) venueOrders(t *testing.T, venue string) []string {
	t.Helper()
	rows, err := m.DB.Admin.Query(context.Background(), "SELECT id::text FROM orders WHERE venue_id = $1", venue)
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

// streamStatus opens the kitchen stream, reads the status and headers, and
// closes the connection at once.
func streamStatus(t *testing.T, m *matrix, r apitest.Req) apitest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, r.Method, m.BaseURL+r.Path, nil)
	require.NoError(t, err)
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	resp, err := m.Client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return apitest.Response{Status: resp.StatusCode, Header: resp.Header}
	}
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

func endpoints() []endpoint {
	get := func(path func(f *matrix) string) func(f *matrix, p caller) apitest.Req {
		return func(f *matrix, p caller) apitest.Req {
			return apitest.Req{Method: "GET", Path: path(f), Token: p.token}
		}
	}
	fixed := func(path string) func(f *matrix, p caller) apitest.Req {
		return get(func(*matrix) string { return path })
	}
	onRead := func(suffix string) func(f *matrix, p caller) apitest.Req {
		return get(func(f *matrix) string { return apitest.OrderPath(f.readOrder) + suffix })
	}
	move := func(m string) endpoint {
		return endpoint{
			name: "POST /v1/kitchen/tickets/{id}/" + m, roles: kitchenManager, demoTarget: true, mutates: true, ok: 200,
			req: func(f *matrix, p caller) apitest.Req {
				id := f.freshTicket(m == "recall")
				return apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/" + id.String() + "/" + m, Token: p.token}
			},
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				want := map[string]string{"bump": "ready", "recall": "new"}[m]
				var tk kitchen.Ticket
				r.JSON(t, &tk)
				require.Equal(t, want, tk.Status)
			},
		}
	}
	now := time.Now().UTC()
	shift := apitest.ShiftPath(now.Add(-time.Hour), now.Add(time.Hour))

	return []endpoint{
		{name: "GET /v1/menu", roles: allRoles, ok: 200, req: fixed("/v1/menu"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				require.GreaterOrEqual(t, len(apitest.List[order.MenuItem](t, r, "items")), 12)
			}},
		{name: "GET /v1/tables", roles: allRoles, ok: 200, req: fixed("/v1/tables"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				tables := apitest.List[store.Table](t, r, "tables")
				require.Len(t, tables, map[string]int{"demo": 30, "demo2": 5}[p.venue], "the caller's venue's tables")
				demo := f.venueOrders(t, "demo")
				for _, tb := range tables {
					if tb.OpenOrderID != nil {
						require.Equal(t, p.venue == "demo", slices.Contains(demo, tb.OpenOrderID.String()), "table %+v", tb)
					}
				}
				if p.venue == "demo" {
					require.NotNil(t, tables[0].OpenOrderID, "%+v", tables[0])
					require.Equal(t, f.readOrder, *tables[0].OpenOrderID)
				}
			}},
		{name: "POST /v1/orders", roles: waiterManager, mutates: true, ok: 201,
			req: func(f *matrix, p caller) apitest.Req {
				// demo2's callers name demo's T1 and T2, which are taken in
				// demo: only their own venue's free table lets them in.
				table := map[string]string{"demo2-waiter": "T1", "demo2-manager": "T2"}[p.name]
				if table == "" {
					table = f.table()
				}
				return apitest.Req{Method: "POST", Path: "/v1/orders", Token: p.token, Body: apitest.OpenRequest{Table: table, Guests: 2}}
			},
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				o := r.Order(t)
				require.Equal(t, p.venue, o.Venue)
				require.Equal(t, apitest.OrderPath(o.ID), r.Header.Get("Location"))
				require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders WHERE id = $1 AND venue_id = $2", o.ID, p.venue))
			}},
		{name: "GET /v1/orders", roles: allButKitchen, ok: 200, req: fixed("/v1/orders"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				orders := apitest.List[order.Order](t, r, "orders")
				for _, o := range orders {
					require.Equal(t, p.venue, o.Venue)
				}
				if p.venue == "demo" {
					require.NotEmpty(t, orders)
				}
			}},
		{name: "GET /v1/orders/{id}", roles: allButKitchen, demoTarget: true, ok: 200, req: onRead(""),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				require.Equal(t, f.readOrder, r.Order(t).ID)
				require.Equal(t, `"2"`, r.Header.Get("ETag"))
			}},
		{name: "GET /v1/orders/{id}?at_version=1", roles: managerAuditor, demoTarget: true, ok: 200, req: onRead("?at_version=1"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				o := r.Order(t)
				require.Equal(t, int64(1), o.Version)
				require.Empty(t, o.Lines)
			}},
		{name: "PATCH /v1/orders/{id}", roles: waiterManager, demoTarget: true, mutates: true, ok: 200,
			req: func(f *matrix, p caller) apitest.Req {
				return apitest.Req{Method: "PATCH", Path: apitest.OrderPath(f.freshOrder()), Token: p.token,
					Body: apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.AddItem("steak", 1)}}}
			},
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				o := r.Order(t)
				require.Equal(t, int64(2), o.Version)
				require.Len(t, o.Lines, 1)
			}},
		{name: "GET /v1/orders/{id}/events", roles: allButKitchen, demoTarget: true, ok: 200, req: onRead("/events"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				evs := apitest.List[order.Event](t, r, "events")
				require.Len(t, evs, 2)
				for _, e := range evs {
					require.Equal(t, f.readOrder, e.OrderID)
				}
			}},
		{name: "GET /v1/kitchen/tickets?station=grill", roles: kitchenManager, ok: 200, req: fixed("/v1/kitchen/tickets?station=grill"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				tickets := apitest.List[kitchen.Ticket](t, r, "tickets")
				mine := f.venueOrders(t, p.venue)
				for _, tk := range tickets {
					require.Contains(t, mine, tk.OrderID.String(), "a ticket of another venue")
				}
				if p.venue == "demo" {
					require.NotEmpty(t, tickets)
				}
			}},
		move("bump"),
		move("recall"),
		{name: "GET /v1/kitchen/stream?station=grill", roles: kitchenManager, stream: true, ok: 200, req: fixed("/v1/kitchen/stream?station=grill"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				require.Equal(t, "text/event-stream", r.Header.Get("Content-Type"))
			}},
		{name: "GET /v1/audit/shift", roles: managerAuditor, ok: 200, req: fixed(shift),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				var staff []string
				for _, s := range apitest.List[audit.StaffSummary](t, r, "by_staff") {
					staff = append(staff, s.Staff)
				}
				require.Equal(t, p.venue == "demo", slices.Contains(staff, f.closedBy), "by_staff %v", staff)
			}},
		{name: "GET /v1/audit/verify", roles: managerAuditor, ok: 200, req: fixed("/v1/audit/verify"),
			check: func(t *testing.T, f *matrix, p caller, r apitest.Response) {
				var res audit.Result
				r.JSON(t, &res)
				require.True(t, res.OK, "%s", r.Body)
				require.Equal(t, f.DB.Count(t, "SELECT count(*) FROM order_events WHERE venue_id = $1", p.venue), res.EventsChecked)
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
	f := &matrix{Fixture: start(t), nextTable: 2}

	// Demo's shared state: an order to read (versions 1 and 2), an order
	// the kitchen tickets come from, and an order closed in the shift so
	// the report has a server to show.
	f.readOrder = f.Fired("T1", apitest.AddItem("steak", 1)).ID
	f.kitchenOrder = f.Open("T2").ID
	closed := f.freshOrder()
	f.Waiter.Patch(closed, 1, apitest.AddItem("beer", 1), apitest.Fire(), apitest.Pay("cash", 700, 100), apitest.Close())
	f.closedBy = "Alice"

	// A manager revoked before the test (so its 401 is not about its role),
	// and a manager of demo2 (so every route has an allowed caller from
	// another venue).
	revoked := f.AddDevice("demo", "old-manager", order.RoleManager, "")
	require.Equal(t, 200, f.As(t, revoked).Get("/v1/audit/verify").Status)
	f.RevokeDevice("demo", "old-manager")
	demo2Manager := f.AddDevice("demo2", "manager", order.RoleManager, "Yann")

	principals := []caller{
		{name: "no token"},
		{name: "unknown token", token: "posd_" + strings.Repeat("A", 43)},
		{name: "revoked manager", token: revoked},
		{name: "demo2-waiter", token: seed.TokenDemo2Waiter, role: order.RoleWaiter, venue: "demo2"},
		{name: "demo2-manager", token: demo2Manager, role: order.RoleManager, venue: "demo2"},
		{name: "waiter", token: seed.TokenWaiter1, role: order.RoleWaiter, venue: "demo"},
		{name: "manager", token: seed.TokenManager, role: order.RoleManager, venue: "demo"},
		{name: "kitchen", token: seed.TokenKitchen, role: order.RoleKitchen, venue: "demo"},
		{name: "auditor", token: seed.TokenAuditor, role: order.RoleAuditor, venue: "demo"},
	}

	covered := map[string]bool{}
	for _, ep := range endpoints() {
		for _, p := range principals {
			t.Run(ep.name+" as "+p.name, func(t *testing.T) {
				// A copy whose helpers fail this subtest, not the parent.
				sf := *f
				sf.Fixture = apitest.FixtureOf(t, f.Stack)
				req := ep.req(&sf, p)
				f.nextTable = sf.nextTable

				before := sf.fingerprint(t)
				var r apitest.Response
				if ep.stream {
					r = streamStatus(t, &sf, req)
				} else {
					r = sf.Do(t, req)
				}

				switch {
				case p.role == "":
					apitest.RequireProblem(t, r, 401, "unauthorized")
					require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
				case !slices.Contains(ep.roles, p.role):
					apitest.RequireProblem(t, r, 403, "forbidden")
				case ep.demoTarget && p.venue != "demo":
					apitest.RequireProblem(t, r, 404, "not-found")
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
	require.Len(t, covered, len(endpoints()))
}
