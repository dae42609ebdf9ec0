package httpapi_test

// Hostile input (invariant 7): every client mistake, however odd, gets a 4xx
// with a problem body naming the field, never a 5xx, and changes nothing.
//
//   - TestHostilePatch: PATCH bodies: duplicate keys at any depth, case and
//     Unicode-folding variants of field names, deep nesting, odd numbers,
//     nulls, non-objects, encodings, lengths, If-Match.
//   - TestHostileOpen: the same for POST /v1/orders.
//   - TestHostileRequests: query parameters, path ids, methods, bodies where
//     none belong, and a huge header, on every route.
//   - TestHostileAcceptsOddButValid: inputs that look odd but are fine.

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// hostileCase is one bad request and the problem it must get. idx is the
// op_index the named field must carry (-1: a top-level field; -2: the
// problem names no field).
type hostileCase struct {
	name   string
	req    apitest.Req
	status int
	kind   string
	idx    int
	field  string
}

// runHostile sends each case and checks its problem, then that nothing was
// written and nothing was logged as a server error.
func runHostile(t *testing.T, f *apitest.Fixture, cases []hostileCase) {
	t.Helper()
	before := f.Fingerprint()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := apitest.RequireProblem(t, f.Do(t, c.req), c.status, c.kind)
			if c.idx >= apitest.TopLevel {
				apitest.RequireField(t, p, c.idx, c.field)
			}
		})
	}
	require.Equal(t, before, f.Fingerprint(), "a refused request changed something")
	require.NotContains(t, f.LogText(), `"level":"error"`)
}

