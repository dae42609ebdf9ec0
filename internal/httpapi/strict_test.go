package httpapi_test

// Strict answers (issue 8): headers that must come once, request smuggling,
// canonical versions, bounded refusals, honest 503s and deadlines.
//
//   - TestStrictHeaders: duplicate If-Match, Authorization, Idempotency-Key
//     and Content-Type, Content-Length with chunked, non-canonical If-Match,
//     an empty Idempotency-Key, lone surrogates: 400/422 naming the field.
//   - TestStrictAcceptsBearerInAnyCase: the auth scheme is case-insensitive.
//   - TestIdempotencyFingerprintCoversIfMatch: one key, another If-Match, 422.
//   - TestBoundedConflictChanges: a stale PATCH on a long history answers
//     the newest MaxConflictChanges events, changes_truncated and changes_url.
//   - TestMoveTableOccupiedNamesBoth: current is the addressed order,
//     occupied_by the other one.
//   - TestFutureVersionIsNoColleagueConflict: refused, not counted.
//   - TestShiftYearsOutsideRange: 400 naming the field, never 500.
//   - TestEdgeErrorsCarryRequestID: 413, 405, 431 carry request_id.
//   - TestOversizedBodyAnswered413: no Expect: 100-continue, many times.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// rawExchange sends head (a whole request as bytes on the wire) on a new
// connection and reads one response. The write runs on its own goroutine:
// the server may answer before it has read everything.
func rawExchange(t *testing.T, baseURL, head string) apitest.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	require.NoError(t, err)
	defer c.Close()
	go func() { _, _ = io.WriteString(c, head) }()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(30*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return apitest.Response{Status: resp.StatusCode, Header: resp.Header, Body: body}
}

