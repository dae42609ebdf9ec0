package order

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"
)

// MarshalJSON writes an op with its omitempty fields left out, except that an
// add_item always carries "modifiers" (as [] when there are none), as the
// line it creates does.
func (op Op) MarshalJSON() ([]byte, error) {
	type plain Op
	if op.Op == OpSplitEven && op.Split != 0 {
		// A request: "checks" is how many.
		return json.Marshal(struct {
			plain
			Checks int `json:"checks"`
		}{plain(op), op.Split})
	}
	if op.Op != OpAddItem {
		return json.Marshal(plain(op))
	}
	mods := op.Modifiers
	if mods == nil {
		mods = []string{}
	}
	return json.Marshal(struct {
		plain
		Modifiers []string `json:"modifiers"`
	}{plain(op), mods})
}

// PatchOps is the "ops" array of a PATCH body as a client sends it,
// decoded in the same pass as the rest of the body (it is a JSON v2
// UnmarshalerFrom): each op must be an object with a known "op", only the
// fields that op takes, each of the right type, null being the same as
// absent. A mistake in an op does not stop the decoding: every one found
// is in Problems, with its op index and field, so the caller can report
// them all after its own earlier checks. Malformed JSON (a name given
// twice included) does stop it, with the decoder's error.
type PatchOps struct {
	Ops      []Op // nil when "ops" is null; the ops as far as they decoded
	Problems []FieldProblem
}

// UnmarshalJSONFrom reads a JSON array of ops, or null. Anything else is a
// *json.SemanticError for a slice of ops.
func (p *PatchOps) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*p = PatchOps{}
	switch k := dec.PeekKind(); k {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '[':
	case 0: // the decoder's own error
		_, err := dec.ReadToken()
		return err
	default:
		return &jsonv2.SemanticError{JSONKind: k, GoType: reflect.TypeFor[[]Op]()}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	p.Ops = []Op{}
	for i := 0; dec.PeekKind() != ']'; i++ {
		op, probs, err := decodeOp(dec, i)
		if err != nil {
			return err
		}
		p.Ops = append(p.Ops, op)
		p.Problems = append(p.Problems, probs...)
	}
	_, err := dec.ReadToken()
	return err
}

// DecodeOps decodes ops held one by one (each one JSON value) as PatchOps
// does, and returns every problem as a *ValidationError.
func DecodeOps(raws []json.RawMessage) ([]Op, error) {
	list := []byte{'['}
	for i, raw := range raws {
		if i > 0 {
			list = append(list, ',')
		}
		list = append(list, raw...)
	}
	var p PatchOps
	if err := jsonv2.Unmarshal(append(list, ']'), &p); err != nil {
		return nil, err
	}
	if len(p.Problems) > 0 {
		return nil, &ValidationError{Problems: p.Problems}
	}
	return p.Ops, nil
}

// optionChoice is an option of add_item as a client sends it: only the ids
// (names and prices come from the menu).
type optionChoice struct {
	Group  string `json:"group"`
	Option string `json:"option"`
}

// member is one name of an op object and what was wrong with its value.
type member struct {
	name, detail string
}

// decodeOp reads op i, which the decoder is at. Problems with it come back
// as FieldProblems; the error is the decoder's, for malformed JSON.
func decodeOp(dec *jsontext.Decoder, i int) (Op, []FieldProblem, error) {
	var op Op
	if dec.PeekKind() != '{' {
		if err := dec.SkipValue(); err != nil {
			return op, nil, err
		}
		return op, []FieldProblem{OpProblem(i, "op", "each op must be a JSON object")}, nil
	}
	if _, err := dec.ReadToken(); err != nil {
		return op, nil, err
	}
	var members []member
	hasKind, kindDetail := false, ""
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return op, nil, err
		}
		name := tok.String()
		detail, err := decodeField(dec, &op, name)
		if err != nil {
			return op, nil, err
		}
		if name == "op" {
			hasKind, kindDetail = true, detail
			continue
		}
		members = append(members, member{name, detail})
	}
	if _, err := dec.ReadToken(); err != nil {
		return op, nil, err
	}
	if !hasKind {
		return op, []FieldProblem{OpProblem(i, "op", "missing; one of "+strings.Join(opNames(), ", "))}, nil
	}
	if kindDetail != "" {
		return op, []FieldProblem{OpProblem(i, "op", kindDetail)}, nil
	}
	allowed, known := opFields[op.Op]
	if !known {
		return op, []FieldProblem{OpProblem(i, "op", fmt.Sprintf("unknown op %q; one of %s", op.Op, strings.Join(opNames(), ", ")))}, nil
	}
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.name, b.name) })
	var probs []FieldProblem
	for _, m := range members {
		switch {
		case !contains(allowed, m.name):
			probs = append(probs, OpProblem(i, m.name, fmt.Sprintf("not a field of %s", op.Op)))
		case m.detail != "":
			probs = append(probs, OpProblem(i, m.name, m.detail))
		}
	}
	return op, probs, nil
}

