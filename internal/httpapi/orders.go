package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
	"github.com/posd/posd/internal/strictjson"
)

const (
	defaultListLimit = 100
	maxListLimit     = 500
	// MaxEventsPage is the most events GET /v1/orders/{id}/events answers
	// at once (and its default page); "next" names the following page.
	MaxEventsPage = 500
)

// menuResponse is GET /v1/menu (DESIGN.md section 9): the menu version,
// the items in menu order with their running state, the modifier groups,
// tax classes, service charge (null: none) and tenders. It is bounded by
// the catalog's bounds (order.MaxMenuItems and the others).
type menuResponse struct {
	Version        int64                 `json:"version"`
	Items          []order.MenuItem      `json:"items"`
	ModifierGroups []order.ModifierGroup `json:"modifier_groups"`
	TaxClasses     []order.TaxClass      `json:"tax_classes"`
	ServiceCharge  *order.ServiceCharge  `json:"service_charge"`
	Tenders        []string              `json:"tenders"`
}

func (s *Server) menu(c *fiber.Ctx) error {
	vc, err := s.cfg.Store.Catalog(c.UserContext(), principal(c).Venue)
	if err != nil {
		return err
	}
	cat := vc.Catalog
	return c.JSON(menuResponse{Version: vc.MenuVersion, Items: cat.Items, ModifierGroups: cat.ModifierGroups,
		TaxClasses: cat.TaxClasses, ServiceCharge: cat.ServiceCharge, Tenders: cat.Tenders})
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

// openFields and patchFields are the top-level keys of the request bodies,
// read from the request types' json tags, so the strict check's first-problem
// report and the decoder accept exactly the same members.
var (
	openFields  = jsonFields[openRequest]()
	patchFields = jsonFields[patchRequest]()
)

// jsonFields lists the json member names of struct T's fields.
func jsonFields[T any]() []string {
	t := reflect.TypeFor[T]()
	names := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			names = append(names, name)
		}
	}
	return names
}

