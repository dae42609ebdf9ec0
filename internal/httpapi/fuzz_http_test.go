package httpapi_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
)

// FuzzPatchHTTP is FuzzPatchDecode end to end: fuzzed PATCH bodies, If-Match
// headers and roles go to the real server over TCP, against an order in
// the same state as FuzzPatchDecode's sample, so the same seeds reach the
// same code. It checks invariant 7 where FuzzPatchDecode cannot: Postgres
// and the store see what validation lets through. Never a 5xx; every 4xx
// is a problem body and leaves orders, events, lines and payments as they
// were. After a write that changed the order it builds a fresh sample.
//
// Seeds: testdata/fuzz/FuzzPatchDecode (and testdata/fuzz/FuzzPatchHTTP if
// the fuzzer adds any).
func FuzzPatchHTTP(f *testing.F) {
	addDecodeSeeds(f)
	sm := &httpSampler{s: apitest.Start(f)}
	sm.build(f)
	f.Fuzz(func(t *testing.T, body []byte, ifMatch string, asManager bool) {
		if !validHeaderValue(ifMatch) {
			t.Skip("net/http cannot send this If-Match")
		}
		fx := fixture{Stack: sm.s, t: t}
		before := fx.state()
		req := apitest.Req{Method: "PATCH", Path: "/v1/orders/" + sm.id, Token: waiter, Body: sm.rewrite(body)}
		if asManager {
			req.Token = manager
		}
		if ifMatch != "" {
			req.Header = map[string]string{"If-Match": ifMatch}
		}
		r := sm.s.Do(t, req)
		require.NotZero(t, r.Status, "no response")
		require.Less(t, r.Status, 500, "%s", r.Body)
		if r.Status >= 400 {
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			p := r.Map(t)
			require.EqualValues(t, r.Status, p["status"])
			require.NotEmpty(t, p["detail"])
			require.Equal(t, before, fx.state(), "a %d changed something", r.Status)
			return
		}
		require.Equal(t, 200, r.Status)
		if o := r.Map(t); o["version"] != float64(5) {
			sm.retire(t, o)
			sm.build(t)
		}
	})
}

func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// addDecodeSeeds adds FuzzPatchDecode's seed corpus to f.
func addDecodeSeeds(f *testing.F) {
	dir := filepath.Join("testdata", "fuzz", "FuzzPatchDecode")
	entries, err := os.ReadDir(dir)
	require.NoError(f, err)
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(f, err)
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		require.Len(f, lines, 4, e.Name())
		body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
		require.NoError(f, err, e.Name())
		ifMatch, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "string("), ")"))
		require.NoError(f, err, e.Name())
		f.Add([]byte(body), ifMatch, lines[3] == "bool(true)")
	}
}

// httpSampler keeps an order in FuzzPatchDecode's sample state on T1.
// Line ids are unique per venue, so generation g of the sample uses the
// sample's line ids with 8000+g as their fourth group, and rewrite maps the
// ids in a request body onto the current generation.
type httpSampler struct {
	s   *apitest.Stack
	gen int
	id  string
}

// sampleLine is the id of the sample's line letter (a pending, b sent, c
// comped, d voided; anything else is free for add_item) in generation gen.
func sampleLine(gen int, letter string) string {
	return "0190b6a0-0000-7000-" + strconv.FormatInt(int64(0x8000+gen), 16) + "-00000000000" + letter
}

func (sm *httpSampler) rewrite(body []byte) []byte {
	if sm.gen == 0 {
		return body
	}
	return bytes.ReplaceAll(body, []byte("0190b6a0-0000-7000-8000-"), []byte(sampleLine(sm.gen, "")[:24]))
}

// build opens the next generation's sample on T1 at version 5.
func (sm *httpSampler) build(tb testing.TB) {
	tb.Helper()
	line := func(letter string) string { return sampleLine(sm.gen, letter) }
	o := sm.do(tb, "POST", waiter, "/v1/orders", map[string]any{"table": "T1", "guests": 2})
	sm.id = o["id"].(string)
	path := "/v1/orders/" + sm.id
	sm.do(tb, "PATCH", waiter, path, map[string]any{"expected_version": 1, "ops": []any{
		map[string]any{"op": "add_item", "sku": "steak", "line_id": line("a"), "qty": 2, "course": 1, "modifiers": []string{"no onions"}},
		map[string]any{"op": "add_item", "sku": "fries", "line_id": line("b"), "course": 2},
		map[string]any{"op": "add_item", "sku": "beer", "line_id": line("c"), "course": 2},
		map[string]any{"op": "add_item", "sku": "steak", "line_id": line("d"), "course": 2},
	}})
	sm.do(tb, "PATCH", waiter, path, map[string]any{"expected_version": 2, "ops": []any{map[string]any{"op": "send", "course": 2}}})
	sm.do(tb, "PATCH", manager, path, map[string]any{"expected_version": 3, "ops": []any{
		map[string]any{"op": "comp_item", "line_id": line("c"), "reason": "long wait"},
		map[string]any{"op": "void_item", "line_id": line("d"), "reason": "dropped"},
	}})
	o = sm.do(tb, "PATCH", waiter, path, map[string]any{"expected_version": 4, "ops": []any{
		map[string]any{"op": "add_payment", "tender": "card", "amount_cents": 500, "tip_cents": 100},
	}})
	require.EqualValues(tb, 5, o["version"])
}

// retire closes the current sample (o is its latest state), freeing its
// table, and moves on to the next generation.
func (sm *httpSampler) retire(tb testing.TB, o map[string]any) {
	tb.Helper()
	if o["status"] != "closed" {
		ops := []any{map[string]any{"op": "send"}}
		if due := o["totals"].(map[string]any)["due_cents"].(float64); due > 0 {
			ops = append(ops, map[string]any{"op": "add_payment", "tender": "cash", "amount_cents": int64(due)})
		}
		ops = append(ops, map[string]any{"op": "close"})
		sm.do(tb, "PATCH", manager, "/v1/orders/"+sm.id, map[string]any{"force": true, "ops": ops})
	}
	sm.gen++
	require.Less(tb, sm.gen, 0x8000, "out of sample generations")
}

func (sm *httpSampler) do(tb testing.TB, method, token, path string, body any) map[string]any {
	tb.Helper()
	r := sm.s.Do(tb, apitest.Req{Method: method, Path: path, Token: token, Body: body})
	require.Less(tb, r.Status, 300, "%s %s: %s", method, path, r.Body)
	return r.Map(tb)
}
