package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/seed"
)

// addDevice runs "posd device add" and returns the token from the last line
// of its output, checking that the token appears nowhere else.
func addDevice(t *testing.T, dbURL string, args ...string) string {
	t.Helper()
	out, errOut, code := runPosd(t, dbURL, append([]string{"device", "add"}, args...)...)
	require.Zero(t, code, out+errOut)
	require.True(t, strings.HasSuffix(out, "\n"), "output ends with a newline: %q", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	token := lines[len(lines)-1]
	require.True(t, strings.HasPrefix(token, "posd_"), "last line %q is not a token", token)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, "posd_"))
	require.NoError(t, err, "the token is URL-safe base64: %q", token)
	require.Len(t, raw, 32, "256 bits of entropy")
	require.Equal(t, 1, strings.Count(out, token), "the token is printed once")
	require.NotContains(t, strings.Join(lines[:len(lines)-1], "\n"), "posd_", "only the last line carries a token")
	require.NotContains(t, errOut, token)
	return token
}

// requireNoTokenMaterial checks that out shows neither a token nor its
// digest in any usual encoding.
func requireNoTokenMaterial(t *testing.T, out string, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		sum := auth.HashToken(tok)
		for _, s := range []string{tok, strings.TrimPrefix(tok, "posd_"), hex.EncodeToString(sum), strings.ToUpper(hex.EncodeToString(sum)),
			`\x` + hex.EncodeToString(sum), base64.StdEncoding.EncodeToString(sum), base64.RawURLEncoding.EncodeToString(sum)} {
			require.NotContains(t, out, s)
		}
	}
	require.NotContains(t, out, "posd_")
	require.NotContains(t, out, "token")
}

// menuStatus is the status of GET /v1/menu with token.
func menuStatus(t *testing.T, s *apitest.Stack, token string) int {
	t.Helper()
	return s.Do(t, apitest.Req{Method: "GET", Path: "/v1/menu", Token: token}).Status
}

