package device

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// TestNewToken: a token is the prefix and 32 random bytes in unpadded
// URL-safe base64, and no two are alike.
func TestNewToken(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok, err := NewToken()
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(tok, TokenPrefix), tok)
		require.Len(t, tok, len(TokenPrefix)+43)
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, TokenPrefix))
		require.NoError(t, err)
		require.Len(t, raw, tokenBytes)
		require.False(t, seen[tok])
		seen[tok] = true
	}
}

// TestValidate: the rules of a device definition, and the staff default.
func TestValidate(t *testing.T) {
	ok := Spec{Venue: "demo", Name: "till", Role: order.RoleWaiter}
	require.NoError(t, ok.Validate())
	require.Equal(t, "till", ok.Staff)
	withStaff := Spec{Venue: "demo", Name: "till", Role: order.RoleKitchen, Staff: "Kim"}
	require.NoError(t, withStaff.Validate())
	require.Equal(t, "Kim", withStaff.Staff)
	for _, r := range Roles {
		s := Spec{Venue: "demo", Name: "x", Role: r}
		require.NoError(t, s.Validate(), r)
	}
	long := strings.Repeat("é", MaxNameLen)
	s := Spec{Venue: "demo", Name: long, Role: order.RoleWaiter}
	require.NoError(t, s.Validate(), "the bound counts characters, not bytes")

	for _, c := range []struct {
		spec  Spec
		field string
	}{
		{Spec{Name: "x", Role: order.RoleWaiter}, "venue"},
		{Spec{Venue: "demo", Name: "x"}, "role"},
		{Spec{Venue: "demo", Name: "x", Role: "chef"}, "role"},
		{Spec{Venue: "demo", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: long + "é", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: " x", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: "x ", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: "a\tb", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: "a\u0085b", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: "\xff", Role: order.RoleWaiter}, "name"},
		{Spec{Venue: "demo", Name: "x", Role: order.RoleWaiter, Staff: "\x1b[31m"}, "staff"},
	} {
		err := c.spec.Validate()
		var inv *InvalidError
		require.True(t, errors.As(err, &inv), "%+v: %v", c.spec, err)
		require.Equal(t, c.field, inv.Field, "%+v", c.spec)
	}
}
