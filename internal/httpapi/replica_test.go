package httpapi_test

// The audit routes reading off the primary (posd serve --replica-url). A
// real standby is make test-ha's (cmd/posd/ha_test.go); here the replica
// URL names a primary, which the answer must own up to, or a dead port,
// which must cost the audit routes alone.

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/pgcluster"
)

const shiftQuery = "/v1/audit/shift?from=2026-01-01T00:00:00Z&to=2026-01-31T00:00:00Z"

// TestReplicaURLNamingAPrimary: the answers are read there and say so;
// without a replica URL they say nothing of where they were read.
func TestReplicaURLNamingAPrimary(t *testing.T) {
	t.Parallel()
	plain := apitest.NewFixture(t)
	f := apitest.NewFixture(t, apitest.Options{ReplicaURL: plain.DB.AppURL})
	f.Fired("T1", apitest.AddItem("steak", 1))

	r := f.Manager.Get("/v1/audit/verify")
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, "primary", r.Header.Get("Posd-Read-From"))
	var res audit.Result
	r.JSON(t, &res)
	require.NotNil(t, res.ReadFrom)
	require.False(t, res.ReadFrom.Standby)
	require.NotNil(t, res.ReadFrom.LagSeconds)
	require.Zero(t, *res.ReadFrom.LagSeconds)
	// It read the replica URL's database, not the server's own: that one
	// has no order.
	require.Zero(t, res.OrdersChecked)
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM orders"), "the server's own database has the order")

	for _, path := range []string{shiftQuery, shiftQuery + "&format=csv"} {
		r = f.Auditor.Get(path)
		require.Equal(t, 200, r.Status, string(r.Body))
		require.Equal(t, "primary", r.Header.Get("Posd-Read-From"), path)
	}
	var rep audit.Report
	f.Auditor.Get(shiftQuery).JSON(t, &rep)
	require.Equal(t, &audit.ReadFrom{LagSeconds: new(float64)}, rep.ReadFrom)

	r = plain.Manager.Get("/v1/audit/verify")
	require.Empty(t, r.Header.Get("Posd-Read-From"))
	require.NotContains(t, r.Map(t), "read_from")
}

// TestReplicaDownCostsTheAuditAlone: with the standby unreachable the
// audit routes answer 503 standby-unavailable naming the replica URL, and
// orders are taken as before.
func TestReplicaDownCostsTheAuditAlone(t *testing.T) {
	t.Parallel()
	port, err := pgcluster.FreePort()
	require.NoError(t, err)
	dead := (&url.URL{Scheme: "postgres", User: url.User("posd"), Host: "127.0.0.1:" + itoa(int64(port)), Path: "/posd",
		RawQuery: "connect_timeout=1"}).String()
	f := apitest.NewFixture(t, apitest.Options{ReplicaURL: dead, RequestTimeout: 5 * time.Second})
	for _, path := range []string{"/v1/audit/verify", shiftQuery} {
		r := f.Manager.Get(path)
		p := apitest.RequireProblem(t, r, 503, "standby-unavailable")
		require.Contains(t, p.Detail, "--replica-url")
		require.Equal(t, "2", r.Header.Get("Retry-After"))
	}
	o := f.Fired("T1", apitest.AddItem("steak", 1))
	require.EqualValues(t, 2, o.Version)
	require.Contains(t, f.LogText(), "the standby (DATABASE_REPLICA_URL) does not answer")
}