// rawPatch is a PATCH of path with body and the given header lines, sent
// as is (a Content-Length is added unless a line sets one or chunked).
func rawPatch(path, body string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "PATCH %s HTTP/1.1\r\nHost: posd\r\n", path)
	framed := false
	for _, l := range lines {
		b.WriteString(l + "\r\n")
		ll := strings.ToLower(l)
		framed = framed || strings.HasPrefix(ll, "content-length:") || strings.HasPrefix(ll, "transfer-encoding:")
	}
	if !framed {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

func TestStrictHeaders(t *testing.T) {
	f := start(t)
	path := apitest.OrderPath(f.Open("T1").ID)
	body := `{"ops":[{"op":"set_note","note":"x"}]}`
	auth := "Authorization: Bearer " + seed.TokenWaiter1
	ct := "Content-Type: application/json"
	chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
	before := f.Fingerprint()
	cases := []struct {
		name   string
		req    string
		status int
		kind   string
		field  string
	}{
		{"two If-Match", rawPatch(path, body, auth, ct, `If-Match: "1"`, `If-Match: "1"`), 400, "bad-request", "If-Match"},
		{"two If-Match differing", rawPatch(path, body, auth, ct, `If-Match: "9"`, `if-match: "1"`), 400, "bad-request", "If-Match"},
		{"two Authorization", rawPatch(path, body, auth, "Authorization: Bearer "+seed.TokenManager, ct, `If-Match: "1"`), 400, "bad-request", "Authorization"},
		{"two Idempotency-Key", rawPatch(path, body, auth, ct, `If-Match: "1"`, "Idempotency-Key: a", "Idempotency-Key: b"), 400, "bad-request", "Idempotency-Key"},
		{"two Content-Type", rawPatch(path, body, auth, ct, "Content-Type: text/plain", `If-Match: "1"`), 400, "bad-request", "Content-Type"},
		{"Content-Length with chunked", rawPatch(path, chunked, auth, ct, `If-Match: "1"`,
			fmt.Sprintf("Content-Length: %d", len(chunked)), "Transfer-Encoding: chunked"), 400, "bad-request", "Transfer-Encoding"},
		{"two Content-Length", rawPatch(path, body, auth, ct, `If-Match: "1"`,
			fmt.Sprintf("Content-Length: %d", len(body)), fmt.Sprintf("Content-Length: %d", len(body))), 400, "bad-request", "Content-Length"},
		{`If-Match "02"`, rawPatch(path, body, auth, ct, `If-Match: "02"`), 400, "bad-request", "If-Match"},
		{`If-Match "+1"`, rawPatch(path, body, auth, ct, `If-Match: "+1"`), 400, "bad-request", "If-Match"},
		{`If-Match " 1"`, rawPatch(path, body, auth, ct, `If-Match: " 1"`), 400, "bad-request", "If-Match"},
		{"empty Idempotency-Key", rawPatch(path, body, auth, ct, `If-Match: "1"`, "Idempotency-Key: "), 400, "bad-request", "Idempotency-Key"},
		{"lone high surrogate", rawPatch(path, `{"ops":[{"op":"set_note","note":"a\ud800b"}]}`, auth, ct, `If-Match: "1"`), 422, "validation-failed", "note"},
		{"lone low surrogate", rawPatch(path, `{"ops":[{"op":"set_note","note":"\udc00"}]}`, auth, ct, `If-Match: "1"`), 422, "validation-failed", "note"},
		{"high surrogate then a letter escape", rawPatch(path, `{"ops":[{"op":"set_note","note":"\ud800\u0041"}]}`, auth, ct, `If-Match: "1"`), 422, "validation-failed", "note"},
		{"surrogate in a key", rawPatch(path, `{"ops":[{"op":"set_note","note":"x","\ud83d":1}]}`, auth, ct, `If-Match: "1"`), 422, "validation-failed", "[\"\ufffd\"]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawExchange(t, f.BaseURL, c.req)
			p := apitest.RequireProblem(t, r, c.status, c.kind)
			require.NotEmpty(t, p.Errors, "problem %+v", p)
			require.Equal(t, c.field, p.Errors[0].Field, "problem %+v", p)
			require.NotEmpty(t, p.RequestID)
		})
	}
	require.Equal(t, before, f.Fingerprint(), "a refused request changed something")
	require.NotContains(t, f.LogText(), `"level":"error"`)

	// A paired surrogate is a character like any other.
	r := rawExchange(t, f.BaseURL, rawPatch(path, `{"ops":[{"op":"set_note","note":"\ud83d\ude00"}]}`, auth, ct, `If-Match: "1"`))
	require.Equal(t, 200, r.Status, string(r.Body))
	require.Equal(t, "😀", r.Order(t).Note)
}

func TestStrictAcceptsBearerInAnyCase(t *testing.T) {
	f := start(t)
	for _, scheme := range []string{"bearer", "BEARER", "bEaReR"} {
		r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/menu", Header: map[string]string{"Authorization": scheme + " " + seed.TokenWaiter1}})
		require.Equal(t, 200, r.Status, "%s: %s", scheme, r.Body)
	}
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/menu", Header: map[string]string{"Authorization": "Bearer" + seed.TokenWaiter1}}), 401, "unauthorized")
	apitest.RequireProblem(t, f.Do(t, apitest.Req{Method: "GET", Path: "/v1/menu", Header: map[string]string{"Authorization": "Bearerx " + seed.TokenWaiter1}}), 401, "unauthorized")
}

func TestIdempotencyFingerprintCoversIfMatch(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	patch := func(ifMatch string) apitest.Response {
		return f.Waiter.SendPatch(id, apitest.Patch{Ops: []order.Op{apitest.SetNote("x")}},
			map[string]string{"If-Match": ifMatch, "Idempotency-Key": "k-1"})
	}
	require.Equal(t, 200, patch(`"1"`).Status)
	r := patch(`"1"`)
	require.Equal(t, 200, r.Status)
	require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
	// The same body against another version is another request.
	apitest.RequireFieldProblem(t, patch(`"2"`), 422, "idempotency-key-reused", apitest.TopLevel, "Idempotency-Key")
}

