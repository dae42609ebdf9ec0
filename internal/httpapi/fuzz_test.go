package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/strictjson"
	"github.com/posd/posd/internal/strictjson/jsonref"
)

// FuzzPatchDecode feeds raw PATCH bodies (with an If-Match header and the
// device's role) through everything the server does with them before the
// database: readPatch (one JSON v2 decoding pass into the request and its
// ops, strictjson when that finds something wrong, the precondition,
// order.Validate) and, when that accepts, order.Plan on a
// fixed sample order. It checks invariant 7 and the write path's rules:
//
//   - nothing panics;
//   - the structural problems (syntax, duplicate keys, nesting, unknown
//     top-level fields, lone surrogates) are the ones a naive reference
//     checker (strictjson/jsonref) finds, at the same op_index and field;
//   - every refusal is an error the server's own table (toProblem) answers
//     with a 4xx problem that says what is wrong;
//   - an accepted request carries a precondition (or is forced by a
//     manager), 1 to 100 ops, and only text Postgres can store, and it
//     means the same to plain encoding/json (which takes the last of two
//     keys and matches names in any case): nothing accepted is ambiguous;
//   - Plan either refuses with a typed domain error (4xx) and leaves the
//     order alone, or changes nothing (same order, same version), or returns
//     version + 1 with totals that add up, and folding the sample's log plus
//     the applied ops (as stored, through JSON) gives exactly that order.
//
// The seed corpus is testdata/fuzz/FuzzPatchDecode; go test runs it.
func FuzzPatchDecode(f *testing.F) {
	sample, log := fuzzSample(f)
	at := fuzzAt.Add(time.Hour)
	f.Fuzz(func(t *testing.T, body []byte, ifMatch string, manager bool) {
		role := order.RoleWaiter
		if manager {
			role = order.RoleManager
		}
		in, err := readPatch(body, ifMatch, role)
		requireStructureAsReference(t, body, err)
		if err != nil {
			requireClientError(t, err)
			return
		}
		switch {
		case in.expected == nil:
			require.True(t, in.force && manager, "accepted without a precondition")
		default:
			require.GreaterOrEqual(t, *in.expected, int64(1))
		}
		require.NotEmpty(t, in.ops)
		require.LessOrEqual(t, len(in.ops), order.MaxOps)
		requireStorable(t, in.ops)
		requireSameToLenientParser(t, body, in)

		cur := sample.Clone()
		next, applied, err := order.Plan(cur, in.ops, at, fuzzEnv())
		require.Equal(t, sample, cur, "Plan modified its input")
		if err != nil {
			var ve *order.ValidationError
			var ce *order.ClosedError
			require.True(t, errors.As(err, &ve) || errors.As(err, &ce), "Plan: untyped error %v", err)
			requireClientError(t, err)
			return
		}
		if len(applied) == 0 {
			require.Equal(t, sample, next, "a PATCH that applies nothing changed the order")
			return
		}
		require.Equal(t, sample.Version+1, next.Version)
		requireStorable(t, applied)
		requireTotals(t, next)

		// The log stores applied ops as JSON; fold what it would hold.
		raw, err := json.Marshal(applied)
		require.NoError(t, err)
		var stored []order.Op
		require.NoError(t, json.Unmarshal(raw, &stored))
		ev := order.Event{OrderID: sample.ID, Venue: sample.Venue, Version: next.Version, Type: order.EventPatched,
			At: at, Actor: fuzzActor, Ops: stored}
		folded, err := order.Fold(append(append([]order.Event{}, log...), ev))
		require.NoError(t, err)
		require.Equal(t, next, folded, "folding the log does not give the planned order")
	})
}

// structureDetails are the details of the problems strictjson finds, by
// jsonref kind.
var structureDetails = map[string]string{jsonref.Duplicate: "duplicate key", jsonref.Depth: "nested deeper than",
	jsonref.Unknown: "unknown field", jsonref.Surrogate: "lone UTF-16 surrogate"}

