package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

const (
	defaultListLimit = 100
	maxListLimit     = 500
)

func (s *Server) menu(c *fiber.Ctx) error {
	items, err := s.cfg.Store.Menu(c.UserContext(), principal(c).Venue)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) tables(c *fiber.Ctx) error {
	tables, err := s.cfg.Store.Tables(c.UserContext(), principal(c).Venue)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"tables": tables})
}

type openRequest struct {
	Table  *string `json:"table"`
	Guests *int    `json:"guests"`
}

func (s *Server) openOrder(c *fiber.Ctx) error {
	var req openRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	var probs []order.FieldProblem
	if req.Table == nil {
		probs = append(probs, order.FieldProblem{Field: "table", Detail: "required"})
	}
	if req.Guests == nil {
		probs = append(probs, order.FieldProblem{Field: "guests", Detail: "required"})
	}
	if len(probs) > 0 {
		return &order.ValidationError{Problems: probs}
	}
	idem, replayed, err := s.idempotency(c, s.orderAnswer(fiber.StatusCreated, true))
	if replayed || err != nil {
		return err
	}
	p := principal(c)
	o, err := s.cfg.Store.Open(c.UserContext(), p.Venue, *req.Table, *req.Guests, p.Actor(), idem)
	if err != nil {
		return s.keyed(c, idem, err)
	}
	s.cfg.Metrics.Writes.WithLabelValues("opened").Inc()
	c.Locals(localOrderID, o.ID.String())
	c.Locals(localVersion, o.Version)
	c.Set(fiber.HeaderLocation, "/v1/orders/"+o.ID.String())
	c.Set(fiber.HeaderETag, etag(o.Version))
	return c.Status(fiber.StatusCreated).JSON(o)
}

func (s *Server) listOrders(c *fiber.Ctx) error {
	f := store.ListFilter{Status: c.Query("status"), Table: c.Query("table"), Limit: defaultListLimit}
	if f.Status != "" && f.Status != order.StatusOpen && f.Status != order.StatusClosed {
		return badRequest("status", "status must be open or closed")
	}
	if len(f.Table) > order.MaxTableLen {
		return badRequest("table", fmt.Sprintf("table is at most %d characters", order.MaxTableLen))
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return badRequest("limit", fmt.Sprintf("limit must be an integer between 1 and %d", maxListLimit))
		}
		f.Limit = n
	}
	orders, err := s.cfg.Store.List(c.UserContext(), principal(c).Venue, f)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"orders": orders})
}

func (s *Server) getOrder(c *fiber.Ctx) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	if v := c.Query("at_version"); v != "" {
		if !p.Is(order.RoleManager, order.RoleAuditor) {
			return &order.ForbiddenOpError{Problems: []order.FieldProblem{{Field: "at_version", Detail: "history is for managers and auditors"}}}
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < 1 {
			return badRequest("at_version", "at_version must be a positive integer")
		}
		o, err := s.cfg.Store.At(c.UserContext(), p.Venue, id, n)
		if err != nil {
			return err
		}
		c.Locals(localVersion, o.Version)
		return c.JSON(o)
	}
	o, err := s.cfg.Store.Get(c.UserContext(), p.Venue, id)
	if err != nil {
		return err
	}
	c.Locals(localVersion, o.Version)
	tag := etag(o.Version)
	c.Set(fiber.HeaderETag, tag)
	if inm := c.Get(fiber.HeaderIfNoneMatch); inm != "" && etagListContains(inm, tag) {
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.JSON(o)
}

func (s *Server) orderEvents(c *fiber.Ctx) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var after int64
	if v := c.Query("after_version"); v != "" {
		after, err = strconv.ParseInt(v, 10, 64)
		if err != nil || after < 0 {
			return badRequest("after_version", "after_version must be a non-negative integer")
		}
	}
	evs, err := s.cfg.Store.Events(c.UserContext(), principal(c).Venue, id, after)
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"events": evs})
}

type patchRequest struct {
	ExpectedVersion *int64            `json:"expected_version"`
	Ops             []json.RawMessage `json:"ops"`
	Force           *bool             `json:"force"`
}