// TestBoundedConflictChanges: a stale write on an order with a long history
// gets the newest MaxConflictChanges events, says so, and says where the
// rest are; the body stays small however long the history is.
func TestBoundedConflictChanges(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	const patches = httpapi.MaxConflictChanges + 30
	// Each event carries 100 notes of 280 characters (~30 KB).
	for v := 1; v <= patches; v++ {
		ops := make([]order.Op, 100)
		for i := range ops {
			ops[i] = apitest.SetNote(strings.Repeat(string(rune('a'+(v+i)%26)), 280))
		}
		f.Waiter.Patch(id, int64(v), ops...)
	}
	current := int64(patches + 1)
	for _, hdr := range []map[string]string{nil, {"If-Match": `"1"`}} {
		body := apitest.Patch{ExpectedVersion: 1, Ops: []order.Op{apitest.SetGuests(5)}}
		status := 409
		if hdr != nil {
			body.ExpectedVersion, status = 0, 412
		}
		r := f.Waiter2.SendPatch(id, body, hdr)
		p := apitest.RequireProblem(t, r, status, "version-conflict")
		t.Logf("refusal body: %d bytes for %d events since the client's version", len(r.Body), current-1)
		require.Less(t, len(r.Body), httpapi.MaxConflictChangesBytes+64<<10, "refusal body not bounded")
		require.NotNil(t, p.Changes, "%s", r.Body)
		changes := *p.Changes
		require.Greater(t, len(changes), 0)
		require.LessOrEqual(t, len(changes), httpapi.MaxConflictChanges)
		require.NotNil(t, p.ChangesTruncated, "%s", r.Body)
		require.True(t, *p.ChangesTruncated)
		// The newest events, oldest first, ending at the current version.
		require.Equal(t, current, changes[len(changes)-1].Version)
		require.Equal(t, current-int64(len(changes))+1, changes[0].Version)
		// changes_url gives the ones left out.
		require.Equal(t, fmt.Sprintf("/v1/orders/%s/events?after_version=1", id), p.ChangesURL)
		var page apitest.EventPage
		f.Waiter.Get(p.ChangesURL).JSON(t, &page)
		require.Len(t, page.Events, int(current-1))
	}

	// A short history is whole and says so.
	b := f.Open("T2").ID
	f.Waiter.Patch(b, 1, apitest.SetGuests(3))
	r := f.Waiter2.TryPatch(b, 1, apitest.SetGuests(4))
	p := apitest.RequireProblem(t, r, 409, "version-conflict")
	require.NotNil(t, p.Changes, "%s", r.Body)
	require.Len(t, *p.Changes, 1)
	require.NotNil(t, p.ChangesTruncated, "%s", r.Body)
	require.False(t, *p.ChangesTruncated)
	require.NotContains(t, r.Map(t), "changes_url")
}

func TestMoveTableOccupiedNamesBoth(t *testing.T) {
	f := start(t)
	a := f.Open("T1").ID
	b := f.Open("T2").ID
	before := f.Fingerprint()
	r := f.Waiter.TryPatch(a, 1, apitest.Move("T2"))
	p := apitest.RequireProblem(t, r, 409, "table-occupied")
	require.NotNil(t, p.Current, "%s", r.Body)
	require.Equal(t, a, p.Current.ID, "current must be the order the request addressed")
	require.Equal(t, "T1", p.Current.Table)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	require.NotNil(t, p.OccupiedBy, "%s", r.Body)
	require.Equal(t, b.String(), *p.OccupiedBy)
	require.Equal(t, before, f.Fingerprint())

	// Opening an occupied table: current is the order on it, named again.
	r = f.Waiter.TryOpen("T2", 2)
	p = apitest.RequireProblem(t, r, 409, "table-occupied")
	require.NotNil(t, p.Current, "%s", r.Body)
	require.Equal(t, b, p.Current.ID)
	require.NotNil(t, p.OccupiedBy, "%s", r.Body)
	require.Equal(t, b.String(), *p.OccupiedBy)
}