type listedDevice struct {
	ID        string     `json:"id"`
	Venue     string     `json:"venue"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	Staff     string     `json:"staff"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func listDevices(t *testing.T, dbURL, venue string) (raw string, ds []listedDevice) {
	t.Helper()
	out, errOut, code := runPosd(t, dbURL, "device", "list", "--venue", venue, "--json")
	require.Zero(t, code, out+errOut)
	var body struct {
		Venue   string         `json:"venue"`
		Devices []listedDevice `json:"devices"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &body), out)
	require.Equal(t, venue, body.Venue)
	return out, body.Devices
}

func findDevices(ds []listedDevice, name string) []listedDevice {
	var out []listedDevice
	for _, d := range ds {
		if d.Name == name {
			out = append(out, d)
		}
	}
	return out
}

// TestDeviceCLI drives "posd device add|list|revoke" against a running API:
// a new token works at once and records its staff member, only its SHA-256
// is stored, list never shows token material, revoke refuses the very next
// request, and a revoked name can be given to a replacement.
func TestDeviceCLI(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	url := s.DB.AdminURL

	token := addDevice(t, url, "--venue", "demo", "--role", "waiter", "--name", "handheld-7", "--staff", "Eve")
	require.Equal(t, 200, menuStatus(t, s, token))
	require.Equal(t, "Eve", s.As(t, token).Open("T7", 2).Server)
	require.Equal(t, 403, s.Do(t, apitest.Req{Method: "GET", Path: "/v1/audit/verify", Token: token}).Status, "a waiter is a waiter")

	// Only the digest is stored; no column holds the token in clear.
	var stored []byte
	require.NoError(t, s.DB.Admin.QueryRow(context.Background(),
		"SELECT token_hash FROM devices WHERE venue_id = 'demo' AND name = 'handheld-7'").Scan(&stored))
	require.Equal(t, auth.HashToken(token), stored)
	require.Zero(t, s.DB.Count(t, "SELECT count(*) FROM devices d WHERE strpos(d::text, $1) > 0", strings.TrimPrefix(token, "posd_")))

	// --staff defaults to the name; every token is different.
	kds := addDevice(t, url, "--venue", "demo", "--role", "kitchen", "--name", "pass screen")
	require.NotEqual(t, token, kds)
	s.As(t, kds).Tickets("grill")

	// list, as a table and as JSON, with the owner's and with posd's own role.
	out, errOut, code := runPosd(t, url, "device", "list", "--venue", "demo")
	require.Zero(t, code, errOut)
	requireNoTokenMaterial(t, out+errOut, token, kds)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, []string{"NAME", "ROLE", "STAFF", "CREATED", "REVOKED"}, strings.Fields(lines[0]))
	var rows []string
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		_, err := time.Parse(time.RFC3339, f[len(f)-2])
		require.NoError(t, err, "created: %s", l)
		rows = append(rows, strings.Join(append(f[:len(f)-2:len(f)-2], f[len(f)-1]), " "))
	}
	require.Contains(t, rows, "handheld-7 waiter Eve -")
	require.Contains(t, rows, "pass screen kitchen pass screen -")
	require.Contains(t, rows, "waiter-1 waiter Alice -")
	require.Len(t, rows, 9, "7 demo devices and the 2 new ones")
	for _, u := range []string{url, s.DB.AppURL} {
		raw, ds := listDevices(t, u, "demo")
		requireNoTokenMaterial(t, raw, token, kds)
		require.Len(t, ds, 9)
		got := findDevices(ds, "handheld-7")
		require.Len(t, got, 1)
		require.Equal(t, "waiter", got[0].Role)
		require.Equal(t, "Eve", got[0].Staff)
		require.Equal(t, "demo", got[0].Venue)
		require.Nil(t, got[0].RevokedAt)
		require.WithinDuration(t, time.Now(), got[0].CreatedAt, time.Minute)
		for _, d := range ds {
			require.Equal(t, "demo", d.Venue)
			require.NotEqual(t, "Zoe", d.Staff, "demo2's device is not listed for demo")
		}
	}
	_, ds := listDevices(t, url, "demo2")
	require.Len(t, ds, 1)

	// A kitchen screen's open stream ends when the device is revoked.
	stream := openStream(t, s, kds)

	// revoke: the very next request is refused.
	out, errOut, code = runPosd(t, url, "device", "revoke", "--venue", "demo", "--name", "handheld-7")
	require.Zero(t, code, out+errOut)
	require.Contains(t, out, `revoked device "handheld-7" of venue demo`)
	requireNoTokenMaterial(t, out+errOut, token)
	require.Equal(t, 401, menuStatus(t, s, token))
	require.Equal(t, 401, s.As(t, token).TryOpen("T8", 2).Status)
	require.Zero(t, s.DB.Count(t, "SELECT count(*) FROM orders WHERE table_id = 'T8'"))
	require.Equal(t, 200, menuStatus(t, s, kds), "other devices are untouched")

	_, _, code = runPosd(t, url, "device", "revoke", "--venue", "demo", "--name", "pass screen")
	require.Zero(t, code)
	require.Equal(t, 401, menuStatus(t, s, kds))
	stream.requireEnds(t, 30*time.Second)
	require.Equal(t, 401, streamStatus(t, s, kds))

	// Revoked devices stay listed, with the time.
	_, ds = listDevices(t, url, "demo")
	got := findDevices(ds, "handheld-7")
	require.Len(t, got, 1)
	require.NotNil(t, got[0].RevokedAt)
	require.WithinDuration(t, time.Now(), *got[0].RevokedAt, time.Minute)
	out, _, _ = runPosd(t, url, "device", "list", "--venue", "demo")
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "handheld-7 ") {
			f := strings.Fields(l)
			_, err := time.Parse(time.RFC3339, f[len(f)-1])
			require.NoError(t, err, "revoked column: %s", l)
		}
	}

	// Revoking again, or what never existed, is an error.
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--venue", "demo", "--name", "handheld-7"}, `device "handheld-7" of venue demo was already revoked at `},
		{[]string{"--venue", "demo", "--name", "handheld-8"}, `no such device named "handheld-8" in venue demo`},
		{[]string{"--venue", "nowhere", "--name", "handheld-7"}, `no such venue: "nowhere"`},
		{[]string{"--venue", "demo2", "--name", "handheld-7"}, `no such device named "handheld-7" in venue demo2`},
		{[]string{"--venue", "demo"}, "--name is required"},
		{[]string{"--name", "handheld-7"}, "--venue is required"},
	} {
		out, errOut, code := runPosd(t, url, append([]string{"device", "revoke"}, c.args...)...)
		require.Equal(t, 1, code, "%v: %s%s", c.args, out, errOut)
		require.Contains(t, errOut, c.msg, "%v", c.args)
		require.Empty(t, out)
	}

	// The name is free again: a replacement gets a new token, the old one
	// stays refused, and both rows are listed.
	token2 := addDevice(t, url, "--venue", "demo", "--role", "manager", "--name", "handheld-7", "--staff", "Eve")
	require.Equal(t, 200, menuStatus(t, s, token2))
	require.Equal(t, 401, menuStatus(t, s, token))
	require.Equal(t, 200, s.Do(t, apitest.Req{Method: "GET", Path: "/v1/audit/verify", Token: token2}).Status)
	raw, ds := listDevices(t, url, "demo")
	requireNoTokenMaterial(t, raw, token, token2, kds)
	got = findDevices(ds, "handheld-7")
	require.Len(t, got, 2)
	require.NotNil(t, got[0].RevokedAt)
	require.Equal(t, "waiter", got[0].Role)
	require.Nil(t, got[1].RevokedAt)
	require.Equal(t, "manager", got[1].Role)
}

// TestDeviceAddRefusals: bad input, an unknown venue, a duplicate active name
// and posd's own database role all exit 1 with a message, print no token and
// write nothing.
func TestDeviceAddRefusals(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	url := s.DB.AdminURL
	addDevice(t, url, "--venue", "demo", "--role", "auditor", "--name", "back office")
	devices := func() int64 { return s.DB.Count(t, "SELECT count(*) FROM devices") }
	before := devices()

	add := func(args ...string) []string { return append([]string{"device", "add"}, args...) }
	for _, c := range []struct {
		url  string
		args []string
		msg  string
	}{
		{url, add("--venue", "demo", "--role", "chef", "--name", "x"), `--role must be one of waiter, manager, kitchen, auditor; got "chef"`},
		{url, add("--venue", "demo", "--name", "x"), "--role is required (one of waiter, manager, kitchen, auditor)"},
		{url, add("--venue", "nowhere", "--role", "waiter", "--name", "x"), `no such venue: "nowhere"`},
		{url, add("--role", "waiter", "--name", "x"), "--venue is required"},
		{url, add("--venue", "demo", "--role", "waiter"), "--name is required"},
		{url, add("--venue", "demo", "--role", "waiter", "--name", strings.Repeat("n", 65)), "--name must be at most 64 characters; got 65"},
		{url, add("--venue", "demo", "--role", "waiter", "--name", " padded"), "--name must not begin or end with spaces"},
		{url, add("--venue", "demo", "--role", "waiter", "--name", "tab\there"), "--name must not contain control characters"},
		{url, add("--venue", "demo", "--role", "waiter", "--name", "x", "--staff", strings.Repeat("s", 65)), "--staff must be at most 64"},
		{url, add("--venue", "demo", "--role", "waiter", "--name", "x", "extra"), `unexpected argument "extra"`},
		{url, add("--venue", "demo", "--role", "waiter", "--name", "back office"),
			`venue demo already has an active device named "back office"; revoke it first with "posd device revoke --venue demo --name back office"`},
		{url, add("--venue", "demo", "--role", "waiter", "--name", "waiter-1"), `active device named "waiter-1"`},
		{s.DB.AppURL, add("--venue", "demo", "--role", "waiter", "--name", "x"), "use the table owner's DATABASE_URL"},
		{"", add("--venue", "demo", "--role", "waiter", "--name", "x"), "DATABASE_URL (or --database-url) is required"},
		{"", []string{"device", "list", "--venue", "demo"}, "DATABASE_URL (or --database-url) is required"},
		{url, []string{"device", "list", "--venue", "nowhere"}, `no such venue: "nowhere"`},
		{url, []string{"device", "list"}, "--venue is required"},
		{s.DB.AppURL, []string{"device", "revoke", "--venue", "demo", "--name", "back office"}, "use the table owner's DATABASE_URL"},
		{url, []string{"device"}, "device needs a subcommand"},
		{url, []string{"device", "rotate"}, `unknown device subcommand "rotate"`},
	} {
		out, errOut, code := runPosd(t, c.url, c.args...)
		require.Equal(t, 1, code, "%v: %s%s", c.args, out, errOut)
		require.Contains(t, errOut, c.msg, "%v", c.args)
		require.NotContains(t, out+errOut, "posd_", "%v printed a token", c.args)
		require.Equal(t, before, devices(), "%v wrote a device", c.args)
	}
	// The refused duplicate did not replace the first device.
	_, ds := listDevices(t, url, "demo")
	got := findDevices(ds, "back office")
	require.Len(t, got, 1)
	require.Equal(t, "auditor", got[0].Role)

	// Flags also come from the command line instead of the environment.
	out, errOut, code := runPosd(t, "", "device", "list", "--venue", "demo", "--database-url", url)
	require.Zero(t, code, out+errOut)
	require.Contains(t, out, "back office")
}

// TestDeviceSeedKeepsRevocation: seeding again (as every "posd dev" start
// does) neither brings back a revoked demo device nor clashes with the
// device that took its name.
func TestDeviceSeedKeepsRevocation(t *testing.T) {
	t.Parallel()
	s := apitest.Start(t)
	url := s.DB.AdminURL
	_, _, code := runPosd(t, url, "device", "revoke", "--venue", "demo", "--name", "waiter-4")
	require.Zero(t, code)
	token := addDevice(t, url, "--venue", "demo", "--role", "waiter", "--name", "waiter-4", "--staff", "Dmitri")
	out, errOut, code := runPosd(t, url, "seed", "--demo")
	require.Zero(t, code, out+errOut)
	require.Equal(t, 401, menuStatus(t, s, seed.TokenWaiter4))
	require.Equal(t, 200, menuStatus(t, s, token))
	require.Equal(t, 200, menuStatus(t, s, seed.TokenWaiter3))
}

func TestDeviceHelp(t *testing.T) {
	for _, sub := range []string{"add", "list", "revoke"} {
		out, err := posdCombined("device", sub, "--help")
		require.NoError(t, err, string(out))
		require.Contains(t, string(out), "Usage: posd device "+sub)
		for _, flag := range []string{"-database-url", "DATABASE_URL", "-venue"} {
			require.Contains(t, string(out), flag)
		}
	}
	out, _ := posdCombined("device", "add", "--help")
	for _, flag := range []string{"-role", "-name", "-staff", "waiter, manager, kitchen or auditor", "last", "only this once"} {
		require.Contains(t, string(out), flag)
	}
	out, err := posdCombined("device", "--help")
	require.NoError(t, err)
	for _, sub := range []string{"add", "list", "revoke"} {
		require.Contains(t, string(out), "  "+sub+" ")
	}
	out, err = posdCombined("--help")
	require.NoError(t, err)
	require.Contains(t, string(out), "device")
}

// sseConn is an open kitchen stream.
type sseConn struct {
	resp *http.Response
	done chan error
}

func openStream(t *testing.T, s *apitest.Stack, token string) *sseConn {
	t.Helper()
	req, err := http.NewRequest("GET", s.BaseURL+"/v1/kitchen/stream?station=grill", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, 200, resp.StatusCode)
	c := &sseConn{resp: resp, done: make(chan error, 1)}
	go func() {
		_, err := io.Copy(io.Discard, bufio.NewReader(resp.Body))
		c.done <- err
	}()
	return c
}

// requireEnds waits for the server to end the stream.
func (c *sseConn) requireEnds(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(limit):
		t.Fatalf("the stream of a revoked device is still open after %s", limit)
	}
}

func streamStatus(t *testing.T, s *apitest.Stack, token string) int {
	t.Helper()
	r := s.Do(t, apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill", Token: token})
	return r.Status
}