// patchOrder is the versioned write. The order of checks is part of the
// contract: role, body, force (403 before any precondition), size, the
// precondition itself (428, 400 on disagreement), then the ops.
func (s *Server) patchOrder(c *fiber.Ctx) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	var req patchRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	force := req.Force != nil && *req.Force
	if force && !p.Is(order.RoleManager) {
		return &order.ForbiddenOpError{Problems: []order.FieldProblem{{Field: "force", Detail: "only a manager may force a write"}}}
	}
	if len(req.Ops) > order.MaxOps {
		return &requestError{status: fiber.StatusRequestEntityTooLarge, slug: "payload-too-large", field: "ops",
			detail: fmt.Sprintf("at most %d ops per request", order.MaxOps)}
	}
	expected, fromIfMatch, err := precondition(c.Get(fiber.HeaderIfMatch), req.ExpectedVersion, force)
	if err != nil {
		return err
	}
	if expected != nil {
		c.Locals(localExpectedVersion, *expected)
	}
	if req.Ops == nil {
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: "ops", Detail: "required"}}}
	}
	ops, err := order.DecodeOps(req.Ops)
	if err != nil {
		return err
	}
	if err := order.Validate(ops, p.Role); err != nil {
		return err
	}
	idem, replayed, err := s.idempotency(c, s.orderAnswer(fiber.StatusOK, false))
	if replayed || err != nil {
		return err
	}
	o, changed, err := s.cfg.Store.Patch(c.UserContext(), p.Venue, id, store.Patch{
		Expected: expected, IfMatch: fromIfMatch, Force: force, Ops: ops, Idem: idem,
	}, p.Actor())
	var conflict *order.ConflictError
	if errors.As(err, &conflict) && idem != nil {
		// The version may have moved because a copy of this very request
		// was answered meanwhile: then that answer is this one's too.
		if ok, rerr := s.replay(c, idem); ok || rerr != nil {
			return rerr
		}
		// Otherwise the refusal is the answer, and replays as such.
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
		s.saveAnswer(c, idem)
		return nil
	}
	if err != nil {
		return s.keyed(c, idem, err)
	}
	switch {
	case !changed:
		s.cfg.Metrics.Writes.WithLabelValues("noop").Inc()
	case force:
		s.cfg.Metrics.Writes.WithLabelValues("forced").Inc()
	default:
		s.cfg.Metrics.Writes.WithLabelValues("patched").Inc()
	}
	c.Locals(localVersion, o.Version)
	c.Set(fiber.HeaderETag, etag(o.Version))
	if err := c.JSON(o); err != nil {
		return err
	}
	if !changed {
		s.saveAnswer(c, idem)
	}
	return nil
}

// precondition reads the version a write was made against from If-Match or
// expected_version. Neither is 428 unless the write is forced; "*" is not a
// version (428); both present and different is 400.
func precondition(ifMatch string, bodyVersion *int64, force bool) (v *int64, fromIfMatch bool, err error) {
	var hdr *int64
	if ifMatch = strings.TrimSpace(ifMatch); ifMatch != "" {
		if ifMatch == "*" {
			return nil, false, &requestError{status: fiber.StatusPreconditionRequired, slug: "precondition-required",
				field: "If-Match", detail: `If-Match: * is not a version; send If-Match: "<version>" or expected_version`}
		}
		n, perr := parseETag(ifMatch)
		if perr != nil {
			return nil, false, badRequest("If-Match", `If-Match must be one strong entity tag such as "7"`)
		}
		hdr = &n
	}
	if bodyVersion != nil && *bodyVersion < 1 {
		return nil, false, &order.ValidationError{Problems: []order.FieldProblem{{Field: "expected_version", Detail: "must be a positive integer"}}}
	}
	switch {
	case hdr != nil && bodyVersion != nil && *hdr != *bodyVersion:
		return nil, false, badRequest("expected_version", "If-Match and expected_version disagree")
	case hdr != nil:
		return hdr, true, nil
	case bodyVersion != nil:
		return bodyVersion, false, nil
	case force:
		return nil, false, nil
	}
	return nil, false, &requestError{status: fiber.StatusPreconditionRequired, slug: "precondition-required",
		field: "expected_version", detail: `a write needs the version it was made against: expected_version in the body or If-Match: "<version>"`}
}

func parseETag(s string) (int64, error) {
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, errors.New("not a strong entity tag")
	}
	n, err := strconv.ParseInt(s[1:len(s)-1], 10, 64)
	if err != nil || n < 1 {
		return 0, errors.New("not a version")
	}
	return n, nil
}

func etagListContains(list, tag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || t == tag || t == "W/"+tag {
			return true
		}
	}
	return false
}

// orderID parses the :id path segment; anything that is not a UUID names no
// order, so it is 404 like any other missing order.
func orderID(c *fiber.Ctx) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return uuid.Nil, order.ErrNotFound
	}
	c.Locals(localOrderID, id.String())
	return id, nil
}

// decodeJSON reads a JSON request body strictly: JSON content type, valid
// UTF-8, one object, no unknown fields, no trailing data. Syntax problems are
// 400; a well-formed body of the wrong shape is 422 naming the field.
func decodeJSON(c *fiber.Ctx, dst any) error {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return &requestError{status: fiber.StatusUnsupportedMediaType, slug: "unsupported-media-type",
			field: "Content-Type", detail: "send the body as application/json"}
	}
	body := c.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("", "request body is empty")
	}
	if !utf8.Valid(body) {
		return badRequest("", "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("", "unexpected data after the JSON body")
	}
	return nil
}

func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return badRequest("", "request body must be a JSON object")
		}
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: field, Detail: "must be " + jsonKind(typeErr.Type.Kind().String())}}}
	case errors.As(err, &syntaxErr):
		return badRequest("", fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "malformed JSON: unexpected end of body")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: field, Detail: "unknown field"}}}
	}
	return badRequest("", "malformed JSON: "+err.Error())
}

func jsonKind(k string) string {
	switch k {
	case "int", "int64", "int32", "ptr":
		return "an integer"
	case "bool":
		return "true or false"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	}
	return "of another type (" + k + ")"
}