// decodeField reads the value of the member name into op, or skips it if
// op has no such field (whether the op takes it is decided after the whole
// object, when its kind is known). null is absent. A value of the wrong
// type is a detail ("must be a string"), not an error; the error is the
// decoder's, for malformed JSON.
func decodeField(dec *jsontext.Decoder, op *Op, name string) (detail string, err error) {
	if dec.PeekKind() == 'n' && name != "op" {
		_, err := dec.ReadToken()
		return "", err
	}
	var dst any
	want := ""
	var lineID string
	var choices []optionChoice
	switch name {
	case "op":
		dst, want = &op.Op, "a string"
	case "sku":
		dst, want = &op.SKU, "a string"
	case "note":
		dst, want = &op.Note, "a string"
	case "reason":
		dst, want = &op.Reason, "a string"
	case "table":
		dst, want = &op.Table, "a string"
	case "tender":
		dst, want = &op.Tender, "a string"
	case "qty":
		dst, want = &op.Qty, "an integer"
	case "seat":
		dst, want = &op.Seat, "an integer"
	case "course":
		dst, want = &op.Course, "an integer"
	case "guests":
		dst, want = &op.Guests, "an integer"
	case "amount_cents":
		dst, want = &op.AmountCents, "an integer (cents)"
	case "tip_cents":
		dst, want = &op.TipCents, "an integer (cents)"
	case "modifiers":
		dst, want = &op.Modifiers, "an array of strings"
	case "line_id":
		dst, want = &lineID, "a UUID string"
	case "payment_id":
		dst, want = &lineID, "a UUID string"
	case "id":
		dst, want = &op.ID, "a string"
	case "discount_id":
		dst, want = &op.DiscountID, "a string"
	case "percent_bps":
		dst, want = &op.PercentBps, "an integer (basis points)"
	case "payment_index":
		dst, want = &op.PaymentIndex, "an integer"
	case "options":
		dst, want = &choices, `an array of {"group", "option"} objects`
	case "check":
		dst, want = &op.Check, "an integer (a check number)"
	case "from":
		dst, want = &op.From, "an integer (a check number)"
	case "into":
		dst, want = &op.Into, "an integer (a check number)"
	case "new_line_id":
		dst, want = &lineID, "a UUID string"
	case "checks":
		// share_line's list of checks, or split_even's count.
		if dec.PeekKind() == '0' {
			dst, want = &op.Split, "an integer"
		} else {
			dst, want = &op.Checks, "an array of check numbers"
		}
	default:
		return "", dec.SkipValue()
	}
	// The value is read whole, then decoded on its own: a value of the
	// wrong type decoded in place would leave the decoder unusable for
	// the rest of the body (the library gives up on the enclosing
	// objects after a failed UnmarshalDecode).
	val, err := dec.ReadValue()
	if err != nil {
		return "", err
	}
	if err := jsonv2.Unmarshal(val, dst, jsonv2.RejectUnknownMembers(true)); err != nil {
		return "must be " + want, nil
	}
	if name == "options" {
		op.Options = make([]LineOption, len(choices))
		for j, c := range choices {
			op.Options[j] = LineOption{Group: c.Group, Option: c.Option}
		}
	}
	if name == "line_id" || name == "payment_id" || name == "new_line_id" {
		id, err := uuid.Parse(lineID)
		if err != nil || id == uuid.Nil || len(lineID) != 36 {
			return "must be " + want, nil
		}
		switch name {
		case "line_id":
			op.LineID = &id
		case "payment_id":
			op.PaymentID = &id
		default:
			op.NewLineID = &id
		}
	}
	return "", nil
}
