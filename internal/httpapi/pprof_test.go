package httpapi_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
)

// TestPprofServesProfiles: with --pprof-addr posd serves Go's runtime
// profiles there (a CPU profile is a gzipped protobuf), and not on the API's
// address; without it, nothing listens for them.
func TestPprofServesProfiles(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t, apitest.Options{Pprof: true})
	addr := s.App.PprofAddr()
	require.NotEmpty(t, addr)
	get := func(url string) (int, []byte) {
		t.Helper()
		res, err := http.Get(url)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, b
	}
	code, body := get("http://" + addr + "/debug/pprof/")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), "goroutine")
	code, body = get("http://" + addr + "/debug/pprof/profile?seconds=1")
	require.Equal(t, 200, code)
	require.Greater(t, len(body), 2)
	require.Equal(t, []byte{0x1f, 0x8b}, body[:2], "a gzipped profile")

	code, _ = get(s.BaseURL + "/debug/pprof/")
	require.Equal(t, 404, code, "never on the API's address")
	require.Empty(t, apitest.Start(t, apitest.Options{}).App.PprofAddr())
}
