package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/metrics"
)

func TestReadyz(t *testing.T) {
	f := start(t)
	r := f.As(t, "").Get("/readyz")
	require.Equal(t, 200, r.Status, string(r.Body))
	var body struct {
		Status string `json:"status"`
	}
	r.JSON(t, &body)
	require.Equal(t, "ready", body.Status)
}

// TestReadinessIsPostgresOnly: a failing Postgres check is 503; a failing
// NATS check (Reported) is only reported, and /readyz stays 200.
func TestReadinessIsPostgresOnly(t *testing.T) {
	t.Parallel()
	down := func(context.Context) error { return errors.New("connection refused") }
	up := func(context.Context) error { return nil }
	for _, tc := range []struct {
		name       string
		pg, nats   func(context.Context) error
		status     int
		wantStatus string
	}{
		{"all up", up, up, 200, "ready"},
		{"NATS down", up, down, 200, "ready"},
		{"Postgres down", down, up, 503, "unavailable"},
	} {
		srv := httpapi.New(httpapi.Config{Metrics: metrics.New(), Log: zerolog.Nop(), Version: "v0-test",
			Ready: []httpapi.Check{{Name: "postgres", Run: tc.pg}, {Name: "nats", Run: tc.nats, Reported: true}}})
		resp, err := srv.App().Test(httptest.NewRequest("GET", "/readyz", nil))
		require.NoError(t, err)
		require.Equal(t, tc.status, resp.StatusCode, tc.name)
		var body struct {
			Status string            `json:"status"`
			Checks map[string]string `json:"checks"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		require.Equal(t, tc.wantStatus, body.Status, tc.name)
		require.Len(t, body.Checks, 2, tc.name)
	}
}

// TestOrderCacheMetrics: /metrics counts the writes planned on a kept order
// and those that read it first, so an operator can see the cache work.
func TestOrderCacheMetrics(t *testing.T) {
	f := start(t)
	o := f.Open("T6")
	o = f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("burger", 1))
	f.Waiter.Patch(o.ID, o.Version, apitest.AddItem("burger", 1))
	b := apitest.FixtureOf(t, f.Replica(t))
	// Stale, on a replica that kept nothing: read first, then refused.
	require.Equal(t, 409, b.Waiter.TryPatch(o.ID, o.Version, apitest.AddItem("burger", 1)).Status)

	metricsOf := func(fx *apitest.Fixture) string {
		r := fx.As(t, "").Get("/metrics")
		require.Equal(t, 200, r.Status)
		return string(r.Body)
	}
	m := metricsOf(f)
	require.Contains(t, m, "\nposd_order_cache_hits_total 2\n")
	require.Contains(t, m, "\nposd_order_cache_misses_total 0\n")
	require.Contains(t, metricsOf(b), "\nposd_order_cache_misses_total 1\n")
}