// requireStructureAsReference compares readPatch's answer with the naive
// reference checker (strictjson/jsonref): a body that is not an object or
// not JSON is 400; otherwise the first duplicate key, excess nesting,
// unknown top-level field or lone surrogate the reference finds is the
// problem answered, at the same op_index and field; and when it finds
// none, no such problem is answered.
func requireStructureAsReference(t *testing.T, body []byte, err error) {
	t.Helper()
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
		require.Error(t, err)
		p, _ := toProblem(err)
		require.Equal(t, 400, p.Status, "%v", err)
		return
	}
	ref := jsonref.Of(body, strictjson.Options{MaxDepth: MaxJSONDepth, Fields: patchFields})
	var p Problem
	if err != nil {
		p, _ = toProblem(err)
	}
	switch ref.Kind {
	case jsonref.None:
		require.False(t, strings.HasPrefix(p.Detail, "malformed JSON") || strings.Contains(p.Detail, "not valid UTF-8"),
			"the reference finds no syntax error: %v", err)
		if len(p.Errors) > 0 {
			for _, d := range structureDetails {
				require.False(t, strings.HasPrefix(p.Errors[0].Detail, d), "the reference finds no such problem: %v", err)
			}
		}
	case jsonref.Syntax:
		require.Error(t, err, "the reference finds a syntax error")
		require.Equal(t, 400, p.Status, "%v", err)
	default:
		require.Error(t, err, "the reference finds %s at %s", ref.Kind, ref.Path)
		require.Equal(t, 422, p.Status, "%v", err)
		require.NotEmpty(t, p.Errors)
		want := order.FieldProblem{Field: ref.Path[0].Key} // the key as sent
		if ref.Kind != jsonref.Unknown {
			want = pathProblem(ref.Path, "")
		}
		got := p.Errors[0]
		require.Equal(t, want.OpIndex, got.OpIndex, "%v", err)
		require.Equal(t, want.Field, got.Field, "%v", err)
		require.True(t, strings.HasPrefix(got.Detail, structureDetails[ref.Kind]), "want %s: %v", ref.Kind, err)
	}
}

// requireClientError checks err is a client mistake as the server answers
// it: a 4xx problem with a title and detail, and, for 403 and 422, the
// fields at fault.
func requireClientError(t *testing.T, err error) {
	t.Helper()
	p, _ := toProblem(err)
	require.GreaterOrEqual(t, p.Status, 400, "%v", err)
	require.Less(t, p.Status, 500, "a client mistake answered %d: %v", p.Status, err)
	require.True(t, strings.HasPrefix(p.Type, ProblemBase), p.Type)
	require.NotEmpty(t, p.Title)
	require.NotEmpty(t, p.Detail)
	if p.Status == 403 || p.Status == 422 {
		require.NotEmpty(t, p.Errors, "%d without errors: %v", p.Status, err)
	}
	for _, e := range p.Errors {
		require.NotEmpty(t, e.Detail)
		if e.OpIndex != nil {
			require.GreaterOrEqual(t, *e.OpIndex, 0)
			require.Less(t, *e.OpIndex, order.MaxOps)
		}
	}
	_, err = json.Marshal(p)
	require.NoError(t, err)
}

// requireSameToLenientParser decodes an accepted body the lenient way,
// with plain json.Unmarshal into the request and order.Op structs, and
// checks it says the same thing.
func requireSameToLenientParser(t *testing.T, body []byte, in patchInput) {
	t.Helper()
	var req struct {
		ExpectedVersion *int64            `json:"expected_version"`
		Ops             []json.RawMessage `json:"ops"`
		Force           *bool             `json:"force"`
	}
	require.NoError(t, json.Unmarshal(body, &req))
	require.Equal(t, in.force, req.Force != nil && *req.Force)
	if !in.ifMatch {
		require.Equal(t, in.expected, req.ExpectedVersion)
	}
	ops := make([]order.Op, len(req.Ops))
	for i, raw := range req.Ops {
		require.NoError(t, json.Unmarshal(raw, &ops[i]))
	}
	require.Equal(t, in.ops, ops)
}

// requireStorable checks every string of ops is text Postgres can store in
// a text or jsonb column: valid UTF-8 without NUL.
func requireStorable(t *testing.T, ops []order.Op) {
	t.Helper()
	for i, op := range ops {
		texts := []string{op.Op, op.SKU, op.Name, op.Station, op.Reason, op.Table, op.Tender}
		texts = append(texts, op.Modifiers...)
		if op.Note != nil {
			texts = append(texts, *op.Note)
		}
		for _, s := range texts {
			require.True(t, utf8.ValidString(s), "op %d: invalid UTF-8 %q", i, s)
			require.NotContains(t, s, "\x00", "op %d: NUL in %q", i, s)
		}
	}
}