func (s *Server) openOrder(c *fiber.Ctx) error {
	var req openRequest
	if err := decodeJSON(c, &req, openFields); err != nil {
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

// listOrders answers one page of the venue's orders, newest first, and
// "next": the URL of the following page (null on the last one).
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
	venue := principal(c).Venue
	if v := c.Query("after"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil || len(v) != 36 {
			return badRequest("after", "after must be the id of an order (a UUID)")
		}
		if _, err := s.cfg.Store.Get(c.UserContext(), venue, id); errors.Is(err, order.ErrNotFound) {
			return badRequest("after", "after names no order of this venue")
		} else if err != nil {
			return err
		}
		f.After = &id
	}
	page := f.Limit
	f.Limit++ // one more tells whether there is a next page
	orders, err := s.cfg.Store.List(c.UserContext(), venue, f)
	if err != nil {
		return err
	}
	var next *string
	if len(orders) > page {
		orders = orders[:page]
		q := url.Values{}
		for _, k := range []string{"status", "table", "limit"} {
			if v := c.Query(k); v != "" {
				q.Set(k, v)
			}
		}
		q.Set("after", orders[page-1].ID.String())
		u := "/v1/orders?" + q.Encode()
		next = &u
	}
	return c.JSON(fiber.Map{"orders": orders, "next": next})
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

// orderEvents answers one page of the order's events in version order, at
// most limit (default and bound MaxEventsPage), and "next": the URL of the
// following page (null on the last one).
func (s *Server) orderEvents(c *fiber.Ctx) error {
	id, err := orderID(c)
	if err != nil {
		return err
	}
	var after int64
	if v := c.Query("after_version"); v != "" {
		after, err = strconv.ParseInt(v, 10, 64)
		if err != nil || after < 0 || after > 1<<61 {
			return badRequest("after_version", "after_version must be a non-negative integer")
		}
	}
	limit := MaxEventsPage
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxEventsPage {
			return badRequest("limit", fmt.Sprintf("limit must be an integer between 1 and %d", MaxEventsPage))
		}
		limit = n
	}
	// One more than the page tells whether there is a next one.
	evs, err := s.cfg.Store.Events(c.UserContext(), principal(c).Venue, id, after, int64(limit)+1)
	if err != nil {
		return err
	}
	var next *string
	if len(evs) > limit {
		evs = evs[:limit]
		q := url.Values{}
		q.Set("after_version", strconv.FormatInt(evs[limit-1].Version, 10))
		if c.Query("limit") != "" {
			q.Set("limit", strconv.Itoa(limit))
		}
		u := "/v1/orders/" + id.String() + "/events?" + q.Encode()
		next = &u
	}
	return c.JSON(fiber.Map{"events": evs, "next": next})
}

// patchRequest is a PATCH body, decoded in one pass, ops included.
type patchRequest struct {
	ExpectedVersion *int64         `json:"expected_version"`
	Ops             order.PatchOps `json:"ops"`
	Force           *bool          `json:"force"`
}

// patchOrder is the versioned write.
func (s *Server) patchOrder(c *fiber.Ctx) (err error) {
	defer func() {
		// A refusal (a bad body, a role's limit, a missing order) of a
		// request whose device came from the cache unchecked: the token
		// is checked first, so a revoked device hears 401 whatever else
		// is wrong with its request.
		if err != nil && uncheckedToken(c) != nil {
			if cerr := s.checkToken(c); cerr != nil {
				err = cerr
			}
		}
	}()
	id, err := orderID(c)
	if err != nil {
		return err
	}
	p := principal(c)
	body, err := jsonBody(c)
	if err != nil {
		return err
	}
	in, err := readPatch(body, c.Get(fiber.HeaderIfMatch), p.Role)
	if in.expected != nil {
		c.Locals(localExpectedVersion, *in.expected)
	}
	if err != nil {
		return err
	}
	if c.Get(headerIdempotencyKey) != "" {
		// A keyed write may be answered from its key's stored answer,
		// without a write: the device is checked first.
		if err := s.checkToken(c); err != nil {
			return err
		}
	}
	idem, replayed, err := s.idempotency(c, s.orderAnswer(fiber.StatusOK, false))
	if replayed || err != nil {
		return err
	}
	o, changed, err := s.cfg.Store.Patch(c.UserContext(), p.Venue, id, store.Patch{
		Expected: in.expected, IfMatch: in.ifMatch, Force: in.force, Ops: in.ops, Idem: idem,
		TokenHash: uncheckedToken(c),
	}, p.Actor())
	if errors.Is(err, store.ErrDeviceChanged) {
		// The cached principal is no longer the device's (nothing was
		// written): look the token up (a revoked device ends here) and
		// handle the request again as the device is now.
		if err := s.checkToken(c); err != nil {
			return err
		}
		if !principal(c).Is(writerRoles...) {
			return auth.ErrForbidden
		}
		return s.patchOrder(c)
	}
	if (err != nil || !changed) && uncheckedToken(c) != nil {
		// Nothing was written, so nothing checked the device: it is
		// checked before anything is answered.
		if cerr := s.checkToken(c); cerr != nil {
			return cerr
		}
	}
	if err != nil {
		return s.writeRefused(c, idem, err)
	}
	crashPointAfterCommit(c, o.Version)
	switch {
	case !changed:
		s.cfg.Metrics.Writes.WithLabelValues("noop").Inc()
	case in.force:
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

// writeRefused answers a keyed or unkeyed write that failed. A stale
// write's version may have moved because a copy of this very request was
// answered meanwhile: then that answer is this one's too; otherwise the
// refusal is the key's answer, and replays as such.
func (s *Server) writeRefused(c *fiber.Ctx, idem *store.Idem, err error) error {
	var conflict *order.ConflictError
	var conflicts *order.ConflictsError
	if idem == nil || !errors.As(err, &conflict) && !errors.As(err, &conflicts) {
		return s.keyed(c, idem, err)
	}
	if ok, rerr := s.replay(c, idem); ok || rerr != nil {
		return rerr
	}
	if herr := s.handleError(c, err); herr != nil {
		return herr
	}
	s.saveAnswer(c, idem)
	return nil
}

// patchInput is a PATCH as far as it can be checked without the order.
type patchInput struct {
	expected *int64 // the version the write was made against; nil when forced without one
	ifMatch  bool   // expected came from If-Match (a conflict is then 412)
	force    bool
	ops      []order.Op
}

// readPatch decodes and checks a PATCH body and its If-Match header for a
// device of the given role. The order of checks is part of the contract:
// body, force (403 before any precondition), size, the precondition itself
// (428, 400 on disagreement), then the ops. Every error it returns is a
// client mistake (4xx). expected is set as soon as the precondition is known,
// even when a later check fails, so the request log can carry it.
func readPatch(body []byte, ifMatch, role string) (in patchInput, err error) {
	var req patchRequest
	if err := decodeBody(body, &req, patchFields); err != nil {
		return in, err
	}
	if len(req.Ops.Problems) > 0 {
		// The ops decoded with problems, so the body is not the shape
		// of a request and may hide a structural one (nesting, in a
		// value no op takes), which goes first as for any body.
		if err := strictjson.Check(body, strictjson.Options{MaxDepth: MaxJSONDepth, Fields: patchFields}); err != nil {
			return in, strictError(err)
		}
	}
	in.force = req.Force != nil && *req.Force
	if in.force && role != order.RoleManager {
		return in, &order.ForbiddenOpError{Problems: []order.FieldProblem{{Field: "force", Detail: "only a manager may force a write"}}}
	}
	if len(req.Ops.Ops) > order.MaxOps {
		return in, &requestError{status: fiber.StatusRequestEntityTooLarge, slug: "payload-too-large", field: "ops",
			detail: fmt.Sprintf("at most %d ops per request", order.MaxOps)}
	}
	if in.expected, in.ifMatch, err = precondition(ifMatch, req.ExpectedVersion, in.force); err != nil {
		return in, err
	}
	if req.Ops.Ops == nil {
		return in, &order.ValidationError{Problems: []order.FieldProblem{{Field: "ops", Detail: "required"}}}
	}
	if len(req.Ops.Problems) > 0 {
		return in, &order.ValidationError{Problems: req.Ops.Problems}
	}
	in.ops = req.Ops.Ops
	if err := order.Validate(in.ops, role); err != nil {
		in.ops = nil
		return in, err
	}
	return in, nil
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

// parseETag reads a version from a strong entity tag in the one form posd
// writes: "7", decimal digits without sign or leading zero. strconv alone
// would also take "+7" and "07", giving one version many tags.
func parseETag(s string) (int64, error) {
	if len(s) < 3 || s[0] != '"' || s[len(s)-1] != '"' {
		return 0, errors.New("not a strong entity tag")
	}
	digits := s[1 : len(s)-1]
	if digits[0] < '1' || digits[0] > '9' {
		return 0, errors.New("not a version")
	}
	for i := 1; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, errors.New("not a version")
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
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

// orderID parses the :id path segment; anything that is not a UUID in its
// canonical 36-character form names no order, so it is 404 like any other
// missing order.
func orderID(c *fiber.Ctx) (uuid.UUID, error) {
	id, ok := pathUUID(c)
	if !ok {
		return uuid.Nil, order.ErrNotFound
	}
	c.Locals(localOrderID, id.String())
	return id, nil
}

// pathUUID reads the :id path segment as a UUID in canonical form only
// (uuid.Parse also takes braces, a urn: prefix and no dashes, which would
// give one order many URLs).
func pathUUID(c *fiber.Ctx) (uuid.UUID, bool) {
	s := c.Params("id")
	if len(s) != 36 {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(s)
	return id, err == nil
}

// MaxJSONDepth is how deeply objects and arrays may nest in a request body.
// The deepest real one is a PATCH's modifiers: body, ops, op, modifiers (4).
const MaxJSONDepth = 8

// decodeJSON reads a JSON request body strictly into dst, whose top-level
// keys are fields: see jsonBody and decodeBody.
func decodeJSON(c *fiber.Ctx, dst any, fields []string) error {
	body, err := jsonBody(c)
	if err != nil {
		return err
	}
	return decodeBody(body, dst, fields)
}

// jsonBody returns the raw request body after checking it is declared as
// JSON in UTF-8 and not compressed. Compressed bodies are refused (415)
// because they would get round the 64 KiB limit, which counts the bytes on
// the wire: 64 KiB of gzip can hold 64 MiB of JSON.
func jsonBody(c *fiber.Ctx) ([]byte, error) {
	mt, params, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationJSON {
		return nil, &requestError{status: fiber.StatusUnsupportedMediaType, slug: "unsupported-media-type",
			field: "Content-Type", detail: "send the body as application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return nil, &requestError{status: fiber.StatusUnsupportedMediaType, slug: "unsupported-media-type",
			field: "Content-Type", detail: "JSON bodies are UTF-8; leave out charset or send charset=utf-8"}
	}
	if ce := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, &requestError{status: fiber.StatusUnsupportedMediaType, slug: "unsupported-media-type",
			field: "Content-Encoding", detail: "request bodies are not decompressed; send the body without Content-Encoding"}
	}
	// BodyRaw, not Body: Body would decompress whatever Content-Encoding says.
	return c.BodyRaw(), nil
}

// decodeBody decodes body strictly into dst in one pass (strictjson, JSON
// v2): exactly one JSON object in valid UTF-8, no key twice at any depth,
// nesting at most MaxJSONDepth deep, only the given top-level keys spelled
// exactly, each of the right type. Syntax problems are 400; a well-formed
// body of the wrong shape (duplicate key, too deep, unknown field, wrong
// type) is 422 naming the field.
func decodeBody(body []byte, dst any, fields []string) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return badRequest("", "request body is empty")
	}
	if trimmed[0] != '{' {
		return badRequest("", "request body must be a JSON object")
	}
	if err := strictjson.Unmarshal(body, dst, strictjson.Options{MaxDepth: MaxJSONDepth, Fields: fields}); err != nil {
		return strictError(err)
	}
	return nil
}

// strictError maps what strictjson finds to problems.
func strictError(err error) error {
	var (
		syn   *strictjson.SyntaxError
		dup   *strictjson.DuplicateKeyError
		depth *strictjson.DepthError
		unk   *strictjson.UnknownFieldError
		sur   *strictjson.SurrogateError
	)
	switch {
	case errors.As(err, &syn):
		if syn.Msg == "invalid UTF-8" {
			return badRequest("", fmt.Sprintf("request body is not valid UTF-8 (byte %d)", syn.Offset))
		}
		return badRequest("", syn.Error())
	case errors.As(err, &dup):
		return &order.ValidationError{Problems: []order.FieldProblem{pathProblem(dup.Path, "duplicate key")}}
	case errors.As(err, &depth):
		return &order.ValidationError{Problems: []order.FieldProblem{
			pathProblem(depth.Path, fmt.Sprintf("nested deeper than %d levels", depth.Limit))}}
	case errors.As(err, &sur):
		return &order.ValidationError{Problems: []order.FieldProblem{
			pathProblem(sur.Path, `lone UTF-16 surrogate (\uD800 to \uDFFF outside a pair) in a string escape`)}}
	case errors.As(err, &unk):
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: unk.Key, Detail: "unknown field"}}}
	}
	return jsonError(err)
}

