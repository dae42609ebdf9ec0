package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// TestCachedTokenWriteStillChecksTheDevice: an order write takes its
// device from the authenticator's cache, without looking the token up, and
// its transaction checks the device instead. A device revoked after its
// token was cached is refused on its very next PATCH with 401, whatever
// the write would have been (a change, a stale version, a change that
// changes nothing, a keyed write, and before any other refusal: a forced
// write by a waiter, an order that does not exist, a body that is not
// JSON), and nothing is written; a device whose
// staff changed writes under its new staff name.
func TestCachedTokenWriteStillChecksTheDevice(t *testing.T) {
	f := start(t)
	token := f.AddDevice("demo", "hand-cache", order.RoleWaiter, "Zoe")
	c := f.As(t, token)
	o := c.Open("T9", 2)
	o = c.Patch(o.ID, o.Version, apitest.AddItem("beer", 1)) // the token is cached now
	require.Equal(t, "Zoe", o.Server)

	// The staff behind the device changes (posd seed re-runs, say): the
	// next write is made, under the new name.
	_, err := f.DB.Admin.Exec(context.Background(), `UPDATE devices SET staff = 'Zoé' WHERE venue_id = 'demo' AND name = 'hand-cache'`)
	require.NoError(t, err)
	o = c.Patch(o.ID, o.Version, apitest.AddItem("beer", 1))
	evs := c.Events(o.ID, o.Version-1)
	require.Len(t, evs.Events, 1)
	require.Equal(t, "Zoé", evs.Events[0].Actor.Staff, "the write is recorded under the device as it is now")

	count := func() int64 {
		return f.DB.Count(t, `SELECT count(*) FROM order_events WHERE order_id = $1`, o.ID)
	}
	// Each case on a device of its own, cached by its first request, then revoked:
	// its first request after the revocation is the one on the cache.
	cases := []struct {
		name   string
		active int // what the device hears before its revocation
		send   func(c *apitest.Client, o order.Order) apitest.Response
	}{
		{"a change", 200, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.TryPatch(o.ID, o.Version, apitest.AddItem("beer", 1))
		}},
		{"a stale version", 409, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.TryPatch(o.ID, o.Version-1, apitest.AddItem("beer", 1))
		}},
		{"a change that changes nothing", 200, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.TryPatch(o.ID, o.Version, order.Op{Op: order.OpSetNote, Note: ptr(o.Note)})
		}},
		{"a forced write, not a waiter's", 403, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.SendPatch(o.ID, apitest.Patch{Force: true, Ops: []order.Op{apitest.AddItem("beer", 1)}})
		}},
		{"a write to an order that does not exist", 404, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.TryPatch(uuid.New(), 1, apitest.AddItem("beer", 1))
		}},
		{"a body that is not an object", 400, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.SendPatch(o.ID, "not an object")
		}},
		{"a keyed write", 200, func(c *apitest.Client, o order.Order) apitest.Response {
			return c.SendPatch(o.ID, apitest.Patch{ExpectedVersion: o.Version, Ops: []order.Op{apitest.AddItem("beer", 1)}},
				map[string]string{"Idempotency-Key": "k-" + uuid.NewString()})
		}},
	}
	for i, tc := range cases {
		name := fmt.Sprintf("hand-cache-%d", i)
		d := f.As(t, f.AddDevice("demo", name, order.RoleWaiter, "Zoe"))
		// Before: the active device hears what the case says (and the
		// order moves on when it writes).
		r := tc.send(d, o)
		require.Equal(t, tc.active, r.Status, "%s: %s", tc.name, r.Body)
		o = f.Waiter.Order(o.ID)
		f.RevokeDevice("demo", name)
		before := count()
		apitest.RequireProblem(t, tc.send(d, o), 401, "unauthorized")
		require.Equal(t, before, count(), "%s by a revoked device writes nothing", tc.name)
		require.EqualValues(t, 0, f.DB.Count(t, `SELECT count(*) FROM order_conflicts WHERE device = $1 AND at > (SELECT revoked_at FROM devices WHERE name = $1)`, name),
			"%s: nor is a refused write recorded for it", tc.name)
	}
}
