package httpapi

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gofiber/fiber/v2"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/store"
)

// The menu writes (DESIGN.md section 9): PUT /v1/menu/items/{sku} and
// PUT /v1/menu/modifier-groups/{id} (managers) under the entity's version,
// and POST /v1/menu/items/{sku}/availability (managers and the kitchen).
// The order of checks: the body (400, 415, 422 for its shape), the
// precondition (428, 400), then in the write's transaction the entity's
// version (412 menu-version-conflict with the current entity) and the
// catalog's rules (422 naming the field). A refusal writes nothing.

// itemRequest is a PUT /v1/menu/items/{sku} body: the item's definition.
// Its availability and portions are written apart (availabilityRequest).
type itemRequest struct {
	Name           *string   `json:"name"`
	Category       *string   `json:"category"`
	PriceCents     *int64    `json:"price_cents"`
	Station        *string   `json:"station"`
	TaxClass       *string   `json:"tax_class"`
	ModifierGroups *[]string `json:"modifier_groups"`
}

// groupRequest is a PUT /v1/menu/modifier-groups/{id} body.
type groupRequest struct {
	Name    *string                 `json:"name"`
	Min     *int                    `json:"min"`
	Max     *int                    `json:"max"`
	Options *[]order.ModifierOption `json:"options"`
}

// availabilityRequest is a POST /v1/menu/items/{sku}/availability body:
// {"available":false,"until":null|"<RFC 3339>"} and/or
// {"remaining":6|null}. Remaining is kept raw to tell null (stop counting)
// from absent (leave as it is).
type availabilityRequest struct {
	Available *bool          `json:"available"`
	Until     *string        `json:"until"`
	Remaining jsontext.Value `json:"remaining"`
}

var (
	itemFields         = jsonFields[itemRequest]()
	groupFields        = jsonFields[groupRequest]()
	availabilityFields = jsonFields[availabilityRequest]()
)

func (s *Server) putItem(c *fiber.Ctx) error {
	var req itemRequest
	if err := decodeJSON(c, &req, itemFields); err != nil {
		return err
	}
	pre, err := menuPrecondition(c)
	if err != nil {
		return err
	}
	var probs []order.FieldProblem
	required(&probs, "name", req.Name == nil)
	required(&probs, "price_cents", req.PriceCents == nil)
	required(&probs, "station", req.Station == nil)
	required(&probs, "tax_class", req.TaxClass == nil)
	if len(probs) > 0 {
		return &order.ValidationError{Problems: probs}
	}
	it := order.MenuItem{SKU: c.Params("sku"), Name: *req.Name, PriceCents: *req.PriceCents, Station: *req.Station,
		TaxClass: *req.TaxClass, ModifierGroups: []string{}}
	if req.Category != nil {
		it.Category = *req.Category
	}
	if req.ModifierGroups != nil && *req.ModifierGroups != nil {
		it.ModifierGroups = *req.ModifierGroups
	}
	p := principal(c)
	got, w, err := s.cfg.Store.PutItem(c.UserContext(), p.Venue, it, pre, p.Actor())
	if err != nil {
		return err
	}
	return s.menuAnswer(c, pre, w, got.Version, "/v1/menu/items/"+got.SKU, got)
}

func (s *Server) putModifierGroup(c *fiber.Ctx) error {
	var req groupRequest
	if err := decodeJSON(c, &req, groupFields); err != nil {
		return err
	}
	pre, err := menuPrecondition(c)
	if err != nil {
		return err
	}
	var probs []order.FieldProblem
	required(&probs, "name", req.Name == nil)
	required(&probs, "max", req.Max == nil)
	required(&probs, "options", req.Options == nil || *req.Options == nil)
	if len(probs) > 0 {
		return &order.ValidationError{Problems: probs}
	}
	g := order.ModifierGroup{ID: c.Params("id"), Name: *req.Name, Max: *req.Max, Options: *req.Options}
	if req.Min != nil {
		g.Min = *req.Min
	}
	p := principal(c)
	got, w, err := s.cfg.Store.PutModifierGroup(c.UserContext(), p.Venue, g, pre, p.Actor())
	if err != nil {
		return err
	}
	return s.menuAnswer(c, pre, w, got.Version, "/v1/menu/modifier-groups/"+got.ID, got)
}

func (s *Server) setAvailability(c *fiber.Ctx) error {
	var req availabilityRequest
	if err := decodeJSON(c, &req, availabilityFields); err != nil {
		return err
	}
	ch, err := readAvailability(req, time.Now())
	if err != nil {
		return err
	}
	p := principal(c)
	got, w, err := s.cfg.Store.SetAvailability(c.UserContext(), p.Venue, c.Params("sku"), ch, p.Actor())
	if err != nil {
		return err
	}
	return s.menuAnswer(c, store.MenuPrecondition{}, w, got.Version, "", got)
}

