package httpapi_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/seed"
)

// TestMeNamesTheCaller: GET /v1/me answers the token's venue, device,
// staff member and role, for every role, and nothing without a token.
func TestMeNamesTheCaller(t *testing.T) {
	f := start(t)
	for _, c := range []struct {
		token string
		want  map[string]any
	}{
		{seed.TokenWaiter1, map[string]any{"venue": "demo", "device": "waiter-1", "staff": "Alice", "role": "waiter"}},
		{seed.TokenManager, map[string]any{"venue": "demo", "device": "manager", "staff": "Maria", "role": "manager"}},
		{seed.TokenKitchen, map[string]any{"venue": "demo", "device": "kitchen", "staff": "Kitchen", "role": "kitchen"}},
		{seed.TokenDemo2Waiter, map[string]any{"venue": "demo2", "device": "waiter", "staff": "Zoe", "role": "waiter"}},
	} {
		r := f.Stack.As(t, c.token).Get("/v1/me")
		require.Equal(t, 200, r.Status, string(r.Body))
		require.Equal(t, c.want, r.Map(t))
	}
	require.Equal(t, 401, f.Stack.As(t, "").Get("/v1/me").Status)
}
