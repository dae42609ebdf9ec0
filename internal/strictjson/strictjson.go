// Package strictjson decodes request bodies strictly with JSON v2
// (github.com/go-json-experiment/json): member names matched exactly,
// unknown members refused, no name twice in an object, valid UTF-8 and
// escapes. It adds only what that library cannot express: a nesting limit,
// the rule that a malformed body is a syntax error whatever else is wrong
// with it, and one error type per kind of problem with the path of the
// value at fault (ops[2].qty), so a caller can answer each the same way
// whatever it was decoding into.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// DefaultMaxDepth is the nesting limit used when Options.MaxDepth is 0.
const DefaultMaxDepth = 8

// Options tune Check and Unmarshal.
type Options struct {
	// MaxDepth is the deepest nesting of objects and arrays allowed; the
	// top-level object or array is depth 1. 0 means DefaultMaxDepth; more
	// than the library's own limit (10000) means that limit.
	MaxDepth int
	// Fields, when not nil, are the only keys the top-level object may
	// have, compared byte for byte. Check reports the first key that is
	// not one of them in document order with the other problems, as
	// Unmarshal's decode would not: it stops at its first error.
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

// SyntaxError is a document that is not exactly one JSON value in valid
// UTF-8: bad syntax, a truncated value, or data after the value. Offset is
// the byte at which the problem was found.
type SyntaxError struct {
	Offset int64
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// DuplicateKeyError is an object that has a key twice (after unescaping:
// "q\u0074y" is "qty"). Path ends with that key; Offset is where the second
// one starts.
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

// UnknownFieldError is a top-level key that is not one of Options.Fields
// (from Check), or that the destination has no field for (from Unmarshal).
type UnknownFieldError struct {
	Key    string
	Offset int64
}

func (e *UnknownFieldError) Error() string {
	return fmt.Sprintf("unknown field %s at byte %d", Path{{Key: e.Key, Index: -1}}, e.Offset)
}

// SurrogateError is a string whose \u escapes spell half of a UTF-16
// surrogate pair (U+D800 to U+DFFF not in a high-low pair). Path is the
// string's key (with U+FFFD for the half) or value; Offset is the \u.
type SurrogateError struct {
	Path   Path
	Offset int64
}

func (e *SurrogateError) Error() string {
	return fmt.Sprintf("lone UTF-16 surrogate in %s at byte %d", e.Path, e.Offset)
}

// Unmarshal decodes data, one JSON value, into dst in one pass with JSON
// v2 and RejectUnknownMembers. Only when that fails does it look for why
// with Check, so a structural problem is reported as its own error type,
// in document order, before any problem of meaning; otherwise the decode
// error is returned as it is (a *json.SemanticError, or what an
// UnmarshalerFrom method of dst returned), except that an unknown member
// of the top-level object is an *UnknownFieldError.
//
// A decode that succeeds is as deep as dst's type and no deeper, so dst
// must have a fixed shape (no any, map or jsontext.Value) within
// Options.MaxDepth: Unmarshal does not count levels when nothing is wrong.
func Unmarshal(data []byte, dst any, opts Options) error {
	err := json.Unmarshal(data, dst, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	if cerr := Check(data, opts); cerr != nil {
		return cerr
	}
	var se *json.SemanticError
	if errors.As(err, &se) && errors.Is(se.Err, json.ErrUnknownName) && !strings.Contains(string(se.JSONPointer.Parent()), "/") {
		return &UnknownFieldError{Key: se.JSONPointer.LastToken(), Offset: se.ByteOffset}
	}
	return err
}

// errLibraryDepth is jsontext's error for nesting past its own limit
// (10000 levels), which it does not export; libraryDepth is that limit.
// Nesting is Check's business, not a syntax error.
var errLibraryDepth, libraryDepth = func() (error, int) {
	for n := 1; n <= 1<<20; n *= 2 {
		dec := jsontext.NewDecoder(strings.NewReader(strings.Repeat("[", n)))
		err := dec.SkipValue()
		var se *jsontext.SyntacticError
		if errors.As(err, &se) && se.Err != io.ErrUnexpectedEOF {
			return se.Err, dec.StackDepth()
		}
	}
	return nil, 1 << 20 // no limit below a megabyte of nesting
}()

func tooDeepForLibrary(err error) bool {
	var se *jsontext.SyntacticError
	return errors.As(err, &se) && se.Err == errLibraryDepth
}

// Check reads data as exactly one JSON value in valid UTF-8 and returns the
// first problem as a *SyntaxError, or else the first in document order of
// a *DuplicateKeyError, *DepthError, *UnknownFieldError or
// *SurrogateError, or nil. Numbers of any size are accepted here; whether
// they fit is the decoder's question.
func Check(data []byte, opts Options) error {
	limit := opts.MaxDepth
	if limit <= 0 {
		limit = DefaultMaxDepth
	}
	limit = min(limit, libraryDepth)
	if !utf8.Valid(data) {
		return &SyntaxError{Offset: int64(invalidUTF8At(data)), Msg: "invalid UTF-8"}
	}
	// Syntax first, in a pass of its own, so a malformed document is a
	// *SyntaxError whatever else is wrong with it.
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if err := dec.SkipValue(); err != nil && !tooDeepForLibrary(err) {
		return syntaxError(err, data)
	} else if err == nil {
		// The library reads a stream of values; a request is one.
		end := dec.InputOffset()
		if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
			return &SyntaxError{Offset: int64(len(data) - len(rest)), Msg: "unexpected data after the JSON value"}
		}
	}
	// The bytes are valid UTF-8 and the syntax is right, so what the
	// library still refuses with its defaults is a name given twice or a
	// \u escape that is half a surrogate pair.
	dec = jsontext.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := dec.ReadToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return structureError(dec, data, err, limit)
		}
		switch depth := dec.StackDepth(); tok.Kind() {
		case '{', '[':
			if depth > limit {
				return &DepthError{Path: pathOf(dec, dec.StackPointer()), Limit: limit, Offset: dec.InputOffset() - 1}
			}
		case '"':
			if depth != 1 || opts.Fields == nil {
				continue
			}
			if kind, n := dec.StackIndex(1); kind == '{' && n%2 == 1 && !contains(opts.Fields, tok.String()) {
				return &UnknownFieldError{Key: tok.String(), Offset: dec.InputOffset()}
			}
		}
	}
}

