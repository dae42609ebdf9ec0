// Package jsonref is a naive reference for strictjson.Check, for tests
// only: it finds the same problems another way (encoding/json's validator
// and Token stream, a stack of key sets, a regular expression for lone
// surrogates), so a test can compare the two on any input.
package jsonref

import (
	"bytes"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/posd/posd/internal/strictjson"
)

// Problem kinds, as strictjson's error types.
const (
	None      = ""
	Syntax    = "syntax"
	Duplicate = "duplicate"
	Depth     = "depth"
	Unknown   = "unknown"
	Surrogate = "surrogate"
)

// Problem is the first problem of a document: its kind and the path of
// the value at fault (for Unknown, the key alone).
type Problem struct {
	Kind string
	Path strictjson.Path
}

// Of returns the problem strictjson.Check(data, opts) should report.
func Of(data []byte, opts strictjson.Options) Problem {
	limit := opts.MaxDepth
	if limit <= 0 {
		limit = strictjson.DefaultMaxDepth
	}
	limit = min(limit, 10000) // the most Check's options can ask for
	if !utf8.Valid(data) {
		return Problem{Kind: Syntax}
	}
	var v json.RawMessage // syntax only: any number fits
	if err := json.Unmarshal(data, &v); err != nil {
		var se *json.SyntaxError
		// encoding/json gives up past 10000 levels; that is nesting,
		// not syntax.
		if !errors.As(err, &se) || !strings.Contains(se.Error(), "exceeded max depth") {
			return Problem{Kind: Syntax}
		}
	}
	type level struct {
		object bool
		keys   map[string]bool
		key    string // object: the key of the value being read
		index  int    // array: the index of the value being read
		named  bool   // object: the key is read, its value is next
	}
	var stack []*level
	path := func() strictjson.Path {
		p := strictjson.Path{}
		for _, l := range stack {
			if l.object {
				p = append(p, strictjson.Step{Key: l.key, Index: -1})
			} else {
				p = append(p, strictjson.Step{Index: l.index})
			}
		}
		return p
	}
	// done records that a value of the top level is complete.
	done := func() {
		if len(stack) == 0 {
			return
		}
		if top := stack[len(stack)-1]; top.object {
			top.named = false
		} else {
			top.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return Problem{}
		}
		raw := data[start:dec.InputOffset()]
		if s, ok := tok.(string); ok {
			if n := len(stack); n > 0 && stack[n-1].object && !stack[n-1].named {
				top := stack[n-1]
				top.key, top.named = s, true
				switch {
				case loneSurrogate(raw):
					return Problem{Kind: Surrogate, Path: path()}
				case top.keys[s]:
					return Problem{Kind: Duplicate, Path: path()}
				case n == 1 && opts.Fields != nil && !contains(opts.Fields, s):
					return Problem{Kind: Unknown, Path: strictjson.Path{{Key: s, Index: -1}}}
				}
				top.keys[s] = true
				continue
			}
			if loneSurrogate(raw) {
				return Problem{Kind: Surrogate, Path: path()}
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= limit {
				return Problem{Kind: Depth, Path: path()}
			}
			stack = append(stack, &level{object: tok == json.Delim('{'), keys: map[string]bool{}})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			done()
		default:
			done()
		}
	}
}

var (
	escapedBackslash = regexp.MustCompile(`\\\\`)
	surrogatePair    = regexp.MustCompile(`\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}`)
	surrogateHalf    = regexp.MustCompile(`\\u[dD][89a-fA-F][0-9a-fA-F]{2}`)
)

// loneSurrogate reports whether the raw text of a string token has a \u
// escape of half a surrogate pair outside a pair.
func loneSurrogate(raw []byte) bool {
	s := escapedBackslash.ReplaceAll(raw, []byte("__"))
	s = surrogatePair.ReplaceAll(s, []byte("_"))
	return surrogateHalf.Match(s)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