// requireTotals recomputes the totals from the lines and payments.
func requireTotals(t *testing.T, o order.Order) {
	t.Helper()
	var sub, paid int64
	for _, l := range o.Lines {
		require.GreaterOrEqual(t, l.Qty, order.MinQty)
		require.LessOrEqual(t, l.Qty, order.MaxQty)
		if l.Status != order.LineVoided && !l.Comped {
			sub += int64(l.Qty) * l.UnitPriceCents
		}
	}
	var tips int64
	for _, p := range o.Payments {
		paid += p.AmountCents
		tips += p.TipCents
	}
	tt := o.Totals
	require.Equal(t, sub, tt.SubtotalCents)
	require.Equal(t, paid, tt.PaidCents)
	require.Equal(t, tips, tt.TipCents)
	// The sample order has no pricing rules: no tax, no service charge.
	require.Zero(t, tt.TaxCents+tt.ServiceChargeCents)
	require.Equal(t, sub-tt.DiscountCents, tt.TotalCents)
	require.Equal(t, tt.TotalCents-paid, tt.DueCents)
	p, err := order.Price(o.PricingInput())
	require.NoError(t, err)
	require.Equal(t, p.Totals, tt)
}

// The sample order the fuzzer patches. Its lines have fixed ids that the
// seed corpus refers to, one in each state.
var (
	fuzzAt    = time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	fuzzActor = order.Actor{Device: "fuzz", Staff: "Fuzz", Role: order.RoleManager}
	fuzzMenu  = map[string]order.MenuItem{
		"steak": {SKU: "steak", Name: "Steak frites", PriceCents: 2400, Station: "grill"},
		"fries": {SKU: "fries", Name: "Fries", PriceCents: 500, Station: "fry"},
		"beer":  {SKU: "beer", Name: "Beer", PriceCents: 700, Station: "bar"},
	}
	fuzzTables = map[string]bool{"T1": true, "T2": true, "T3": true, "T4": true, "T5": true}
	// Lines of the sample: pending, sent, sent and comped, voided.
	fuzzPending = uuid.MustParse("0190b6a0-0000-7000-8000-00000000000a")
	fuzzSent    = uuid.MustParse("0190b6a0-0000-7000-8000-00000000000b")
	fuzzComped  = uuid.MustParse("0190b6a0-0000-7000-8000-00000000000c")
	fuzzVoided  = uuid.MustParse("0190b6a0-0000-7000-8000-00000000000d")
)

func fuzzEnv() order.Env {
	// Random ids, as the server's are: a counter would let the fuzzer name
	// the next generated id in line_id, a collision the real server cannot
	// meet.
	return order.Env{Menu: fuzzMenu, Tables: fuzzTables, Tenders: order.Tenders, NewID: uuid.New}
}

// SampleSteps (exported for FuzzPatchHTTP, which builds the same sample
// over HTTP) are the PATCHes that take the sample from version 1 to 5,
// with the given ids for its lines: four lines, a send of course 2, a comp
// and a void (a manager's), a payment.
func SampleSteps(pending, sent, comped, voided uuid.UUID) [][]order.Op {
	one, two := 1, 2
	amount, tip := int64(500), int64(100)
	return [][]order.Op{
		{
			{Op: order.OpAddItem, SKU: "steak", LineID: &pending, Qty: &two, Course: &one, Modifiers: []string{"no onions"}},
			{Op: order.OpAddItem, SKU: "fries", LineID: &sent, Course: &two},
			{Op: order.OpAddItem, SKU: "beer", LineID: &comped, Course: &two},
			{Op: order.OpAddItem, SKU: "steak", LineID: &voided, Course: &two},
		},
		{{Op: order.OpSend, Course: &two}},
		{{Op: order.OpCompItem, LineID: &comped, Reason: "long wait"}, {Op: order.OpVoidItem, LineID: &voided, Reason: "dropped"}},
		{{Op: order.OpAddPayment, Tender: "card", AmountCents: &amount, TipCents: &tip}},
	}
}

