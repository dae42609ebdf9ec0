package httpapi

import (
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
)

// FuzzPatchDecode feeds raw PATCH bodies (with an If-Match header and the
// device's role) through everything the server does with them before the
// database: readPatch (strictjson, struct decoding, the precondition,
// order.DecodeOps, order.Validate) and, when that accepts, order.Plan on a
// fixed sample order. It checks invariant 7 and the write path's rules:
//
//   - nothing panics;
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
	for _, p := range o.Payments {
		paid += p.AmountCents
	}
	require.Equal(t, order.Totals{SubtotalCents: sub, PaidCents: paid, DueCents: sub - paid}, o.Totals)
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
	return order.Env{Menu: fuzzMenu, Tables: fuzzTables, NewID: uuid.New}
}

// fuzzSample builds the sample order from its log (open at T1 for 2, four
// lines, a payment) through Plan and Fold, and returns it with the log.
func fuzzSample(tb testing.TB) (order.Order, []order.Event) {
	id := uuid.MustParse("0190b6a0-0000-7000-8000-000000000001")
	log := []order.Event{{OrderID: id, Venue: "demo", Version: 1, Type: order.EventOpened, At: fuzzAt, Actor: fuzzActor,
		Ops: []order.Op{order.OpenOp("T1", 2)}}}
	cur, err := order.Fold(log)
	if err != nil {
		tb.Fatal(err)
	}
	one, two := 1, 2
	amount, tip := int64(500), int64(100)
	steps := [][]order.Op{
		{
			{Op: order.OpAddItem, SKU: "steak", LineID: &fuzzPending, Qty: &two, Course: &one, Modifiers: []string{"no onions"}},
			{Op: order.OpAddItem, SKU: "fries", LineID: &fuzzSent, Course: &two},
			{Op: order.OpAddItem, SKU: "beer", LineID: &fuzzComped, Course: &two},
			{Op: order.OpAddItem, SKU: "steak", LineID: &fuzzVoided, Course: &two},
		},
		{{Op: order.OpSend, Course: &two}},
		{{Op: order.OpCompItem, LineID: &fuzzComped, Reason: "long wait"}, {Op: order.OpVoidItem, LineID: &fuzzVoided, Reason: "dropped"}},
		{{Op: order.OpAddPayment, Tender: "card", AmountCents: &amount, TipCents: &tip}},
	}
	for i, ops := range steps {
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

// TestPatchDecodeCorpus holds the seed corpus to what its file names say,
// so the seeds keep reaching the code they are for: valid-* are accepted
// and planned, plan-* are accepted and refused by Plan, the rest are
// refused by readPatch.
func TestPatchDecodeCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzPatchDecode")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.NotEmpty(t, entries)
	sample, _ := fuzzSample(t)
	for _, e := range entries {
		t.Run(e.Name(), func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
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
			in, err := readPatch([]byte(body), ifMatch, role)
			switch name := e.Name(); {
			case strings.HasPrefix(name, "valid-"):
				require.NoError(t, err)
				_, _, err = order.Plan(sample.Clone(), in.ops, fuzzAt.Add(time.Hour), fuzzEnv())
				require.NoError(t, err)
			case strings.HasPrefix(name, "plan-"):
				require.NoError(t, err)
				_, _, err = order.Plan(sample.Clone(), in.ops, fuzzAt.Add(time.Hour), fuzzEnv())
				require.Error(t, err)
			default:
				require.Error(t, err)
			}
		})
	}
}