func nested(open, close string, n int, inner string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

func gzipped(t *testing.T, s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, err := w.Write([]byte(s))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return b.Bytes()
}

func TestHostilePatch(t *testing.T) {
	f := start(t)
	o := f.Open("T1")
	pending, sent := uuid.New(), uuid.New()
	f.Waiter.Patch(o.ID, 1, apitest.AddItem("steak", 1, apitest.LineID(sent)), apitest.Fire(), apitest.AddItem("fries", 1, apitest.LineID(pending)))
	pendingID, sentID := pending.String(), sent.String()
	path := apitest.OrderPath(o.ID)
	path2 := apitest.OrderPath(f.Open("T2").ID)

	patch := func(body any) apitest.Req {
		return apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: body}
	}
	// op wraps one raw op in a body at the current version.
	op := func(raw string) apitest.Req { return patch(`{"expected_version":2,"ops":[` + raw + `]}`) }
	send := `{"op":"send"}`
	valid := `{"expected_version":2,"ops":[{"op":"set_note","note":"x"}]}`

	cases := []hostileCase{
		// Duplicate keys: encoding/json keeps the last one; posd refuses.
		{"duplicate expected_version", patch(`{"expected_version":2,"ops":[` + send + `],"expected_version":1}`), 422, "validation-failed", -1, "expected_version"},
		{"duplicate force", patch(`{"force":true,"expected_version":2,"ops":[` + send + `],"force":false}`), 422, "validation-failed", -1, "force"},
		{"duplicate ops", patch(`{"expected_version":2,"ops":[` + send + `],"ops":[{"op":"close"}]}`), 422, "validation-failed", -1, "ops"},
		{"duplicate op kind", op(`{"op":"send","op":"close"}`), 422, "validation-failed", 0, "op"},
		{"duplicate qty in third op", patch(`{"expected_version":2,"ops":[` + send + `,` + send + `,{"op":"add_item","sku":"beer","qty":1,"qty":5}]}`), 422, "validation-failed", 2, "qty"},
		{"duplicate by escape", op(`{"op":"set_note","note":"a","n\u006fte":"b"}`), 422, "validation-failed", 0, "note"},
		{"duplicate inside a field", op(`{"op":"add_item","sku":"beer","modifiers":[{"a":1,"a":2}]}`), 422, "validation-failed", 0, "modifiers[0].a"},
		{"duplicate empty key", op(`{"op":"send","":1,"":2}`), 422, "validation-failed", 0, `[""]`},

		// encoding/json matches field names case-insensitively, with Unicode
		// folding (ſ is s, K is k); posd takes only the exact spelling.
		{"field in other case", patch(`{"Expected_Version":2,"ops":[` + send + `]}`), 422, "validation-failed", -1, "Expected_Version"},
		{"field in upper case", patch(`{"expected_version":2,"OPS":[` + send + `]}`), 422, "validation-failed", -1, "OPS"},
		{"field by Unicode folding", patch(`{"expected_verſion":2,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_verſion"},
		{"case twin of a field", patch(`{"expected_version":2,"ops":[` + send + `],"Ops":[]}`), 422, "validation-failed", -1, "Ops"},
		{"op field in other case", op(`{"op":"add_item","SKU":"beer"}`), 422, "validation-failed", 0, "SKU"},

		// Nesting beyond 8 levels, wherever it is.
		{"deep modifiers", op(`{"op":"add_item","sku":"beer","modifiers":` + nested("[", "]", 6, `"x"`) + `}`), 422, "validation-failed", 0, "modifiers[0][0][0][0][0]"},
		{"deep object in op", op(`{"op":"send","x":` + nested(`{"x":`, "}", 6, "1") + `}`), 422, "validation-failed", 0, "x.x.x.x.x.x"},
		{"deep op", patch(`{"expected_version":2,"ops":` + nested("[", "]", 7, "") + `}`), 422, "validation-failed", 0, "op"},
		{"deep version", patch(`{"expected_version":` + nested("[", "]", 8, "2") + `,"ops":[]}`), 422, "validation-failed", -1, "expected_version[0][0][0][0][0][0][0]"},
		{"very deep", patch(`{"ops":` + nested("[", "]", 30000, "") + `}`), 422, "validation-failed", 0, "op"},
		{"very deep top-level array", patch(nested("[", "]", 30000, "")), 400, "bad-request", -2, ""},

		// Numbers: integers only, in range, however they are spelled.
		{"qty 1.0", op(`{"op":"add_item","sku":"beer","qty":1.0}`), 422, "validation-failed", 0, "qty"},
		{"qty 1e0", op(`{"op":"add_item","sku":"beer","qty":1e0}`), 422, "validation-failed", 0, "qty"},
		{"qty -0", op(`{"op":"add_item","sku":"beer","qty":-0}`), 422, "validation-failed", 0, "qty"},
		{"qty 1e400", op(`{"op":"add_item","sku":"beer","qty":1e400}`), 422, "validation-failed", 0, "qty"},
		{"qty beyond int64", op(`{"op":"add_item","sku":"beer","qty":99999999999999999999}`), 422, "validation-failed", 0, "qty"},
		{"qty far beyond", op(`{"op":"add_item","sku":"beer","qty":` + strings.Repeat("9", 5000) + `}`), 422, "validation-failed", 0, "qty"},
		{"qty int64 max", op(`{"op":"add_item","sku":"beer","qty":9223372036854775807}`), 422, "validation-failed", 0, "qty"},
		{"guests 2.5", op(`{"op":"set_guests","guests":2.5}`), 422, "validation-failed", 0, "guests"},
		{"amount beyond int64", op(`{"op":"add_payment","tender":"card","amount_cents":9223372036854775808}`), 422, "validation-failed", 0, "amount_cents"},
		{"amount below int64", op(`{"op":"add_payment","tender":"card","amount_cents":-9223372036854775809}`), 422, "validation-failed", 0, "amount_cents"},
		{"amount 1e2", op(`{"op":"add_payment","tender":"card","amount_cents":1e2}`), 422, "validation-failed", 0, "amount_cents"},
		{"amount over the limit", op(`{"op":"add_payment","tender":"card","amount_cents":100000001}`), 422, "validation-failed", 0, "amount_cents"},
		{"tip int64 max", op(`{"op":"add_payment","tender":"card","amount_cents":1,"tip_cents":9223372036854775807}`), 422, "validation-failed", 0, "tip_cents"},
		{"version 1e400", patch(`{"expected_version":1e400,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_version"},
		{"version beyond int64", patch(`{"expected_version":9223372036854775808,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_version"},
		{"version 2.0", patch(`{"expected_version":2.0,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_version"},
		{"version -0", patch(`{"expected_version":-0,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_version"},
		{"version -1", patch(`{"expected_version":-1,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_version"},
		{"version true", patch(`{"expected_version":true,"ops":[` + send + `]}`), 422, "validation-failed", -1, "expected_version"},
		{"leading zero", patch(`{"expected_version":02,"ops":[` + send + `]}`), 400, "bad-request", -2, ""},
		{"NaN", op(`{"op":"set_guests","guests":NaN}`), 400, "bad-request", -2, ""},

		// Nulls and wrong types.
		{"ops [null]", patch(`{"expected_version":2,"ops":[null]}`), 422, "validation-failed", 0, "op"},
		{"ops null", patch(`{"expected_version":2,"ops":null}`), 422, "validation-failed", -1, "ops"},
		{"ops empty", patch(`{"expected_version":2,"ops":[]}`), 422, "validation-failed", -1, "ops"},
		{"ops object", patch(`{"expected_version":2,"ops":{"op":"send"}}`), 422, "validation-failed", -1, "ops"},
		{"op number", patch(`{"expected_version":2,"ops":[1]}`), 422, "validation-failed", 0, "op"},
		{"op array", patch(`{"expected_version":2,"ops":[["send"]]}`), 422, "validation-failed", 0, "op"},
		{"op kind null", op(`{"op":null}`), 422, "validation-failed", 0, "op"},
		{"op kind number", op(`{"op":7}`), 422, "validation-failed", 0, "op"},
		{"modifiers [null]", op(`{"op":"add_item","sku":"beer","modifiers":[null]}`), 422, "validation-failed", 0, "modifiers"},
		{"modifiers [1]", op(`{"op":"add_item","sku":"beer","modifiers":[1]}`), 422, "validation-failed", 0, "modifiers"},
		{"modifiers string", op(`{"op":"add_item","sku":"beer","modifiers":"salt"}`), 422, "validation-failed", 0, "modifiers"},
		{"sku null", op(`{"op":"add_item","sku":null}`), 422, "validation-failed", 0, "sku"},
		{"line_id null", op(`{"op":"remove_item","line_id":null}`), 422, "validation-failed", 0, "line_id"},
		{"line_id braces", op(`{"op":"remove_item","line_id":"{` + pendingID + `}"}`), 422, "validation-failed", 0, "line_id"},
		{"line_id of another order", apitest.Req{Method: "PATCH", Path: path2, Token: seed.TokenWaiter1,
			Body: `{"expected_version":1,"ops":[{"op":"add_item","sku":"beer","line_id":"` + sentID + `"}]}`}, 422, "validation-failed", 0, "line_id"},
		{"line_id nil uuid", op(`{"op":"remove_item","line_id":"00000000-0000-0000-0000-000000000000"}`), 422, "validation-failed", 0, "line_id"},
		{"force string", patch(`{"force":"true","expected_version":2,"ops":[` + send + `]}`), 422, "validation-failed", -1, "force"},
		{"force number", patch(`{"force":1,"expected_version":2,"ops":[` + send + `]}`), 422, "validation-failed", -1, "force"},

		// String lengths and content.
		{"sku too long", op(`{"op":"add_item","sku":"` + strings.Repeat("s", 65) + `"}`), 422, "validation-failed", 0, "sku"},
		{"table too long", op(`{"op":"move_table","table":"` + strings.Repeat("t", 33) + `"}`), 422, "validation-failed", 0, "table"},
		{"note 281 runes", op(`{"op":"set_note","note":"` + strings.Repeat("é", 281) + `"}`), 422, "validation-failed", 0, "note"},
		{"modifier too long", op(`{"op":"add_item","sku":"beer","modifiers":["` + strings.Repeat("m", 81) + `"]}`), 422, "validation-failed", 0, "modifiers"},
		{"11 modifiers", op(`{"op":"add_item","sku":"beer","modifiers":["a","b","c","d","e","f","g","h","i","j","k"]}`), 422, "validation-failed", 0, "modifiers"},
		{"blank modifier", op(`{"op":"add_item","sku":"beer","modifiers":[" "]}`), 422, "validation-failed", 0, "modifiers"},
		{"escaped NUL in table", op(`{"op":"move_table","table":"T\u0000"}`), 422, "validation-failed", 0, "table"},
		{"escaped NUL in sku", op(`{"op":"add_item","sku":"be\u0000er"}`), 422, "validation-failed", 0, "sku"},
		{"NUL key", op(`{"op":"send","\u0000":1}`), 422, "validation-failed", 0, "\x00"},
		{"long unknown key", op(`{"op":"send","` + strings.Repeat("k", 10000) + `":1}`), 422, "validation-failed", 0, strings.Repeat("k", 10000)},
		{"unknown top-level", patch(`{"expected_version":2,"ops":[` + send + `],"merge":true}`), 422, "validation-failed", -1, "merge"},

		// Not JSON, not one object, not UTF-8, not plain.
		{"null body", patch(`null`), 400, "bad-request", -2, ""},
		{"string body", patch(`"ops"`), 400, "bad-request", -2, ""},
		{"array body", patch(`[` + valid + `]`), 400, "bad-request", -2, ""},
		{"whitespace body", patch(" \n\t "), 400, "bad-request", -2, ""},
		{"two objects", patch(valid + valid), 400, "bad-request", -2, ""},
		{"trailing garbage", patch(valid + "x"), 400, "bad-request", -2, ""},
		{"trailing comma", patch(`{"expected_version":2,"ops":[` + send + `,]}`), 400, "bad-request", -2, ""},
		{"comment", patch(`{"expected_version":2, /* hi */ "ops":[` + send + `]}`), 400, "bad-request", -2, ""},
		{"single quotes", patch(`{'expected_version':2}`), 400, "bad-request", -2, ""},
		{"byte order mark", patch("\ufeff" + valid), 400, "bad-request", -2, ""},
		{"truncated", patch(valid[:len(valid)-3]), 400, "bad-request", -2, ""},
		{"truncated after a duplicate", patch(`{"expected_version":2,"expected_version":2,"ops":[`), 400, "bad-request", -2, ""},
		{"invalid UTF-8 in value", patch([]byte("{\"expected_version\":2,\"ops\":[{\"op\":\"set_note\",\"note\":\"\xc3\x28\"}]}")), 400, "bad-request", -2, ""},
		{"invalid UTF-8 in key", patch([]byte("{\"expected_version\":2,\"ops\":[{\"op\":\"send\",\"\xff\":1,\"\xfe\":2}]}")), 400, "bad-request", -2, ""},
		{"overlong UTF-8", patch([]byte("{\"expected_version\":2,\"ops\":[{\"op\":\"set_note\",\"note\":\"\xc0\xaf\"}]}")), 400, "bad-request", -2, ""},
		{"UTF-16", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: []byte("\xff\xfe{\x00}\x00"), ContentType: "application/json; charset=utf-16"}, 415, "unsupported-media-type", -1, "Content-Type"},
		{"gzip", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: gzipped(t, valid), Header: map[string]string{"Content-Encoding": "gzip"}}, 415, "unsupported-media-type", -1, "Content-Encoding"},
		{"no content type", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: valid, ContentType: " "}, 415, "unsupported-media-type", -1, "Content-Type"},
		{"json-ish content type", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: valid, ContentType: "application/json-patch+json"}, 415, "unsupported-media-type", -1, "Content-Type"},

		// Sizes.
		// Sent whole, without Expect: 100-continue: posd reads (and
		// discards) it before answering, so the client reads the 413.
		{"over 64 KiB", patch(`{"expected_version":2,"ops":[{"op":"set_note","note":"` + strings.Repeat(" ", 64<<10) + `"}]}`), 413, "payload-too-large", -2, ""},
		{"101 ops", patch(`{"expected_version":2,"ops":[` + strings.TrimSuffix(strings.Repeat(send+",", 101), ",") + `]}`), 413, "payload-too-large", -1, "ops"},

		// The precondition header.
		{"If-Match list", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: `{"ops":[` + send + `]}`, Header: map[string]string{"If-Match": `"2", "3"`}}, 400, "bad-request", -1, "If-Match"},
		{"If-Match beyond int64", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: `{"ops":[` + send + `]}`, Header: map[string]string{"If-Match": `"9223372036854775808"`}}, 400, "bad-request", -1, "If-Match"},
		{"If-Match zero", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: `{"ops":[` + send + `]}`, Header: map[string]string{"If-Match": `"0"`}}, 400, "bad-request", -1, "If-Match"},
		{"If-Match unquoted", apitest.Req{Method: "PATCH", Path: path, Token: seed.TokenWaiter1, Body: `{"ops":[` + send + `]}`, Header: map[string]string{"If-Match": `2`}}, 400, "bad-request", -1, "If-Match"},
	}
	runHostile(t, f, cases)
}

func TestHostileOpen(t *testing.T) {
	f := start(t)
	post := func(body any) apitest.Req {
		return apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1, Body: body}
	}
	cases := []hostileCase{
		{"duplicate table", post(`{"table":"T1","guests":2,"table":"T2"}`), 422, "validation-failed", -1, "table"},
		{"duplicate guests", post(`{"guests":2,"table":"T1","guests":3}`), 422, "validation-failed", -1, "guests"},
		{"Table", post(`{"Table":"T1","guests":2}`), 422, "validation-failed", -1, "Table"},
		{"case twin", post(`{"table":"T1","guests":2,"TABLE":"T2"}`), 422, "validation-failed", -1, "TABLE"},
		{"deep table", post(`{"table":` + nested("[", "]", 8, `"T1"`) + `,"guests":2}`), 422, "validation-failed", -1, "table[0][0][0][0][0][0][0]"},
		{"guests 2.0", post(`{"table":"T1","guests":2.0}`), 422, "validation-failed", -1, "guests"},
		{"guests -0", post(`{"table":"T1","guests":-0}`), 422, "validation-failed", -1, "guests"},
		{"guests 1e400", post(`{"table":"T1","guests":1e400}`), 422, "validation-failed", -1, "guests"},
		{"guests beyond int64", post(`{"table":"T1","guests":18446744073709551616}`), 422, "validation-failed", -1, "guests"},
		{"guests 1000", post(`{"table":"T1","guests":1000}`), 422, "validation-failed", -1, "guests"},
		{"guests null", post(`{"table":"T1","guests":null}`), 422, "validation-failed", -1, "guests"},
		{"table null", post(`{"table":null,"guests":2}`), 422, "validation-failed", -1, "table"},
		{"table number", post(`{"table":1,"guests":2}`), 422, "validation-failed", -1, "table"},
		{"table too long", post(`{"table":"` + strings.Repeat("T", 33) + `","guests":2}`), 422, "validation-failed", -1, "table"},
		{"table with newline", post(`{"table":"T1\n","guests":2}`), 422, "validation-failed", -1, "table"},
		{"null body", post(`null`), 400, "bad-request", -2, ""},
		{"invalid UTF-8", post([]byte("{\"table\":\"T1\",\"guests\":2,\"\xff\":1}")), 400, "bad-request", -2, ""},
		{"latin-1", apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1, Body: `{"table":"T1","guests":2}`, ContentType: "application/json; charset=iso-8859-1"}, 415, "unsupported-media-type", -1, "Content-Type"},
		{"gzip", apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1, Body: gzipped(t, `{"table":"T1","guests":2}`), Header: map[string]string{"Content-Encoding": "gzip"}}, 415, "unsupported-media-type", -1, "Content-Encoding"},
		// 64 KiB of gzip is ~64 MiB of JSON: the limit counts bytes on the wire.
		{"gzip bomb", apitest.Req{Method: "POST", Path: "/v1/orders", Token: seed.TokenWaiter1,
			Body: gzipped(t, `{"table":"T1","guests":2`+strings.Repeat(" ", 20<<20)+`}`), Header: map[string]string{"Content-Encoding": "gzip"}}, 415, "unsupported-media-type", -1, "Content-Encoding"},
		{"query parameter", apitest.Req{Method: "POST", Path: "/v1/orders?table=T1", Token: seed.TokenWaiter1, Body: `{"table":"T1","guests":2}`}, 400, "bad-request", -1, "table"},
	}
	runHostile(t, f, cases)
}