// fuzzSample builds the sample order from its log (open at T1 for 2, four
// lines, a payment) through Plan and Fold, and returns it with the log.
func fuzzSample(tb testing.TB) (order.Order, []order.Event) {
	id := uuid.MustParse("0190b6a0-0000-7000-8000-000000000001")
	log := []order.Event{{OrderID: id, Venue: "demo", Version: 1, Type: order.EventOpened, At: fuzzAt, Actor: fuzzActor,
		Ops: []order.Op{order.OpenOp("T1", 2, nil)}}}
	cur, err := order.Fold(log)
	if err != nil {
		tb.Fatal(err)
	}
	for i, ops := range SampleSteps(fuzzPending, fuzzSent, fuzzComped, fuzzVoided) {
		at := fuzzAt.Add(time.Duration(i+1) * time.Minute)
		next, applied, err := order.Plan(cur, ops, at, fuzzEnv())
		if err != nil || len(applied) != len(ops) {
			tb.Fatalf("sample step %d: %v", i, err)
		}
		log = append(log, order.Event{OrderID: id, Venue: "demo", Version: next.Version, Type: order.EventPatched,
			At: at, Actor: fuzzActor, Ops: applied})
		cur = next
	}
	folded, err := order.Fold(log)
	if err != nil {
		tb.Fatal(err)
	}
	return folded, log
}

// TestPatchDecodeCorpus holds each seed of the corpus to the answer
// written for it in testdata/FuzzPatchDecode.want: the status, problem
// type, op_index and field of the first error and a part of its detail
// ("nested deeper than 8 levels" for the deep-* seeds, so each reaches the
// check it was written for), or 200 for a seed Plan accepts. valid-* seeds
// must be accepted and plan-* seeds refused by Plan, not by readPatch.
// Every seed has a line and every line a seed.
func TestPatchDecodeCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzPatchDecode")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	want := readCorpusWant(t)
	sample, _ := fuzzSample(t)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			body, ifMatch, role := readSeed(t, filepath.Join(dir, e.Name()))
			w, ok := want[e.Name()]
			require.True(t, ok, "no line for %s in testdata/FuzzPatchDecode.want", e.Name())
			delete(want, e.Name())
			in, err := readPatch(body, ifMatch, role)
			name := e.Name()
			if strings.HasPrefix(name, "valid-") || strings.HasPrefix(name, "plan-") {
				require.NoError(t, err, "readPatch refused a %s seed", name)
			}
			if err == nil {
				_, _, err = order.Plan(sample.Clone(), in.ops, fuzzAt.Add(time.Hour), fuzzEnv())
				if strings.HasPrefix(name, "valid-") {
					require.NoError(t, err)
				}
			}
			require.Equal(t, w, seedOutcome(err))
		})
	}
	require.Empty(t, want, "lines in testdata/FuzzPatchDecode.want without a seed")
}

// seedOutcome is one line's answer: "200", or the problem's status, type,
// op_index (- for none), field and detail of the first error (quoted).
func seedOutcome(err error) string {
	if err == nil {
		return "200"
	}
	p, _ := toProblem(err)
	idx, field, detail := "-", "", p.Detail
	if len(p.Errors) > 0 {
		e := p.Errors[0]
		if e.OpIndex != nil {
			idx = strconv.Itoa(*e.OpIndex)
		}
		field, detail = e.Field, e.Detail
	}
	return strings.Join([]string{strconv.Itoa(p.Status), strings.TrimPrefix(p.Type, ProblemBase), idx,
		strconv.Quote(field), strconv.Quote(detail)}, "\t")
}

// readCorpusWant reads testdata/FuzzPatchDecode.want: a seed's name, a
// tab, and its seedOutcome, one seed a line; # starts a comment.
func readCorpusWant(t *testing.T) map[string]string {
	raw, err := os.ReadFile(filepath.Join("testdata", "FuzzPatchDecode.want"))
	require.NoError(t, err)
	want := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, outcome, ok := strings.Cut(line, "\t")
		require.True(t, ok, "bad line %q", line)
		want[name] = outcome
	}
	return want
}

// readSeed reads a corpus file of FuzzPatchDecode.
func readSeed(t *testing.T, path string) ([]byte, string, string) {
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	require.Len(t, lines, 4)
	require.Equal(t, "go test fuzz v1", lines[0])
	body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
	require.NoError(t, err)
	ifMatch, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[2], "string("), ")"))
	require.NoError(t, err)
	role := order.RoleWaiter
	if lines[3] == "bool(true)" {
		role = order.RoleManager
	}
	return []byte(body), ifMatch, role
}
