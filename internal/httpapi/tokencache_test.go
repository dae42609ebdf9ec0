package httpapi_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
)

// TestCachedTokenWriteStillChecksTheDevice: an order write takes its
// device from the authenticator's cache, without looking the token up, and
// its transaction checks the device instead. A device revoked after its
// token was cached is refused on its very next PATCH with 401, whatever
// the write would have been (a change, a stale version, a change that
// changes nothing, a keyed write), and nothing is written; a device whose
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

	f.RevokeDevice("demo", "hand-cache")
	count := func() int64 {
		return f.DB.Count(t, `SELECT count(*) FROM order_events WHERE order_id = $1`, o.ID)
	}
	before := count()
	for name, r := range map[string]func() apitest.Response{
		"a change":        func() apitest.Response { return c.TryPatch(o.ID, o.Version, apitest.AddItem("beer", 1)) },
		"a stale version": func() apitest.Response { return c.TryPatch(o.ID, o.Version-1, apitest.AddItem("beer", 1)) },
		"a change that changes nothing": func() apitest.Response {
			return c.TryPatch(o.ID, o.Version, order.Op{Op: order.OpSetNote, Note: ptr(o.Note)})
		},
		"a keyed write": func() apitest.Response {
			return c.SendPatch(o.ID, apitest.Patch{ExpectedVersion: o.Version, Ops: []order.Op{apitest.AddItem("beer", 1)}},
				map[string]string{"Idempotency-Key": "k-1"})
		},
	} {
		apitest.RequireProblem(t, r(), 401, "unauthorized")
		require.Equal(t, before, count(), "%s by a revoked device writes nothing", name)
	}
	require.Equal(t, o.Version, f.Waiter.Order(o.ID).Version)
	require.EqualValues(t, 0, f.DB.Count(t, `SELECT count(*) FROM order_conflicts WHERE device = 'hand-cache'`),
		"nor is a refused write recorded for it")
}
