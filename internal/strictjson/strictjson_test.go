package strictjson_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/strictjson"
	"github.com/posd/posd/internal/strictjson/jsonref"
)

// checkCase is an input of Check and what it must report: want is "" for
// no error, else the error kind and what it names.
type checkCase struct {
	name string
	in   string
	opts strictjson.Options
	want string
}

func checkCases() []checkCase {
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	return []checkCase{
		{"object", `{"a":1,"b":[1,2,{"c":null}],"d":"x"}`, strictjson.Options{}, ""},
		{"scalar", ` 12 `, strictjson.Options{}, ""},
		{"huge number", `{"n":1e400,"m":-0,"k":123456789012345678901234567890}`, strictjson.Options{}, ""},
		{"same key in sibling objects", `{"ops":[{"qty":1},{"qty":2}]}`, strictjson.Options{}, ""},
		{"same key at two depths", `{"a":{"a":{"a":1}}}`, strictjson.Options{}, ""},
		{"many keys", manyKeys(40, false), strictjson.Options{}, ""},
		{"depth at limit", deep(8), strictjson.Options{}, ""},

		{"duplicate top", `{"expected_version":1,"ops":[],"expected_version":2}`, strictjson.Options{}, "dup expected_version"},
		{"duplicate in op", `{"ops":[{"op":"send"},{"op":"send"},{"op":"add_item","qty":1,"qty":2}]}`, strictjson.Options{}, "dup ops[2].qty"},
		{"duplicate escaped", `{"ops":[{"qty":1,"q\u0074y":2}]}`, strictjson.Options{}, "dup ops[0].qty"},
		{"duplicate deep", `{"a":[[{"b":{"c":1,"c":1}}]]}`, strictjson.Options{}, "dup a[0][0].b.c"},
		{"duplicate odd key", `{"ops":[{"a.b":1,"a.b":2}]}`, strictjson.Options{}, `dup ops[0]["a.b"]`},
		{"duplicate among many", manyKeys(40, true), strictjson.Options{}, "dup k0"},
		{"duplicate empty key", `{"":1,"":2}`, strictjson.Options{}, `dup [""]`},

		{"too deep array", deep(9), strictjson.Options{}, "depth [0][0][0][0][0][0][0][0]"},
		{"too deep in op", `{"ops":[{"modifiers":[[[[[["x"]]]]]]}]}`, strictjson.Options{}, "depth ops[0].modifiers[0][0][0][0][0]"},
		{"too deep custom", `{"a":{"b":{}}}`, strictjson.Options{MaxDepth: 2}, "depth a.b"},
		{"very deep", deep(30000), strictjson.Options{}, "depth [0][0][0][0][0][0][0][0]"},

		{"known fields", `{"table":"T1","guests":2}`, strictjson.Options{Fields: []string{"table", "guests"}}, ""},
		{"case variant", `{"table":"T1","Guests":2}`, strictjson.Options{Fields: []string{"table", "guests"}}, "unknown Guests"},
		{"fold variant", `{"table":"T1","guеsts":2}`, strictjson.Options{Fields: []string{"table", "guests"}}, "unknown"},
		{"nested keys are not fields", `{"table":{"x":1}}`, strictjson.Options{Fields: []string{"table"}}, ""},

		{"empty", ``, strictjson.Options{}, "syntax 0"},
		{"truncated", `{"a":[1,`, strictjson.Options{}, "syntax 8"},
		{"syntax before duplicate", `{"0": {"b":0,"b"`, strictjson.Options{}, "syntax 16"},
		{"syntax before unknown field", `{"x":1,`, strictjson.Options{Fields: []string{"a"}}, "syntax 7"},
		{"syntax after too deep", deep(9) + "]", strictjson.Options{}, "syntax 18"},
		{"past encoding/json's depth", deep(10001), strictjson.Options{MaxDepth: 20000}, "depth"},
		{"trailing", `{"a":1} {}`, strictjson.Options{}, "syntax 8"},
		{"trailing garbage", `{"a":1}x`, strictjson.Options{}, "syntax 7"},
		{"bad token", `{"a":01}`, strictjson.Options{}, "syntax"},
		{"missing colon", `{"a" 1}`, strictjson.Options{}, "syntax"},
		{"unmatched", `{"a":1]`, strictjson.Options{}, "syntax"},
		{"invalid utf-8", "{\"a\":\"\xff\"}", strictjson.Options{}, "syntax 6"},
		{"bom", "\ufeff{}", strictjson.Options{}, "syntax"},
		{"single quotes", `{'a':1}`, strictjson.Options{}, "syntax"},

		{"surrogate pair", `{"a":"\ud83d\ude00","b":["\uD83D\uDE00x"]}`, strictjson.Options{}, ""},
		{"escaped backslash then u", `{"a":"\\ud800"}`, strictjson.Options{}, ""},
		{"lone high", `{"a":"x\ud800"}`, strictjson.Options{}, "surrogate a"},
		{"lone low", `{"ops":[{"note":"\uDC00"}]}`, strictjson.Options{}, "surrogate ops[0].note"},
		{"high then high", `{"a":["ok","\ud800\ud800"]}`, strictjson.Options{}, "surrogate a[1]"},
		{"high then letter", `{"a":"\ud800\u0041"}`, strictjson.Options{}, "surrogate a"},
		{"high at the end", `{"a":"\ud800"}`, strictjson.Options{}, "surrogate a"},
		{"in a key", `{"k\udfff":1}`, strictjson.Options{}, "surrogate"},
		{"top-level string", `"\ud800"`, strictjson.Options{}, "surrogate"},
		{"surrogate in a key, by path", `{"ops":[{"note":"x","k\ud83d":1}]}`, strictjson.Options{}, "surrogate ops[0][\"k\ufffd\"]"},
		{"surrogate before a duplicate", `{"a":1,"a":"\ud800"}`, strictjson.Options{}, "dup a"},
		{"duplicate before too deep", `{"a":1,"a":[[[[[[[[[]]]]]]]]]}`, strictjson.Options{}, "dup a"},
		{"too deep before a duplicate", `{"a":[[[[[[[[[]]]]]]]]],"a":1}`, strictjson.Options{}, "depth a[0][0][0][0][0][0][0]"},
		{"unknown before a duplicate", `{"x":1,"a":{"b":1,"b":2}}`, strictjson.Options{Fields: []string{"a"}}, "unknown x"},
	}
}