func TestHostileRequests(t *testing.T) {
	f := start(t)
	id := f.Fired("T1", apitest.AddItem("steak", 1)).ID.String()
	get := func(token, path string) apitest.Req { return apitest.Req{Method: "GET", Path: path, Token: token} }
	order := "/v1/orders/" + id
	ticket := "/v1/kitchen/tickets/" + uuid.NewString()
	cases := []hostileCase{
		// Query parameters: known ones only, once each, plain text, in range.
		{"list: NUL in table", get(seed.TokenWaiter1, "/v1/orders?table=T1%00"), 400, "bad-request", -1, "table"},
		{"list: invalid UTF-8 in table", get(seed.TokenWaiter1, "/v1/orders?table=%ff"), 400, "bad-request", -1, "table"},
		{"list: table too long", get(seed.TokenWaiter1, "/v1/orders?table="+strings.Repeat("T", 33)), 400, "bad-request", -1, "table"},
		{"list: misspelt parameter", get(seed.TokenWaiter1, "/v1/orders?stauts=open"), 400, "bad-request", -1, "stauts"},
		{"list: status twice", get(seed.TokenWaiter1, "/v1/orders?status=open&status=closed"), 400, "bad-request", -1, "status"},
		{"list: status case", get(seed.TokenWaiter1, "/v1/orders?status=OPEN"), 400, "bad-request", -1, "status"},
		{"list: limit 0", get(seed.TokenWaiter1, "/v1/orders?limit=0"), 400, "bad-request", -1, "limit"},
		{"list: limit 501", get(seed.TokenWaiter1, "/v1/orders?limit=501"), 400, "bad-request", -1, "limit"},
		{"list: limit 1e2", get(seed.TokenWaiter1, "/v1/orders?limit=1e2"), 400, "bad-request", -1, "limit"},
		{"list: limit 2.0", get(seed.TokenWaiter1, "/v1/orders?limit=2.0"), 400, "bad-request", -1, "limit"},
		{"list: limit beyond int64", get(seed.TokenWaiter1, "/v1/orders?limit=99999999999999999999"), 400, "bad-request", -1, "limit"},
		{"list: long parameter name", get(seed.TokenWaiter1, "/v1/orders?"+strings.Repeat("p", 2000)+"=1"), 400, "bad-request", -1, strings.Repeat("p", 64) + "…"},
		{"order: at_version 0", get(seed.TokenManager, order+"?at_version=0"), 400, "bad-request", -1, "at_version"},
		{"order: at_version -1", get(seed.TokenManager, order+"?at_version=-1"), 400, "bad-request", -1, "at_version"},
		{"order: at_version 1.0", get(seed.TokenManager, order+"?at_version=1.0"), 400, "bad-request", -1, "at_version"},
		{"order: at_version beyond int64", get(seed.TokenManager, order+"?at_version=9223372036854775808"), 400, "bad-request", -1, "at_version"},
		{"order: at_version int64 max", get(seed.TokenManager, order+"?at_version=9223372036854775807"), 422, "validation-failed", -1, "at_version"},
		{"order: at_version twice", get(seed.TokenManager, order+"?at_version=1&at_version=2"), 400, "bad-request", -1, "at_version"},
		{"order: unknown parameter", get(seed.TokenWaiter1, order+"?version=1"), 400, "bad-request", -1, "version"},
		{"events: after_version -1", get(seed.TokenWaiter1, order+"/events?after_version=-1"), 400, "bad-request", -1, "after_version"},
		{"events: after_version x", get(seed.TokenWaiter1, order+"/events?after_version=x"), 400, "bad-request", -1, "after_version"},
		{"events: after_version beyond int64", get(seed.TokenWaiter1, order+"/events?after_version=9223372036854775808"), 400, "bad-request", -1, "after_version"},
		{"menu: any parameter", get(seed.TokenWaiter1, "/v1/menu?lang=en"), 400, "bad-request", -1, "lang"},
		{"tables: any parameter", get(seed.TokenWaiter1, "/v1/tables?free=1"), 400, "bad-request", -1, "free"},
		{"tickets: no station", get(seed.TokenKitchen, "/v1/kitchen/tickets"), 400, "bad-request", -1, "station"},
		{"tickets: unknown station", get(seed.TokenKitchen, "/v1/kitchen/tickets?station=pizza"), 400, "bad-request", -1, "station"},
		{"tickets: NUL station", get(seed.TokenKitchen, "/v1/kitchen/tickets?station=grill%00"), 400, "bad-request", -1, "station"},
		{"tickets: two stations", get(seed.TokenKitchen, "/v1/kitchen/tickets?station=grill&station=fry"), 400, "bad-request", -1, "station"},
		{"stream: cursor beyond 63 bits", get(seed.TokenKitchen, "/v1/kitchen/stream?station=grill&after=18446744073709551615"), 400, "bad-request", -1, "after"},
		{"stream: negative cursor", get(seed.TokenKitchen, "/v1/kitchen/stream?station=grill&after=-1"), 400, "bad-request", -1, "after"},
		{"stream: bad Last-Event-ID", apitest.Req{Method: "GET", Path: "/v1/kitchen/stream?station=grill", Token: seed.TokenKitchen, Header: map[string]string{"Last-Event-ID": "x"}}, 400, "bad-request", -1, "Last-Event-ID"},
		{"stream: unknown station", get(seed.TokenKitchen, "/v1/kitchen/stream?station=%ff"), 400, "bad-request", -1, "station"},
		{"shift: no range", get(seed.TokenManager, "/v1/audit/shift"), 400, "bad-request", -1, "from"},
		{"shift: bad from", get(seed.TokenManager, "/v1/audit/shift?from=yesterday&to=2026-11-23T03:00:00Z"), 400, "bad-request", -1, "from"},
		{"shift: NUL in to", get(seed.TokenManager, "/v1/audit/shift?from=2026-11-22T17:00:00Z&to=2026-11-23T03:00:00Z%00"), 400, "bad-request", -1, "to"},
		{"shift: reversed", get(seed.TokenManager, "/v1/audit/shift?from=2026-11-23T03:00:00Z&to=2026-11-22T17:00:00Z"), 400, "bad-request", -1, "to"},
		{"shift: ten thousand years", get(seed.TokenManager, "/v1/audit/shift?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z"), 400, "bad-request", -1, "to"},
		{"shift: from twice", get(seed.TokenManager, "/v1/audit/shift?from=2026-11-22T17:00:00Z&from=2026-11-21T17:00:00Z&to=2026-11-23T03:00:00Z"), 400, "bad-request", -1, "from"},
		{"verify: any parameter", get(seed.TokenAuditor, "/v1/audit/verify?deep=1"), 400, "bad-request", -1, "deep"},

		// Path ids: only a canonical UUID names anything.
		{"order id not a uuid", get(seed.TokenWaiter1, "/v1/orders/not-a-uuid"), 404, "not-found", -2, ""},
		{"order id without dashes", get(seed.TokenWaiter1, "/v1/orders/"+strings.ReplaceAll(id, "-", "")), 404, "not-found", -2, ""},
		{"order id in braces", get(seed.TokenWaiter1, "/v1/orders/%7B"+id+"%7D"), 404, "not-found", -2, ""},
		{"order id as urn", get(seed.TokenWaiter1, "/v1/orders/urn:uuid:"+id), 404, "not-found", -2, ""},
		{"order id NUL", get(seed.TokenWaiter1, "/v1/orders/%00"), 404, "not-found", -2, ""},
		{"order id huge", get(seed.TokenWaiter1, "/v1/orders/"+strings.Repeat("a", 2000)), 404, "not-found", -2, ""},
		{"events of a non-uuid", get(seed.TokenWaiter1, "/v1/orders/x/events"), 404, "not-found", -2, ""},
		{"patch a non-uuid", apitest.Req{Method: "PATCH", Path: "/v1/orders/" + strings.ReplaceAll(id, "-", ""), Token: seed.TokenWaiter1, Body: `{"expected_version":2,"ops":[{"op":"send"}]}`}, 404, "not-found", -2, ""},
		{"bump a non-uuid", apitest.Req{Method: "POST", Path: "/v1/kitchen/tickets/1/bump", Token: seed.TokenKitchen}, 404, "not-found", -2, ""},

		// Methods.
		{"DELETE an order", apitest.Req{Method: "DELETE", Path: order, Token: seed.TokenWaiter1}, 405, "method-not-allowed", -2, ""},
		{"PUT an order", apitest.Req{Method: "PUT", Path: order, Token: seed.TokenWaiter1, Body: `{}`}, 405, "method-not-allowed", -2, ""},
		{"PUT the orders", apitest.Req{Method: "PUT", Path: "/v1/orders", Token: seed.TokenWaiter1, Body: `{}`}, 405, "method-not-allowed", -2, ""},
		{"POST the menu", apitest.Req{Method: "POST", Path: "/v1/menu", Token: seed.TokenWaiter1, Body: `{}`}, 405, "method-not-allowed", -2, ""},
		{"GET a bump", get(seed.TokenKitchen, ticket+"/bump"), 405, "method-not-allowed", -2, ""},
		{"DELETE healthz", apitest.Req{Method: "DELETE", Path: "/healthz"}, 405, "method-not-allowed", -2, ""},
		{"unknown method", apitest.Req{Method: "BREW", Path: "/v1/orders", Token: seed.TokenWaiter1}, 405, "method-not-allowed", -2, ""},
		{"unknown route", get(seed.TokenWaiter1, "/v1/orders/"+id+"/lines"), 404, "not-found", -2, ""},

		// Bodies where none belong.
		{"GET with a body", apitest.Req{Method: "GET", Path: "/v1/orders", Token: seed.TokenWaiter1, Body: `{"status":"open"}`}, 400, "bad-request", -2, ""},
		{"GET an order with a body", apitest.Req{Method: "GET", Path: order, Token: seed.TokenWaiter1, Body: `x`}, 400, "bad-request", -2, ""},
		{"bump with a body", apitest.Req{Method: "POST", Path: ticket + "/bump", Token: seed.TokenKitchen, Body: `{"station":"grill"}`}, 400, "bad-request", -2, ""},
		{"recall with a query", apitest.Req{Method: "POST", Path: ticket + "/recall?force=1", Token: seed.TokenKitchen}, 400, "bad-request", -1, "force"},
	}
	before := f.Fingerprint()
	runHostile(t, f, cases)

	t.Run("Allow names the methods", func(t *testing.T) {
		r := f.Do(t, apitest.Req{Method: "DELETE", Path: order, Token: seed.TokenWaiter1})
		require.Equal(t, 405, r.Status)
		allow := strings.Join(r.Header.Values("Allow"), ",")
		require.Contains(t, allow, "GET")
		require.Contains(t, allow, "PATCH")
	})

	// The request line and headers share a 4 KiB read buffer. These are
	// sent by hand (rawExchange): the server answers and closes before it
	// has read the whole request, and net/http's client gives up on its
	// write instead of reading the answer.
	raw := func(t *testing.T, head string) apitest.Response { return rawExchange(t, f.BaseURL, head) }
	t.Run("huge header", func(t *testing.T) {
		r := raw(t, fmt.Sprintf("GET /v1/menu HTTP/1.1\r\nHost: posd\r\nAuthorization: Bearer %s\r\nX-Big: %s\r\n\r\n", seed.TokenWaiter1, strings.Repeat("a", 64<<10)))
		apitest.RequireProblem(t, r, 431, "headers-too-large")
	})
	t.Run("URL over 4 KiB", func(t *testing.T) {
		r := raw(t, fmt.Sprintf("GET /v1/orders/%s HTTP/1.1\r\nHost: posd\r\nAuthorization: Bearer %s\r\n\r\n", strings.Repeat("a", 5000), seed.TokenWaiter1))
		apitest.RequireProblem(t, r, 431, "headers-too-large")
	})
	t.Run("garbage request line", func(t *testing.T) {
		r := raw(t, "\x00\x01\x02 / HTTP/1.1\r\n\r\n")
		require.GreaterOrEqual(t, r.Status, 400)
		require.Less(t, r.Status, 500, string(r.Body))
	})
	require.Equal(t, before, f.Fingerprint())
}

