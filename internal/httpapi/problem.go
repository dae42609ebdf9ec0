package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/kitchen"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// ProblemBase prefixes every problem type; the last path segment names the
// problem and is what clients should match on.
const ProblemBase = "https://posd.dev/problems/"

// Problem is an RFC 9457 problem details body with posd's extension members.
type Problem struct {
	Type            string               `json:"type"`
	Title           string               `json:"title"`
	Status          int                  `json:"status"`
	Detail          string               `json:"detail"`
	Instance        string               `json:"instance,omitempty"`
	RequestID       string               `json:"request_id,omitempty"`
	Errors          []order.FieldProblem `json:"errors,omitempty"`
	ExpectedVersion *int64               `json:"expected_version,omitempty"`
	CurrentVersion  *int64               `json:"current_version,omitempty"`
	Current         *order.Order         `json:"current,omitempty"`
	Changes         *[]order.Event       `json:"changes,omitempty"`
	// LastCursor is the stream's last message on a cursor-ahead refusal.
	LastCursor *uint64 `json:"last_cursor,omitempty"`
	// ChangesTruncated is set on every version conflict: true when changes
	// holds only the newest events (see MaxConflictChanges), and then
	// ChangesURL lists them all.
	ChangesTruncated *bool   `json:"changes_truncated,omitempty"`
	ChangesURL       string  `json:"changes_url,omitempty"`
	OccupiedBy       *string `json:"occupied_by,omitempty"`
	// Remaining is what is left of a sold-out item; UnavailableUntil when
	// an 86'd item is orderable again (item-unavailable, sold-out).
	Remaining        *int            `json:"remaining,omitempty"`
	UnavailableUntil *time.Time      `json:"unavailable_until,omitempty"`
	Ticket           *kitchen.Ticket `json:"ticket,omitempty"`
	// PayableCents is the most a payment could have been (overpayment).
	PayableCents *int64 `json:"payable_cents,omitempty"`
	// Conflicts are, on a change between two orders refused as stale, the
	// orders that moved.
	Conflicts []orderConflict `json:"conflicts,omitempty"`

	// menuConflict marks a menu-version-conflict: its "current" is the
	// menu entity (menuCurrent, null when it does not exist), not an order.
	menuConflict bool
	menuCurrent  any
	// etagVersion is the version the refusal's ETag names, if any.
	etagVersion *int64
}

// MarshalJSON writes the problem; a menu conflict's current is its menu
// entity.
func (p Problem) MarshalJSON() ([]byte, error) {
	type plain Problem
	if !p.menuConflict {
		return json.Marshal(plain(p))
	}
	return json.Marshal(struct {
		plain
		Current any `json:"current"`
	}{plain(p), p.menuCurrent})
}

// orderConflict is one order that moved, in a refused change between two
// orders: the version the request named, the order as it is, and the
// changes since (bounded as a PATCH conflict's are).
type orderConflict struct {
	OrderID          uuid.UUID     `json:"order_id"`
	ExpectedVersion  int64         `json:"expected_version"`
	CurrentVersion   int64         `json:"current_version"`
	Current          order.Order   `json:"current"`
	Changes          []order.Event `json:"changes"`
	ChangesTruncated bool          `json:"changes_truncated"`
	ChangesURL       string        `json:"changes_url,omitempty"`
}

// changesURL lists every change since a refused write's version.
func changesURL(c *order.ConflictError) string {
	return "/v1/orders/" + c.Current.ID.String() + "/events?after_version=" + strconv.FormatInt(c.Expected, 10)
}

// conflictsDetail says which orders of a refused change between two moved.
func conflictsDetail(e *order.ConflictsError) string {
	d := ""
	for i, c := range e.Conflicts {
		if i > 0 {
			d += "; "
		}
		d += "the order on " + c.Current.Table + " is at version " + strconv.FormatInt(c.Current.Version, 10) +
			", not " + strconv.FormatInt(c.Expected, 10)
	}
	return d + ": look at the changes and retry with the current versions"
}

// requestError is a problem the HTTP edge itself finds in a request: bad JSON,
// wrong content type, missing precondition, bad query parameter.
type requestError struct {
	status int
	slug   string
	detail string
	field  string
}

func (e *requestError) Error() string { return e.detail }

func badRequest(field, detail string) error {
	return &requestError{status: http.StatusBadRequest, slug: "bad-request", detail: detail, field: field}
}

