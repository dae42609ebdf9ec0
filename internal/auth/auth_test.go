package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// fakeDirectory records the digests it is asked for.
type fakeDirectory struct {
	asked  [][]byte
	byHash map[string]Principal
	active bool
	err    error
}

func (f *fakeDirectory) PrincipalByTokenHash(_ context.Context, hash []byte) (Principal, error) {
	f.asked = append(f.asked, hash)
	if f.err != nil {
		return Principal{}, f.err
	}
	p, ok := f.byHash[string(hash)]
	if !ok {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

func (f *fakeDirectory) DeviceActive(context.Context, string, uuid.UUID) (bool, error) {
	return f.active, f.err
}

// TestHashToken: the stored digest is the token's SHA-256, nothing else.
func TestHashToken(t *testing.T) {
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex.EncodeToString(HashToken("")))
	want := sha256.Sum256([]byte("demo-waiter-1"))
	require.Equal(t, want[:], HashToken("demo-waiter-1"))
	require.NotEqual(t, HashToken("demo-waiter-1"), HashToken("demo-waiter-2"))
}

// TestAuthenticate: a token is looked up by its digest only; an empty or
// overlong one is refused without a lookup, and a lookup failure is not
// mistaken for a refusal.
func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	p := Principal{Venue: "demo", DeviceID: uuid.New(), Device: "waiter-1", Staff: "Alice", Role: order.RoleWaiter}
	dir := &fakeDirectory{byHash: map[string]Principal{string(HashToken("tok")): p}}
	a := NewAuthenticator(dir)

	got, err := a.Authenticate(ctx, "tok")
	require.NoError(t, err)
	require.Equal(t, p, got)
	require.Equal(t, [][]byte{HashToken("tok")}, dir.asked)

	for _, tok := range []string{"", strings.Repeat("x", MaxTokenLen+1)} {
		_, err := a.Authenticate(ctx, tok)
		require.ErrorIs(t, err, ErrUnauthenticated)
	}
	require.Len(t, dir.asked, 1, "refused without a lookup")
	_, err = a.Authenticate(ctx, strings.Repeat("x", MaxTokenLen))
	require.ErrorIs(t, err, ErrUnauthenticated)
	require.Len(t, dir.asked, 2)

	down := errors.New("postgres down")
	dir.err = down
	_, err = a.Authenticate(ctx, "tok")
	require.ErrorIs(t, err, down)
	require.NotErrorIs(t, err, ErrUnauthenticated)
	_, err = a.Active(ctx, p)
	require.ErrorIs(t, err, down)

	dir.err, dir.active = nil, true
	ok, err := a.Active(ctx, p)
	require.NoError(t, err)
	require.True(t, ok)
}

// TestPrincipal: the actor recorded in events, and role checks.
func TestPrincipal(t *testing.T) {
	p := Principal{Venue: "demo", Device: "manager", Staff: "Maria", Role: order.RoleManager}
	require.Equal(t, order.Actor{Device: "manager", Staff: "Maria", Role: order.RoleManager}, p.Actor())
	require.True(t, p.Is(order.RoleWaiter, order.RoleManager))
	require.False(t, p.Is(order.RoleKitchen))
	require.False(t, p.Is())
}
