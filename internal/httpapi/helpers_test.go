package httpapi_test

// The tests of this package speak apitest's vocabulary: start(t) gives an
// apitest.Fixture with a typed client per demo device, apitest's op builders
// make the ops, apitest.RequireProblem and RequireField judge refusals, and
// apitest.Fingerprint says whether a refused request changed anything.
// Tests about malformed or hostile input send their bytes as they are
// (apitest.Req with a string or []byte body, or rawExchange on the wire),
// naming the demo tokens from package seed.

import (
	"testing"

	"github.com/posd/posd/internal/apitest"
)

// start runs a stack for a parallel test.
func start(t *testing.T, opts ...apitest.Options) *apitest.Fixture {
	t.Parallel()
	return apitest.NewFixture(t, opts...)
}