func TestCheck(t *testing.T) {
	for _, c := range checkCases() {
		t.Run(c.name, func(t *testing.T) {
			err := strictjson.Check([]byte(c.in), c.opts)
			if c.want == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			kind, what, _ := strings.Cut(c.want, " ")
			var (
				dup   *strictjson.DuplicateKeyError
				depth *strictjson.DepthError
				unk   *strictjson.UnknownFieldError
				syn   *strictjson.SyntaxError
				sur   *strictjson.SurrogateError
			)
			switch kind {
			case "surrogate":
				require.ErrorAs(t, err, &sur)
				if what != "" {
					require.Equal(t, what, sur.Path.String())
				}
				require.Equal(t, `\u`, c.in[sur.Offset:sur.Offset+2])
			case "dup":
				require.ErrorAs(t, err, &dup)
				require.Equal(t, what, dup.Path.String())
			case "depth":
				require.ErrorAs(t, err, &depth)
				if what != "" {
					require.Equal(t, what, depth.Path.String())
				}
				require.Contains(t, "[{", c.in[depth.Offset:depth.Offset+1])
			case "unknown":
				require.ErrorAs(t, err, &unk)
				if what != "" {
					require.Equal(t, what, unk.Key)
				}
			case "syntax":
				require.ErrorAs(t, err, &syn)
				if what != "" {
					require.Equal(t, what, itoa(syn.Offset))
				}
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func manyKeys(n int, dup bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + itoa(int64(i)) + `":1`)
	}
	if dup {
		b.WriteString(`,"k0":2`)
	}
	b.WriteString("}")
	return b.String()
}

func TestPathString(t *testing.T) {
	p := strictjson.Path{{Key: "ops", Index: -1}, {Index: 3}, {Key: "x y", Index: -1}, {Key: strings.Repeat("é", 40), Index: -1}}
	s := p.String()
	require.True(t, strings.HasPrefix(s, `ops[3]["x y"]["éé`), s)
	require.True(t, strings.HasSuffix(s, `…"]`), s)
	require.Less(t, len(s), 100)
	require.Equal(t, "", strictjson.Path{}.String())
}

// kindOf names the kind of a Check error as jsonref does, with its path.
func kindOf(t *testing.T, data []byte, err error) (string, strictjson.Path) {
	t.Helper()
	var (
		dup   *strictjson.DuplicateKeyError
		depth *strictjson.DepthError
		unk   *strictjson.UnknownFieldError
		syn   *strictjson.SyntaxError
		sur   *strictjson.SurrogateError
	)
	switch {
	case err == nil:
		return jsonref.None, nil
	case errors.As(err, &syn):
		require.GreaterOrEqual(t, syn.Offset, int64(0))
		require.LessOrEqual(t, syn.Offset, int64(len(data)))
		return jsonref.Syntax, nil
	case errors.As(err, &dup):
		require.Equal(t, byte('"'), data[dup.Offset], "a duplicate key's offset is its opening quote")
		return jsonref.Duplicate, dup.Path
	case errors.As(err, &depth):
		require.Contains(t, "[{", string(data[depth.Offset]), "a depth error's offset is the opening bracket")
		return jsonref.Depth, depth.Path
	case errors.As(err, &unk):
		return jsonref.Unknown, strictjson.Path{{Key: unk.Key, Index: -1}}
	case errors.As(err, &sur):
		require.Equal(t, `\u`, string(data[sur.Offset:sur.Offset+2]), "a surrogate's offset is its escape")
		return jsonref.Surrogate, sur.Path
	}
	t.Fatalf("Check returned %T: %v", err, err)
	return "", nil
}

// TestReferenceAgrees holds the naive reference FuzzCheck compares with to
// the expectations written by hand in TestCheck's table, so that a bug in
// the reference cannot hide one in Check.
func TestReferenceAgrees(t *testing.T) {
	kinds := map[string]string{"": jsonref.None, "dup": jsonref.Duplicate, "depth": jsonref.Depth,
		"unknown": jsonref.Unknown, "syntax": jsonref.Syntax, "surrogate": jsonref.Surrogate}
	for _, c := range checkCases() {
		t.Run(c.name, func(t *testing.T) {
			kind, what, _ := strings.Cut(c.want, " ")
			got := jsonref.Of([]byte(c.in), c.opts)
			require.Equal(t, kinds[kind], got.Kind)
			if what != "" && kind != "syntax" {
				require.Equal(t, what, got.Path.String())
			}
		})
	}
}

// FuzzCheck compares Check with a naive reference (jsonref, built on
// encoding/json's Token stream) on any input: the same kind of first
// problem (syntax before anything else; then the first duplicate key,
// excess nesting, unknown top-level key or lone surrogate in document
// order) at the same path, with an offset that points at it. A limit of 4
// levels keeps excess nesting within the fuzzer's reach. Whatever Check
// passes decodes with JSON v2's defaults and with encoding/json.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[[[[[]]]]]`, `{"a":[{"b":1,"b":{}}]}`, `{"a":[[[{"b":1}]]]}`,
		`{"x":1}`, `{"a":{"x":1},"A":2}`, `1e400`, `"\ud800"`, `{"a":["\ud83d\ude00","\\ud800","\udc00"]}`, `{"b\udfff":1}`,
		"{\"\xff\":1}", `{} {}`, ``, `{"a":1,"a":2`, `{"a":[1,]}`, `{"0":{"b":0,"b"`} {
		f.Add([]byte(s))
	}
	opts := strictjson.Options{MaxDepth: 4, Fields: []string{"a", "b", "0"}}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := strictjson.Check(data, opts)
		want := jsonref.Of(data, opts)
		kind, path := kindOf(t, data, err)
		require.Equal(t, want.Kind, kind, "Check: %v", err)
		if kind != jsonref.Syntax {
			require.Equal(t, want.Path.String(), path.String(), "Check: %v", err)
		}
		if err == nil {
			var raw jsontext.Value // JSON v2's own strictness, numbers of any size
			require.NoError(t, jsonv2.Unmarshal(data, &raw))
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.UseNumber()
			var v any
			require.NoError(t, dec.Decode(&v))
		}
	})
}

// BenchmarkCheck measures Check on a typical PATCH body and on a 100-op one,
// next to decoding the latter with encoding/json for scale.
func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"expected_version":7,"ops":[` +
		strings.TrimSuffix(strings.Repeat(`{"op":"add_item","sku":"steak","qty":2,"seat":1,"course":2,"modifiers":["no onions","extra sauce"],"note":"medium rare"},`, 100), ",") +
		`],"force":false}`)
	small := []byte(`{"expected_version":7,"ops":[{"op":"add_item","sku":"steak","qty":2,"modifiers":["no onions"]},{"op":"send"}]}`)
	b.Run("CheckSmall", func(b *testing.B) {
		b.SetBytes(int64(len(small)))
		b.ReportAllocs()
		for b.Loop() {
			if err := strictjson.Check(small, strictjson.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Check", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := strictjson.Check(body, strictjson.Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var v any
			if err := json.Unmarshal(body, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}
