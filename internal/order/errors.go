package order

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ErrNotFound means the order does not exist in the caller's venue. Another
// venue's order is indistinguishable from a missing one.
var ErrNotFound = errors.New("order not found")

// FieldProblem names one thing wrong with a request: the op it belongs to
// (nil for a top-level field), the field and what is wrong with it.
type FieldProblem struct {
	OpIndex *int   `json:"op_index,omitempty"`
	Field   string `json:"field"`
	Detail  string `json:"detail"`
}

func (p FieldProblem) String() string {
	if p.OpIndex != nil {
		return fmt.Sprintf("ops[%d].%s: %s", *p.OpIndex, p.Field, p.Detail)
	}
	return p.Field + ": " + p.Detail
}

// ValidationError is a request that is well-formed JSON but breaks a rule:
// unknown op, sku, line or table, a value out of range, a missing reason, or
// an op not allowed in the line's state. Nothing was written.
type ValidationError struct {
	Problems []FieldProblem
}

func (e *ValidationError) Error() string { return "invalid request: " + joinProblems(e.Problems) }

func joinProblems(probs []FieldProblem) string {
	parts := make([]string, len(probs))
	for i, p := range probs {
		parts[i] = p.String()
	}
	return strings.Join(parts, "; ")
}

// ForbiddenOpError is an op the actor's role may not perform (void and comp
// are for managers). Nothing was written.
type ForbiddenOpError struct {
	Problems []FieldProblem
}

func (e *ForbiddenOpError) Error() string { return "forbidden: " + joinProblems(e.Problems) }

// ConflictError is a write whose precondition named a version that is no
// longer current. Current is the authoritative order read after the refused
// write; Changes are the events after Expected, oldest first.
type ConflictError struct {
	Expected int64
	Current  Order
	Changes  []Event
	// Truncated is true when Changes holds only the newest of the events
	// since Expected (the store bounds what a refusal carries).
	Truncated bool
	// IfMatch is true when the precondition came from the If-Match header
	// (answered 412) rather than expected_version (answered 409).
	IfMatch bool
	// RecordErr is set when the refusal could not be recorded in the
	// conflict log; the answer to the client is the same.
	RecordErr error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("version conflict: expected %d, current %d", e.Expected, e.Current.Version)
}

// ConflictsError is a change between two orders (a transfer, a merge)
// refused because at least one of them is not at the version the request
// named: one ConflictError for each order that moved, and nothing written.
type ConflictsError struct {
	Conflicts []*ConflictError
}

func (e *ConflictsError) Error() string {
	var b strings.Builder
	for i, c := range e.Conflicts {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "order %s: %v", c.Current.ID, c)
	}
	return b.String()
}

// ClosedError is a change to an order that is already closed.
type ClosedError struct {
	Current Order
}

func (e *ClosedError) Error() string { return "order " + e.Current.ID.String() + " is closed" }

// TableOccupiedError is an open or move onto a table that already has an open
// order. OccupiedBy is that order's id when it could be read. Current is
// the order the request addressed (a move) or, for an open, which addresses
// none, the occupying order.
type TableOccupiedError struct {
	Table      string
	Current    *Order
	OccupiedBy *uuid.UUID
}

func (e *TableOccupiedError) Error() string { return "table " + e.Table + " already has an open order" }

// invalid builds a one-problem ValidationError for op i (i < 0: top level).
func invalid(i int, field, detail string) *ValidationError {
	return &ValidationError{Problems: []FieldProblem{OpProblem(i, field, detail)}}
}

// OpProblem is the problem of field of op i (i < 0: a top-level field, or
// no op known).
func OpProblem(i int, field, detail string) FieldProblem {
	p := FieldProblem{Field: field, Detail: detail}
	if i >= 0 {
		idx := i
		p.OpIndex = &idx
	}
	return p
}

// UnavailableError is an add_item of an item that is 86'd (marked
// unavailable, until Until when set). Nothing was written.
type UnavailableError struct {
	OpIndex int
	SKU     string
	Until   *time.Time
}

func (e *UnavailableError) Error() string {
	switch {
	case e.SKU == "": // the refusal's item could not be read back
		return "an item this change adds is unavailable"
	case e.Until != nil:
		return fmt.Sprintf("%q is unavailable until %s", e.SKU, e.Until.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("%q is unavailable", e.SKU)
}

// SoldOutError is a change that needs more portions of a counted item than
// remain (an add_item, or a set_qty that raises a line). Remaining is what
// is left, Wanted what the change needed. Nothing was written.
type SoldOutError struct {
	OpIndex   int
	SKU       string
	Remaining int
	Wanted    int
}

func (e *SoldOutError) Error() string {
	if e.SKU == "" { // the refusal's item could not be read back
		return "an item this change takes is sold out"
	}
	return fmt.Sprintf("%q is sold out: %d left, this change needs %d", e.SKU, e.Remaining, e.Wanted)
}

// RefundRequiredError is a change by someone other than a manager that
// would leave money owed back: after it the order's total would be lower
// than before and below what has been paid (due below zero). Taking money
// off a paid order is a manager's, who gives the difference back with
// refund_payment. OpIndex is the last op of the request that lowered the
// total, Op its kind and Field the field that did it; TotalCents and
// PaidCents are what the total and the amount paid would have been.
// Nothing was written.
type RefundRequiredError struct {
	OpIndex    int
	Op         string
	Field      string
	TotalCents int64
	PaidCents  int64
}

func (e *RefundRequiredError) Error() string {
	return fmt.Sprintf("%s would lower the total to %d cents, below the %d cents paid: %d cents would be owed back; "+
		"taking money off a paid order is a manager's, who refunds the difference (refund_payment)",
		e.Op, e.TotalCents, e.PaidCents, e.PaidCents-e.TotalCents)
}
