// Package strictjson checks a JSON document for what encoding/json lets
// through silently: an object key given twice (encoding/json keeps the last,
// so two parsers can read one body differently), nesting deeper than a
// request ever needs, and top-level keys that differ from the expected ones
// only in case (encoding/json matches struct fields case-insensitively). It
// does not decode; run it on the raw body first, then decode as usual.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DefaultMaxDepth is the nesting limit used when Options.MaxDepth is 0.
const DefaultMaxDepth = 8

// Options tune Check.
type Options struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed; the
	// top-level object or array is depth 1. 0 means DefaultMaxDepth; more
	// than encoding/json's limit (10000) means that limit.
	MaxDepth int
	// Fields, when not nil, are the only keys the top-level object may
	// have, compared byte for byte.
	Fields []string
}

// Step is one step of a Path: an object key, or an array index when Index
// is not negative.
type Step struct {
	Key   string
	Index int
}

// Path locates a value in a document, from the top.
type Path []Step

// maxKeyInPath bounds how much of a key a Path prints, so an error about a
// 60 KiB key is not itself 60 KiB.
const maxKeyInPath = 64

// String renders the path as ops[2].qty; keys that are not plain
// identifiers are quoted: ops[0]["a.b"].
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.Index >= 0:
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.Index))
			b.WriteByte(']')
		case isIdent(s.Key) && len(s.Key) <= maxKeyInPath:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Key)
		default:
			b.WriteByte('[')
			b.WriteString(strconv.Quote(shorten(s.Key)))
			b.WriteByte(']')
		}
	}
	return b.String()
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func shorten(s string) string {
	if len(s) <= maxKeyInPath {
		return s
	}
	cut := maxKeyInPath
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// SyntaxError is a document that is not exactly one JSON value: bad syntax,
// a truncated value, or data after the value. Offset is the byte at which
// the problem was found.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// DuplicateKeyError is an object that has a key twice. Path ends with that
// key.
type DuplicateKeyError struct {
	Path   Path
	Offset int64
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("duplicate key %s at byte %d", e.Path, e.Offset)
}

// DepthError is an object or array nested deeper than the limit. Path is
// where the first too-deep value starts.
type DepthError struct {
	Path   Path
	Limit  int
	Offset int64
}

func (e *DepthError) Error() string {
	return fmt.Sprintf("%s nested deeper than %d levels at byte %d", e.Path, e.Limit, e.Offset)
}

// UnknownFieldError is a top-level key that is not one of Options.Fields.
type UnknownFieldError struct {
	Key    string
	Offset int64
}

func (e *UnknownFieldError) Error() string {
	return fmt.Sprintf("unknown field %s at byte %d", Path{{Key: e.Key, Index: -1}}, e.Offset)
}

// SurrogateError is a string whose \u escapes spell half of a UTF-16
// surrogate pair (U+D800 to U+DFFF not in a high-low pair). encoding/json
// turns it into U+FFFD without a word, so what was sent is not what is
// stored. Path is the string's key or value.
type SurrogateError struct {
	Path   Path
	Offset int64
}

func (e *SurrogateError) Error() string {
	return fmt.Sprintf("lone UTF-16 surrogate in %s at byte %d", e.Path, e.Offset)
}

// loneSurrogate returns the offset in raw (one JSON string token, perhaps
// after blanks and a separator) of the first \u escape that is a surrogate
// not part of a high-low pair, or -1.
func loneSurrogate(raw []byte) int {
	if !bytes.Contains(raw, []byte(`\u`)) {
		return -1
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if i+1 >= len(raw) || raw[i+1] != 'u' {
			i++ // an escaped character, perhaps a backslash
			continue
		}
		r := hex4(raw[i+2:])
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if i+12 <= len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
				if lo := hex4(raw[i+8:]); lo >= 0xDC00 && lo <= 0xDFFF {
					i += 11
					continue
				}
			}
			return i
		case r >= 0xDC00 && r <= 0xDFFF:
			return i
		}
		i += 5
	}
	return -1
}

// hex4 decodes four hex digits at the start of b, or returns -1.
func hex4(b []byte) int {
	if len(b) < 4 {
		return -1
	}
	n := 0
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			n = n<<4 | int(c-'0')
		case c >= 'a' && c <= 'f':
			n = n<<4 | int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			n = n<<4 | int(c-'A'+10)
		default:
			return -1
		}
	}
	return n
}

// frame is one open object or array.
type frame struct {
	object  bool
	wantKey bool   // object: the next token is a key or '}'
	key     string // object: the key whose value is being read
	index   int    // array: the index of the value being read
	keys    []string
	set     map[string]struct{} // object: keys, once there are many
}

// goMaxDepth is encoding/json's nesting limit; Check's cannot be higher.
const goMaxDepth = 10000

// skip is a json.Unmarshaler that keeps nothing: unmarshalling into it only
// checks syntax.
type skip struct{}

func (*skip) UnmarshalJSON([]byte) error { return nil }

// setAfter is the key count from which an object's keys go into a map: a
// linear scan is cheaper for the handful of keys a request object has.
const setAfter = 16