// pathProblem names the value at path the way every other problem does: a
// value inside ops[i] by op_index i and its path within the op (field "op"
// when the op itself is not an object), anything else by its whole path.
func pathProblem(path strictjson.Path, detail string) order.FieldProblem {
	if len(path) < 2 || path[0].Index >= 0 || path[0].Key != "ops" || path[1].Index < 0 {
		return order.FieldProblem{Field: path.String(), Detail: detail}
	}
	i := path[1].Index
	field := path[2:].String()
	if len(path) == 2 || path[2].Index >= 0 {
		field, detail = "op", detail+" at "+path.String()
	}
	return order.FieldProblem{OpIndex: &i, Field: field, Detail: detail}
}

// jsonError maps a decode error of a well-formed body: a value of the
// wrong type for a top-level field.
func jsonError(err error) error {
	var se *json.SemanticError
	if errors.As(err, &se) && errors.Is(se.Err, json.ErrUnknownName) {
		// A member no nested object takes (the top level's are found by
		// strictjson first): named by its whole path, options[0].colour.
		var path strings.Builder
		for tok := range se.JSONPointer.Tokens() {
			if _, err := strconv.Atoi(tok); err == nil {
				path.WriteString("[" + tok + "]")
				continue
			}
			if path.Len() > 0 {
				path.WriteByte('.')
			}
			path.WriteString(tok)
		}
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: path.String(), Detail: "unknown field"}}}
	}
	if errors.As(err, &se) && se.GoType != nil {
		for field := range se.JSONPointer.Tokens() {
			return &order.ValidationError{Problems: []order.FieldProblem{{Field: field, Detail: "must be " + jsonKind(se.GoType.Kind().String())}}}
		}
		return badRequest("", "request body must be a JSON object")
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