// structureError classifies what the library refused in a document whose
// syntax is right.
func structureError(dec *jsontext.Decoder, data []byte, err error, limit int) error {
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return &SyntaxError{Offset: dec.InputOffset(), Msg: err.Error()}
	}
	switch {
	case se.Err == jsontext.ErrDuplicateName:
		return &DuplicateKeyError{Path: pathOf(dec, se.JSONPointer), Offset: se.ByteOffset}
	case se.Err == errLibraryDepth:
		return &DepthError{Path: pathOf(dec, dec.StackPointer()), Limit: limit, Offset: dec.InputOffset()}
	case se.ByteOffset < int64(len(data)) && bytes.HasPrefix(data[se.ByteOffset:], []byte(`\u`)):
		path := pathOf(dec, se.JSONPointer)
		if len(path) < dec.StackDepth() {
			// The pointer stops at the object: the escape is in a
			// name, which the library only reports as unreadable. Read
			// it as the library would with half pairs allowed.
			rest := bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n,")
			name, _ := jsontext.NewDecoder(bytes.NewReader(rest), jsontext.AllowInvalidUTF8(true)).ReadToken()
			path = append(path, Step{Key: name.String(), Index: -1})
		}
		return &SurrogateError{Path: path, Offset: se.ByteOffset}
	}
	return &SyntaxError{Offset: se.ByteOffset, Msg: se.Err.Error()}
}

// pathOf turns a JSON pointer within dec's current stack into a Path: a
// token is an array index where that level of the stack is an array.
func pathOf(dec *jsontext.Decoder, ptr jsontext.Pointer) Path {
	var p Path
	level := 0
	for tok := range ptr.Tokens() {
		level++
		if level <= dec.StackDepth() {
			if kind, _ := dec.StackIndex(level); kind == '[' {
				i, _ := strconv.Atoi(tok)
				p = append(p, Step{Index: i})
				continue
			}
		}
		p = append(p, Step{Key: tok, Index: -1})
	}
	return p
}

func syntaxError(err error, data []byte) error {
	var se *jsontext.SyntacticError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &SyntaxError{Offset: int64(len(data)), Msg: "unexpected end of JSON input"}
	case errors.As(err, &se):
		return &SyntaxError{Offset: min(se.ByteOffset, int64(len(data))), Msg: se.Err.Error()}
	}
	return &SyntaxError{Offset: 0, Msg: err.Error()}
}

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

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