// readAvailability checks an availability body against now.
func readAvailability(req availabilityRequest, now time.Time) (store.AvailabilityChange, error) {
	var ch store.AvailabilityChange
	bad := func(field, detail string) error {
		return &order.ValidationError{Problems: []order.FieldProblem{{Field: field, Detail: detail}}}
	}
	if req.Available == nil && len(req.Remaining) == 0 {
		return ch, bad("available", `give "available" (with "until" to 86 an item for a while), "remaining", or both`)
	}
	if req.Available != nil {
		ch.SetAvailable, ch.Available = true, *req.Available
	}
	if req.Until != nil {
		if !ch.SetAvailable || ch.Available {
			return ch, bad("until", `only with "available": false`)
		}
		t, err := time.Parse(time.RFC3339, *req.Until)
		if err != nil {
			return ch, bad("until", "must be an RFC 3339 time, e.g. 2026-12-02T21:00:00Z, or null")
		}
		if !t.After(now) {
			return ch, bad("until", "must be in the future (to make the item orderable now, send \"available\": true)")
		}
		t = t.UTC().Truncate(time.Microsecond)
		if t.Year() > 9999 {
			// Parseable with an offset, but past what JSON (RFC 3339) can
			// write back in UTC.
			return ch, bad("until", "must be before the year 10000 in UTC")
		}
		ch.Until = &t
	}
	if len(req.Remaining) > 0 {
		ch.SetRemaining = true
		if string(req.Remaining) != "null" {
			var n int
			if err := json.Unmarshal(req.Remaining, &n); err != nil {
				return ch, bad("remaining", "must be an integer or null (portions not counted)")
			}
			if n < 0 || n > order.MaxRemaining {
				return ch, bad("remaining", fmt.Sprintf("must be between 0 and %d, or null", order.MaxRemaining))
			}
			ch.Remaining = &n
		}
	}
	return ch, nil
}

// required adds a "required" problem for field when missing.
func required(probs *[]order.FieldProblem, field string, missing bool) {
	if missing {
		*probs = append(*probs, order.FieldProblem{Field: field, Detail: "required"})
	}
}

// menuPrecondition reads a menu PUT's precondition: If-Match with the
// entity's version, or If-None-Match: * to create it. Neither is 428 (as
// is If-Match: *, which is not a version); both, or another If-None-Match,
// is 400.
func menuPrecondition(c *fiber.Ctx) (store.MenuPrecondition, error) {
	im, inm := strings.TrimSpace(c.Get(fiber.HeaderIfMatch)), strings.TrimSpace(c.Get(fiber.HeaderIfNoneMatch))
	switch {
	case im != "" && inm != "":
		return store.MenuPrecondition{}, badRequest("If-None-Match", "send If-Match (to change) or If-None-Match: * (to create), not both")
	case inm == "*":
		return store.MenuPrecondition{Create: true}, nil
	case inm != "":
		return store.MenuPrecondition{}, badRequest("If-None-Match", "If-None-Match takes only * (create the entity if it does not exist)")
	case im == "*":
		return store.MenuPrecondition{}, &requestError{status: fiber.StatusPreconditionRequired, slug: "precondition-required",
			field: "If-Match", detail: `If-Match: * is not a version; send If-Match: "<version>" (GET /v1/menu has it) or If-None-Match: * to create`}
	case im == "":
		return store.MenuPrecondition{}, &requestError{status: fiber.StatusPreconditionRequired, slug: "precondition-required",
			field: "If-Match", detail: `a menu write needs the entity's version: If-Match: "<version>" (GET /v1/menu has it), or If-None-Match: * to create it`}
	}
	n, err := parseETag(im)
	if err != nil {
		return store.MenuPrecondition{}, badRequest("If-Match", `If-Match must be one strong entity tag such as "7"`)
	}
	return store.MenuPrecondition{IfMatch: &n}, nil
}

// menuAnswer answers a menu write: the entity with its version as ETag,
// 201 with Location when it was created.
func (s *Server) menuAnswer(c *fiber.Ctx, pre store.MenuPrecondition, w store.MenuWrite, version int64, location string, entity any) error {
	c.Locals(localVersion, version)
	c.Set(fiber.HeaderETag, etag(version))
	c.Set(headerMenuVersion, fmt.Sprint(w.MenuVersion))
	status := fiber.StatusOK
	if pre.Create && w.Changed {
		status = fiber.StatusCreated
		c.Set(fiber.HeaderLocation, location)
	}
	return c.Status(status).JSON(entity)
}

// headerMenuVersion carries the venue's menu version after a menu write.
const headerMenuVersion = "Posd-Menu-Version"
