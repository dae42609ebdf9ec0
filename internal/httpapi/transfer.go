package httpapi

import (
	"fmt"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// Changes between two orders (DESIGN.md section 11): POST
// /v1/orders/{id}/transfer and /merge. Each names the expected version of
// every order it touches and answers both orders as they are after it.

// orderRefRequest is the other order of a transfer ("to": an open order at
// a version, or a free table) or of a merge ("from").
type orderRefRequest struct {
	OrderID         *uuid.UUID `json:"order_id"`
	ExpectedVersion *int64     `json:"expected_version"`
	Table           *string    `json:"table"`
	Guests          *int       `json:"guests"`
	Check           *int       `json:"check"`
}

type transferRequest struct {
	ExpectedVersion *int64           `json:"expected_version"`
	To              *orderRefRequest `json:"to"`
	Lines           []order.LineMove `json:"lines"`
}

type mergeRequest struct {
	ExpectedVersion *int64           `json:"expected_version"`
	From            *orderRefRequest `json:"from"`
}

var (
	transferFields = jsonFields[transferRequest]()
	mergeFields    = jsonFields[mergeRequest]()
)

// pairAnswer is the body of a transfer's or merge's answer.
type pairAnswer struct {
	From order.Order `json:"from"`
	To   order.Order `json:"to"`
}

// ref checks the other order of a request (name is "to" or "from") and
// returns what the store takes; onlyOrder refuses a table (a merge).
func (r *orderRefRequest) ref(name string, onlyOrder bool) (store.OrderRef, int, error) {
	problem := func(field, detail string) error {
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: name + field, Detail: detail}}}
	}
	if r == nil {
		return store.OrderRef{}, 0, problem("", "required")
	}
	check := 1
	if r.Check != nil {
		if onlyOrder {
			return store.OrderRef{}, 0, problem(".check", "unknown field")
		}
		check = *r.Check
	}
	switch {
	case r.OrderID != nil && r.Table != nil:
		return store.OrderRef{}, 0, problem(".table", "give either order_id (an open order) or table (a free table), not both")
	case r.OrderID != nil && r.Guests != nil:
		return store.OrderRef{}, 0, problem(".guests", "only for a free table (table)")
	case r.OrderID != nil && r.ExpectedVersion == nil:
		return store.OrderRef{}, 0, problem(".expected_version", "required: the version of that order the waiter saw")
	case r.OrderID != nil && *r.ExpectedVersion < 1:
		return store.OrderRef{}, 0, problem(".expected_version", "must be at least 1")
	case r.OrderID != nil:
		return store.OrderRef{OrderID: r.OrderID, Expected: *r.ExpectedVersion}, check, nil
	case onlyOrder:
		return store.OrderRef{}, 0, problem(".order_id", "required: the order to merge")
	case r.Table == nil:
		return store.OrderRef{}, 0, problem(".order_id", "required: an open order (order_id and expected_version) or a free table (table)")
	case r.ExpectedVersion != nil:
		return store.OrderRef{}, 0, problem(".expected_version", "only with order_id: a free table has no order yet")
	}
	guests := 1
	if r.Guests != nil {
		guests = *r.Guests
	}
	return store.OrderRef{Table: *r.Table, Guests: guests}, check, nil
}

// expectedVersion is the request's own required precondition.
func expectedVersion(v *int64) (int64, error) {
	switch {
	case v == nil:
		return 0, &order.ValidationError{Problems: []order.FieldProblem{{Field: "expected_version", Detail: "required: the version of this order the waiter saw"}}}
	case *v < 1:
		return 0, &order.ValidationError{Problems: []order.FieldProblem{{Field: "expected_version", Detail: "must be at least 1"}}}
	}
	return *v, nil
}

// transferOrder is POST /v1/orders/{id}/transfer.
func (s *Server) transferOrder(c *fiber.Ctx) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var req transferRequest
	if err := decodeJSON(c, &req, transferFields); err != nil {
		return err
	}
	expected, err := expectedVersion(req.ExpectedVersion)
	if err != nil {
		return err
	}
	c.Locals(localExpectedVersion, expected)
	to, check, err := req.To.ref("to", false)
	if err != nil {
		return err
	}
	if req.Lines == nil {
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: "lines", Detail: "required: the lines that move, each {line_id, qty?}"}}}
	}
	return s.pairWrite(c, func(idem *store.Idem) (order.Order, order.Order, error) {
		p := principal(c)
		return s.cfg.Store.Transfer(c.UserContext(), p.Venue, store.Transfer{From: id, Expected: expected, To: to,
			Lines: req.Lines, ToCheck: check, Idem: idem}, p.Actor())
	}, "transferred")
}

// mergeOrder is POST /v1/orders/{id}/merge: the order "from" merges into
// this one.
func (s *Server) mergeOrder(c *fiber.Ctx) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var req mergeRequest
	if err := decodeJSON(c, &req, mergeFields); err != nil {
		return err
	}
	expected, err := expectedVersion(req.ExpectedVersion)
	if err != nil {
		return err
	}
	c.Locals(localExpectedVersion, expected)
	from, _, err := req.From.ref("from", true)
	if err != nil {
		return err
	}
	return s.pairWrite(c, func(idem *store.Idem) (order.Order, order.Order, error) {
		p := principal(c)
		return s.cfg.Store.Merge(c.UserContext(), p.Venue, store.Merge{Into: id, Expected: expected, From: from, Idem: idem}, p.Actor())
	}, "merged")
}

// pairWrite runs a change between two orders with the request's
// Idempotency-Key and answers {"from", "to"}. A refused stale write is the
// key's answer too, as for PATCH.
func (s *Server) pairWrite(c *fiber.Ctx, write func(*store.Idem) (order.Order, order.Order, error), metric string) error {
	idem, replayed, err := s.idempotency(c, nil)
	if replayed || err != nil {
		return err
	}
	if idem != nil {
		idem.PairAnswer = func(from, to order.Order) (store.Answer, error) {
			body, err := s.app.Config().JSONEncoder(pairAnswer{From: from, To: to})
			if err != nil {
				return store.Answer{}, fmt.Errorf("encode answer: %w", err)
			}
			return store.Answer{Status: fiber.StatusOK, Headers: map[string]string{fiber.HeaderContentType: fiber.MIMEApplicationJSON}, Body: body}, nil
		}
	}
	from, to, err := write(idem)
	if err != nil {
		return s.writeRefused(c, idem, err)
	}
	s.cfg.Metrics.Writes.WithLabelValues(metric).Inc()
	c.Locals(localVersion, from.Version)
	return c.JSON(pairAnswer{From: from, To: to})
}