// errorTable is the one place that maps errors to statuses and problem types.
func toProblem(err error) (p Problem, conflictKind string) {
	var (
		reqErr      *requestError
		fiberErr    *fiber.Error
		valErr      *order.ValidationError
		forbidOp    *order.ForbiddenOpError
		conflict    *order.ConflictError
		conflicts   *order.ConflictsError
		closed      *order.ClosedError
		occupied    *order.TableOccupiedError
		unavailable *order.UnavailableError
		soldOut     *order.SoldOutError
		overpaid    *order.OverpaymentError
		owedBack    *order.RefundRequiredError
		ticketState *kitchen.StateError
		ahead       *kds.CursorAheadError
		streamLimit *streamLimitError
		menuConf    *order.MenuConflictError
		problemOf   = func(status int, slug, title, detail string) Problem {
			return Problem{Type: ProblemBase + slug, Title: title, Status: status, Detail: detail}
		}
	)
	switch {
	case errors.As(err, &reqErr):
		p = problemOf(reqErr.status, reqErr.slug, http.StatusText(reqErr.status), reqErr.detail)
		if reqErr.field != "" {
			p.Errors = []order.FieldProblem{{Field: reqErr.field, Detail: reqErr.detail}}
		}
	case errors.Is(err, auth.ErrUnauthenticated):
		p = problemOf(401, "unauthorized", "Unauthorized", "a valid bearer token is required")
	case errors.Is(err, auth.ErrForbidden):
		p = problemOf(403, "forbidden", "Forbidden", "this device's role may not do this")
	case errors.As(err, &forbidOp):
		p = problemOf(403, "forbidden", "Forbidden", forbidOp.Error())
		p.Errors = forbidOp.Problems
	case errors.As(err, &menuConf):
		p = problemOf(http.StatusPreconditionFailed, "menu-version-conflict", "Menu version conflict", menuConf.Error())
		cur := menuConf.CurrentVersion
		p.ExpectedVersion, p.CurrentVersion = menuConf.Expected, &cur
		p.menuConflict, p.menuCurrent = true, menuConf.Current
		if menuConf.Current != nil {
			p.etagVersion = &cur
		}
		conflictKind = "menu-version-conflict"
	case errors.Is(err, order.ErrNoMenuItem):
		p = problemOf(404, "not-found", "Not Found", "no such menu item")
	case errors.Is(err, order.ErrNotFound):
		p = problemOf(404, "not-found", "Not Found", "no such order")
	case errors.Is(err, kitchen.ErrNotFound):
		p = problemOf(404, "not-found", "Not Found", "no such ticket")
	case errors.As(err, &ticketState):
		p = problemOf(409, "ticket-state", "Ticket state", ticketState.Error())
		p.Ticket = &ticketState.Current
	case errors.As(err, &valErr):
		p = problemOf(422, "validation-failed", "Unprocessable Content", valErr.Error())
		p.Errors = valErr.Problems
	case errors.As(err, &conflicts):
		p = problemOf(http.StatusConflict, "version-conflict", "Version conflict", conflictsDetail(conflicts))
		for _, c := range conflicts.Conflicts {
			oc := orderConflict{OrderID: c.Current.ID, ExpectedVersion: c.Expected, CurrentVersion: c.Current.Version,
				Current: c.Current, Changes: c.Changes, ChangesTruncated: c.Truncated}
			if oc.Changes == nil {
				oc.Changes = []order.Event{}
			}
			if c.Truncated {
				oc.ChangesURL = changesURL(c)
			}
			p.Conflicts = append(p.Conflicts, oc)
		}
		conflictKind = "version-conflict"
	case errors.As(err, &conflict):
		status := http.StatusConflict
		if conflict.IfMatch {
			status = http.StatusPreconditionFailed
		}
		detail := "the order changed since version " + strconv.FormatInt(conflict.Expected, 10) +
			"; merge the changes and retry with expected_version " + strconv.FormatInt(conflict.Current.Version, 10)
		if conflict.Expected > conflict.Current.Version {
			detail = "the order has no version " + strconv.FormatInt(conflict.Expected, 10) +
				" yet; it is at version " + strconv.FormatInt(conflict.Current.Version, 10)
		}
		p = problemOf(status, "version-conflict", "Version conflict", detail)
		exp, cur := conflict.Expected, conflict.Current.Version
		changes := conflict.Changes
		if changes == nil {
			changes = []order.Event{}
		}
		p.ExpectedVersion, p.CurrentVersion, p.Current, p.Changes = &exp, &cur, &conflict.Current, &changes
		p.etagVersion = &cur
		truncated := conflict.Truncated
		p.ChangesTruncated = &truncated
		if truncated {
			p.ChangesURL = changesURL(conflict)
		}
		conflictKind = "version-conflict"
		if exp > cur {
			// A version the order never had is a client bug, not a
			// colleague's change: counted apart.
			conflictKind = "future-version"
		}
	case errors.As(err, &closed):
		p = problemOf(409, "order-closed", "Order closed", "the order is closed and cannot change")
		cur := closed.Current.Version
		p.CurrentVersion, p.Current, p.etagVersion = &cur, &closed.Current, &cur
		conflictKind = "order-closed"
	case errors.As(err, &occupied):
		p = problemOf(409, "table-occupied", "Table occupied", "table "+occupied.Table+" already has an open order")
		p.Current = occupied.Current
		if occupied.Current != nil {
			v := occupied.Current.Version
			p.etagVersion = &v
		}
		if occupied.OccupiedBy != nil {
			by := occupied.OccupiedBy.String()
			p.OccupiedBy = &by
		}
		conflictKind = "table-occupied"
	case errors.As(err, &unavailable):
		p = problemOf(409, "item-unavailable", "Item unavailable", unavailable.Error())
		p.Errors = []order.FieldProblem{order.OpProblem(unavailable.OpIndex, "sku", unavailable.Error())}
		p.UnavailableUntil = unavailable.Until
	case errors.As(err, &soldOut):
		p = problemOf(409, "sold-out", "Sold out", soldOut.Error())
		p.Errors = []order.FieldProblem{order.OpProblem(soldOut.OpIndex, "sku", soldOut.Error())}
		if soldOut.SKU != "" { // known only when the item could be read back
			left := soldOut.Remaining
			p.Remaining = &left
		}
	case errors.As(err, &overpaid):
		p = problemOf(422, "overpayment", "Payment exceeds what is due", overpaid.Error())
		p.Errors = []order.FieldProblem{order.OpProblem(overpaid.OpIndex, "amount_cents", overpaid.Error())}
		payable := overpaid.PayableCents
		p.PayableCents = &payable
	case errors.As(err, &owedBack):
		p = problemOf(409, "refund-required", "Refund required", owedBack.Error())
		p.Errors = []order.FieldProblem{order.OpProblem(owedBack.OpIndex, owedBack.Field, owedBack.Error())}
	case errors.Is(err, store.ErrInFlight):
		p = problemOf(409, "idempotency-in-flight", "Request in flight", "a request with this Idempotency-Key is still being processed; retry shortly")
	case errors.Is(err, errKeyReused):
		p = problemOf(422, "idempotency-key-reused", "Idempotency-Key reused", "this Idempotency-Key was already used for a different request; use a new key for a new request")
		p.Errors = []order.FieldProblem{{Field: headerIdempotencyKey, Detail: "already used for a different request"}}
	case errors.As(err, &ahead):
		p = problemOf(409, "cursor-ahead", "Cursor ahead of the stream", ahead.Error())
		last := ahead.Last
		p.LastCursor = &last
		p.Errors = []order.FieldProblem{{Field: "cursor", Detail: "after the stream's last message"}}
	case errors.As(err, &streamLimit):
		p = problemOf(429, "too-many-streams", "Too Many Requests", streamLimit.Error())
	case errors.Is(err, errStandbyUnavailable):
		p = problemOf(503, "standby-unavailable", "Service Unavailable",
			"the standby the audit reads (--replica-url, DATABASE_REPLICA_URL) did not answer in time or cancelled the read; retry shortly (a replica URL naming the primary too, with target_session_attrs=prefer-standby, falls back to it)")
	case errors.Is(err, kds.ErrUnavailable):
		p = problemOf(503, "kitchen-unavailable", "Service Unavailable", "the kitchen stream cannot reach NATS right now; retry with your last cursor")
	case errors.As(err, &fiberErr):
		p = fiberProblem(fiberErr)
	case store.Unavailable(err):
		p = problemOf(503, "database-unavailable", "Service Unavailable",
			"the database did not answer in time; nothing was changed by this request, retry shortly (with the same Idempotency-Key for a write)")
	default:
		p = problemOf(500, "internal", "Internal Server Error", "something went wrong on our side; the request id identifies it in the logs")
	}
	return p, conflictKind
}

func fiberProblem(e *fiber.Error) Problem {
	slug := map[int]string{
		400: "bad-request", 404: "not-found", 405: "method-not-allowed",
		413: "payload-too-large", 415: "unsupported-media-type", 431: "headers-too-large",
	}[e.Code]
	if slug == "" {
		slug = "http-" + strconv.Itoa(e.Code)
	}
	detail := e.Message
	switch e.Code {
	case 404:
		detail = "no such resource"
	case 405:
		detail = "this resource does not take that method; Allow lists the ones it does"
	case 413:
		detail = "request body is larger than 64 KiB"
	}
	return Problem{Type: ProblemBase + slug, Title: http.StatusText(e.Code), Status: e.Code, Detail: detail}
}

// MaxConflictChanges and MaxConflictChangesBytes bound the changes a
// version-conflict refusal carries: the newest events since the client's
// version, at most this many and at most this many bytes of them (the
// newest one always). A refusal that leaves some out says
// changes_truncated: true and gives changes_url, the events endpoint that
// lists them all.
const (
	MaxConflictChanges      = store.MaxConflictChanges
	MaxConflictChangesBytes = store.MaxConflictChangesBytes
)