// TestHostileAcceptsOddButValid: strictness refuses what is ambiguous, not
// what is merely unusual.
func TestHostileAcceptsOddButValid(t *testing.T) {
	f := start(t)
	id := f.Open("T1").ID.String()
	ok := func(body string, hdr map[string]string) order.Order {
		t.Helper()
		r := f.Do(t, apitest.Req{Method: "PATCH", Path: "/v1/orders/" + id, Token: seed.TokenWaiter1, Body: body, Header: hdr,
			ContentType: "application/json; charset=UTF-8"})
		require.Equal(t, 200, r.Status, string(r.Body))
		return r.Order(t)
	}
	// -0 is 0, escapes spell ordinary keys, whitespace is free, the same key
	// may appear in different objects, and 280 two-byte runes are 280.
	o := ok(" \n{ \"expected_version\" : 1 ,\r\n\t\"ops\":[{\"op\":\"add_item\",\"sku\":\"beer\",\"seat\":-0,\"modifiers\":[\"\\u00e9\"]},"+
		`{"\u006fp":"add_item","sku":"fries","note":"`+strings.Repeat("é", 280)+`"}]}  `, nil)
	require.EqualValues(t, 2, o.Version)
	require.Equal(t, 0, o.Lines[0].Seat)
	require.Equal(t, []string{"é"}, o.Lines[0].Modifiers)
	// null means absent; force:false by a waiter is fine; Identity encoding is no encoding.
	o = ok(`{"expected_version":2,"force":false,"ops":[{"op":"add_item","sku":"beer","qty":null,"note":null}]}`,
		map[string]string{"Content-Encoding": "identity"})
	require.EqualValues(t, 3, o.Version)
	// 100 ops is the limit, not over it.
	ops := strings.TrimSuffix(strings.Repeat(`{"op":"set_guests","guests":3},`, 100), ",")
	o = ok(`{"expected_version":3,"ops":[`+ops+`]}`, nil)
	require.EqualValues(t, 4, o.Version)
	// A canonical id in upper case is the same id.
	r := f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders/" + strings.ToUpper(id), Token: seed.TokenWaiter1})
	require.Equal(t, 200, r.Status, string(r.Body))
	// HEAD works where GET does, and an empty body on GET is no body.
	r = f.Do(t, apitest.Req{Method: "HEAD", Path: "/v1/orders/" + id, Token: seed.TokenWaiter1})
	require.Equal(t, 200, r.Status)
	r = f.Do(t, apitest.Req{Method: "GET", Path: "/v1/orders?status=open&limit=5", Token: seed.TokenWaiter1, Body: ""})
	require.Equal(t, 200, r.Status, string(r.Body))
}
