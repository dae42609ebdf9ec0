package httpapi_test

// The tests of this package speak apitest's vocabulary: start(t) gives an
// apitest.Fixture with a typed client per demo device, apitest's op builders
// make the ops, apitest.RequireProblem and RequireField judge refusals, and
// apitest.Fingerprint says whether a refused request changed anything.
//
// Below start are the older untyped helpers the hostile-input, strict, bounds
// and fuzz tests still use (their requests are deliberately raw JSON); state
// is apitest.Fingerprint.

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/seed"
)

// start runs a stack for a parallel test.
func start(t *testing.T, opts ...apitest.Options) *apitest.Fixture {
	t.Parallel()
	return apitest.NewFixture(t, opts...)
}

const (
	waiter  = seed.TokenWaiter1
	waiter2 = seed.TokenWaiter2
	manager = seed.TokenManager
	kitchen = seed.TokenKitchen
	auditor = seed.TokenAuditor
	other   = seed.TokenDemo2Waiter
)

// fixture is one running stack plus untyped helpers to drive and inspect it.
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
	return f.As(f.t, waiter).Open(table, 2).ID.String()
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

// state is apitest.Fingerprint: everything the write path can change.
func (f fixture) state() string {
	f.t.Helper()
	return apitest.Fingerprint(f.t, f.DB)
}

// requireProblem is apitest.RequireProblem returning the problem as a map.
func requireProblem(t *testing.T, r apitest.Response, status int, kind string) map[string]any {
	t.Helper()
	apitest.RequireProblem(t, r, status, kind)
	p := r.Map(t)
	require.True(t, strings.HasSuffix(p["type"].(string), "/"+kind))
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