// TestFutureVersionIsNoColleagueConflict: a write against a version the order
// never had is a client bug: refused like any stale write, but not counted
// as a conflict between colleagues in the shift report.
func TestFutureVersionIsNoColleagueConflict(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID
	r := f.Waiter.TryPatch(id, 7, apitest.SetGuests(3))
	p := apitest.RequireProblem(t, r, 409, "version-conflict")
	require.NotNil(t, p.CurrentVersion, "%s", r.Body)
	require.Equal(t, int64(1), *p.CurrentVersion)
	require.NotNil(t, p.Changes, "changes is a list, never null or absent: %s", r.Body)
	require.Empty(t, *p.Changes)
	require.EqualValues(t, 0, f.DB.Count(t, "SELECT count(*) FROM order_conflicts"))
	metrics := string(f.Do(t, apitest.Req{Method: "GET", Path: "/metrics"}).Body)
	require.NotContains(t, metrics, `posd_order_conflicts_total{kind="version-conflict"}`)
	require.Contains(t, metrics, `posd_order_conflicts_total{kind="future-version"} 1`)

	// A real stale write still counts.
	f.Waiter.Patch(id, 1, apitest.SetGuests(3))
	apitest.RequireProblem(t, f.Waiter2.TryPatch(id, 1, apitest.SetGuests(4)), 409, "version-conflict")
	require.EqualValues(t, 1, f.DB.Count(t, "SELECT count(*) FROM order_conflicts"))
}

func TestShiftYearsOutsideRange(t *testing.T) {
	f := start(t)
	cases := []struct{ name, query, field string }{
		{"to in year 10000 in UTC", "from=9999-12-31T00:00:00Z&to=9999-12-31T23:30:00-01:00", "to"},
		{"from before year 0 in UTC", "from=0000-01-01T00:00:00%2B01:00&to=0000-01-02T00:00:00Z", "from"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			apitest.RequireFieldProblem(t, f.Manager.Get("/v1/audit/shift?"+c.query), 400, "bad-request", apitest.TopLevel, c.field)
		})
	}
	// The edges themselves are fine.
	r := f.Manager.Get("/v1/audit/shift?from=9999-12-31T00:00:00Z&to=9999-12-31T23:59:59Z")
	require.Equal(t, 200, r.Status, string(r.Body))
	require.NotContains(t, f.LogText(), `"level":"error"`)
}

func TestEdgeErrorsCarryRequestID(t *testing.T) {
	f := start(t)
	big := strings.Repeat(" ", 70<<10)
	cases := []struct {
		name   string
		req    string
		status int
		kind   string
	}{
		{"413", rawPatch("/v1/orders/"+uuid.NewString(), big, "Authorization: Bearer "+seed.TokenWaiter1, "Content-Type: application/json"), 413, "payload-too-large"},
		{"405 unknown method", "BREW /v1/orders HTTP/1.1\r\nHost: posd\r\n\r\n", 405, "method-not-allowed"},
		{"405", "DELETE /v1/menu HTTP/1.1\r\nHost: posd\r\nAuthorization: Bearer " + seed.TokenWaiter1 + "\r\n\r\n", 405, "method-not-allowed"},
		{"431", "GET /v1/menu HTTP/1.1\r\nHost: posd\r\nX-Big: " + strings.Repeat("a", 64<<10) + "\r\n\r\n", 431, "headers-too-large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rawExchange(t, f.BaseURL, c.req)
			p := apitest.RequireProblem(t, r, c.status, c.kind)
			rid := r.Header.Get("X-Request-Id")
			require.NotEmpty(t, rid)
			require.Equal(t, rid, p.RequestID)
		})
	}
}

// TestOversizedBodyAnswered413: a client that sends a body over 64 KiB
// without waiting for 100-continue reads the 413, not a reset connection.
func TestOversizedBodyAnswered413(t *testing.T) {
	f := start(t)
	for i := 0; i < 30; i++ {
		for _, size := range []int{70 << 10, 900 << 10} {
			r := f.Do(t, apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1,
				Body: `{"table":"` + strings.Repeat("x", size) + `","guests":2}`})
			apitest.RequireProblem(t, r, 413, "payload-too-large")
		}
	}
}
