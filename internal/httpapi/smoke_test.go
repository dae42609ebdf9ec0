package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
)

func TestReadyz(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	r := s.Do(t, apitest.Req{Method: "GET", Path: "/readyz"})
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, "ready", r.Map(t)["status"])
}