// Check reads data as exactly one JSON value in valid UTF-8 and returns the
// first problem as a *SyntaxError, *DuplicateKeyError, *DepthError,
// *UnknownFieldError or *SurrogateError, or nil. Keys are compared after unescaping, so "qty"
// and "q\u0074y" are the same key. Numbers of any size are accepted here;
// whether they fit is the decoder's question.
func Check(data []byte, opts Options) error {
	limit := opts.MaxDepth
	if limit <= 0 {
		limit = DefaultMaxDepth
	}
	limit = min(limit, goMaxDepth)
	if !utf8.Valid(data) {
		return &SyntaxError{Offset: int64(invalidUTF8At(data)), Msg: "invalid UTF-8"}
	}
	// Syntax first, in one cheap pass, so a malformed document is a
	// *SyntaxError whatever else is wrong with it: the token stream below
	// would report a duplicate key it meets before the syntax error.
	// encoding/json's own depth limit is not a syntax error; the token
	// stream reports it as a *DepthError.
	if err := json.Unmarshal(data, &skip{}); err != nil {
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return &SyntaxError{Offset: 0, Msg: err.Error()}
		}
		if msg := se.Error(); !strings.HasSuffix(msg, "exceeded max depth") {
			// Offset counts the bytes read, the bad one included.
			off := se.Offset
			if off > 0 && off <= int64(len(data)) && !strings.HasPrefix(msg, "unexpected end") {
				off--
			}
			return &SyntaxError{Offset: off, Msg: msg}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// Without UseNumber, Token fails on numbers beyond float64 (1e400).
	dec.UseNumber()
	stack := make([]frame, 0, min(limit, 16))
	done := false
	for !done {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return syntaxError(dec, data, err)
		}
		lone := -1
		if _, ok := tok.(string); ok {
			// Between start and the decoder's offset lie only blanks, a
			// separator and this string.
			lone = loneSurrogate(data[start:dec.InputOffset()])
		}
		if n := len(stack); n > 0 && stack[n-1].wantKey {
			top := &stack[n-1]
			if tok == json.Delim('}') {
				stack = stack[:n-1]
				done = valueDone(stack)
				continue
			}
			key, _ := tok.(string) // Token returns only strings or '}' here
			if lone >= 0 {
				return &SurrogateError{Path: pathOf(stack, key, -1), Offset: start + int64(lone)}
			}
			if top.has(key) {
				return &DuplicateKeyError{Path: pathOf(stack, key, -1), Offset: dec.InputOffset()}
			}
			if n == 1 && opts.Fields != nil && !contains(opts.Fields, key) {
				return &UnknownFieldError{Key: key, Offset: dec.InputOffset()}
			}
			top.add(key)
			top.key, top.wantKey = key, false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) >= limit {
				return &DepthError{Path: pathOf(stack, "", -2), Limit: limit, Offset: dec.InputOffset() - 1}
			}
			f := frame{object: tok == json.Delim('{')}
			f.wantKey = f.object
			// Reuse the key slice of an earlier frame at this depth.
			if n := len(stack); n < cap(stack) {
				f.keys = stack[:n+1][n].keys[:0]
			}
			stack = append(stack, f)
		case json.Delim(']'):
			stack = stack[:len(stack)-1]
			done = valueDone(stack)
		default:
			if lone >= 0 {
				return &SurrogateError{Path: pathOf(stack, "", -2), Offset: start + int64(lone)}
			}
			done = valueDone(stack)
		}
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		for end < int64(len(data)) && isSpace(data[end]) {
			end++
		}
		return &SyntaxError{Offset: end, Msg: "unexpected data after the JSON value"}
	}
	return nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func invalidUTF8At(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(data)
}

// valueDone records that the value being read in the top frame is complete
// and reports whether it was the top-level value.
func valueDone(stack []frame) bool {
	if len(stack) == 0 {
		return true
	}
	top := &stack[len(stack)-1]
	if top.object {
		top.wantKey = true
	} else {
		top.index++
	}
	return false
}

func (f *frame) has(key string) bool {
	if f.set != nil {
		_, ok := f.set[key]
		return ok
	}
	for _, k := range f.keys {
		if k == key {
			return true
		}
	}
	return false
}

func (f *frame) add(key string) {
	switch {
	case f.set != nil:
		f.set[key] = struct{}{}
	case len(f.keys) < setAfter:
		f.keys = append(f.keys, key)
	default:
		f.set = make(map[string]struct{}, 2*setAfter)
		for _, k := range f.keys {
			f.set[k] = struct{}{}
		}
		f.set[key] = struct{}{}
	}
}

// pathOf is the path of the value being read in the top frame (index == -2)
// or, with index == -1, of key in the top frame, an object.
func pathOf(stack []frame, key string, index int) Path {
	p := make(Path, 0, len(stack)+1)
	for i, f := range stack {
		switch {
		case i == len(stack)-1 && index == -1:
			p = append(p, Step{Key: key, Index: -1})
		case f.object:
			p = append(p, Step{Key: f.key, Index: -1})
		default:
			p = append(p, Step{Index: f.index})
		}
	}
	return p
}

func syntaxError(dec *json.Decoder, data []byte, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return &SyntaxError{Offset: se.Offset, Msg: se.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &SyntaxError{Offset: int64(len(data)), Msg: "unexpected end of JSON input"}
	}
	return &SyntaxError{Offset: dec.InputOffset(), Msg: err.Error()}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
