package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

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
