package httpapi_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/httpapi"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
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
		before := apitest.Fingerprint(t, sm.s.DB)
		// The body is the fuzzer's bytes, sent as they are.
		req := apitest.Req{Method: "PATCH", Path: apitest.OrderPath(sm.id), Token: seed.TokenWaiter1, Body: sm.rewrite(body)}
		if asManager {
			req.Token = seed.TokenManager
		}
		if ifMatch != "" {
			req.Header = map[string]string{"If-Match": ifMatch}
		}
		r := sm.s.Do(t, req)
		require.NotZero(t, r.Status, "no response")
		require.Less(t, r.Status, 500, "%s", r.Body)
		if r.Status >= 400 {
			require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"))
			p := r.Problem(t)
			require.Equal(t, r.Status, p.Status, "%s", r.Body)
			require.NotEmpty(t, p.Detail, "%s", r.Body)
			require.Equal(t, before, apitest.Fingerprint(t, sm.s.DB), "a %d changed something", r.Status)
			return
		}
		require.Equal(t, 200, r.Status)
		if o := r.Order(t); o.Version != 5 {
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
	id  uuid.UUID
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

// build opens the next generation's sample on T1 at version 5, with the
// steps of FuzzPatchDecode's sample.
func (sm *httpSampler) build(tb testing.TB) {
	tb.Helper()
	line := func(letter string) uuid.UUID { return uuid.MustParse(sampleLine(sm.gen, letter)) }
	w, m := sm.s.As(tb, seed.TokenWaiter1), sm.s.As(tb, seed.TokenManager)
	o := w.Open("T1", 2)
	sm.id = o.ID
	for i, ops := range httpapi.SampleSteps(line("a"), line("b"), line("c"), line("d")) {
		c := w
		if i == 2 { // the comp and the void
			c = m
		}
		o = c.Patch(o.ID, o.Version, ops...)
	}
	require.EqualValues(tb, 5, o.Version)
}

// retire closes the current sample (o is its latest state), freeing its
// table, and moves on to the next generation.
func (sm *httpSampler) retire(tb testing.TB, o order.Order) {
	tb.Helper()
	if o.Status != order.StatusClosed {
		ops := []order.Op{apitest.Fire()}
		if due := o.Totals.DueCents; due > 0 {
			ops = append(ops, apitest.PayNoTip("cash", due))
		}
		ops = append(ops, apitest.Close())
		r := sm.s.As(tb, seed.TokenManager).SendPatch(sm.id, apitest.Patch{Force: true, Ops: ops})
		require.Equal(tb, 200, r.Status, "retire %s: %s", sm.id, r.Body)
	}
	sm.gen++
	require.Less(tb, sm.gen, 0x8000, "out of sample generations")
}
