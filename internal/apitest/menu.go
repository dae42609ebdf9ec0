package apitest

import (
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/order"
)

// MenuDoc is GET /v1/menu as the typed client reads it.
type MenuDoc struct {
	Version        int64                 `json:"version"`
	Items          []order.MenuItem      `json:"items"`
	ModifierGroups []order.ModifierGroup `json:"modifier_groups"`
}

// Item is the menu's item sku (the test fails when there is none).
func (m MenuDoc) Item(t testing.TB, sku string) order.MenuItem {
	t.Helper()
	for _, it := range m.Items {
		if it.SKU == sku {
			return it
		}
	}
	t.Fatalf("no item %q on the menu", sku)
	return order.MenuItem{}
}

// Group is the menu's modifier group id.
func (m MenuDoc) Group(t testing.TB, id string) order.ModifierGroup {
	t.Helper()
	for _, g := range m.ModifierGroups {
		if g.ID == id {
			return g
		}
	}
	t.Fatalf("no modifier group %q on the menu", id)
	return order.ModifierGroup{}
}

// MenuDoc reads GET /v1/menu and requires 200.
func (c *Client) MenuDoc() MenuDoc {
	c.t.Helper()
	r := c.Get("/v1/menu")
	require.Equal(c.t, 200, r.Status, string(r.Body))
	var m MenuDoc
	r.JSON(c.t, &m)
	return m
}

// ItemBody is the body of PUT /v1/menu/items/{sku}.
type ItemBody struct {
	Name           string   `json:"name"`
	Category       string   `json:"category"`
	PriceCents     int64    `json:"price_cents"`
	Station        string   `json:"station"`
	TaxClass       string   `json:"tax_class"`
	ModifierGroups []string `json:"modifier_groups"`
}

// ItemBodyOf is the PUT body that defines it as it is.
func ItemBodyOf(it order.MenuItem) ItemBody {
	return ItemBody{Name: it.Name, Category: it.Category, PriceCents: it.PriceCents, Station: it.Station,
		TaxClass: it.TaxClass, ModifierGroups: append([]string{}, it.ModifierGroups...)}
}

// GroupBody is the body of PUT /v1/menu/modifier-groups/{id}.
type GroupBody struct {
	Name    string                 `json:"name"`
	Min     int                    `json:"min"`
	Max     int                    `json:"max"`
	Options []order.ModifierOption `json:"options"`
}

// GroupBodyOf is the PUT body that defines g as it is.
func GroupBodyOf(g order.ModifierGroup) GroupBody {
	return GroupBody{Name: g.Name, Min: g.Min, Max: g.Max, Options: append([]order.ModifierOption{}, g.Options...)}
}

// IfMatch is the header of a menu write against version.
func IfMatch(version int64) map[string]string {
	return map[string]string{"If-Match": `"` + strconv.FormatInt(version, 10) + `"`}
}

// Create is the header of a menu write that creates its entity.
var Create = map[string]string{"If-None-Match": "*"}

// ItemPath and GroupPath address menu entities.
func ItemPath(sku string) string { return "/v1/menu/items/" + sku }
func GroupPath(id string) string { return "/v1/menu/modifier-groups/" + id }

// TryPutItem sends PUT /v1/menu/items/{sku} with header (nil: none).
func (c *Client) TryPutItem(sku string, body any, header map[string]string) Response {
	c.t.Helper()
	return c.Do(Req{Method: "PUT", Path: ItemPath(sku), Body: body, Header: header})
}

// PutItem changes the item under version and requires 200.
func (c *Client) PutItem(sku string, body ItemBody, version int64) order.MenuItem {
	c.t.Helper()
	r := c.TryPutItem(sku, body, IfMatch(version))
	require.Equal(c.t, 200, r.Status, string(r.Body))
	var it order.MenuItem
	r.JSON(c.t, &it)
	require.Equal(c.t, `"`+strconv.FormatInt(it.Version, 10)+`"`, r.Header.Get("ETag"))
	return it
}

// TryPutGroup sends PUT /v1/menu/modifier-groups/{id}.
func (c *Client) TryPutGroup(id string, body any, header map[string]string) Response {
	c.t.Helper()
	return c.Do(Req{Method: "PUT", Path: GroupPath(id), Body: body, Header: header})
}

// AvailabilityPath is where an item's availability is written.
func AvailabilityPath(sku string) string { return ItemPath(sku) + "/availability" }

// TrySetAvailability sends POST /v1/menu/items/{sku}/availability.
func (c *Client) TrySetAvailability(sku string, body any) Response {
	c.t.Helper()
	return c.Post(AvailabilityPath(sku), body)
}

// SetAvailability writes the item's availability and requires 200.
func (c *Client) SetAvailability(sku string, body any) order.MenuItem {
	c.t.Helper()
	r := c.TrySetAvailability(sku, body)
	require.Equal(c.t, 200, r.Status, string(r.Body))
	var it order.MenuItem
	r.JSON(c.t, &it)
	return it
}

// MenuConflict is a menu-version-conflict refusal's body.
type MenuConflict struct {
	ExpectedVersion *int64          `json:"expected_version"`
	CurrentVersion  int64           `json:"current_version"`
	Current         json.RawMessage `json:"current"`
}

// RequireMenuConflict checks a 412 menu-version-conflict and decodes its
// current entity into current (nil: expects "current": null).
func RequireMenuConflict(t testing.TB, r Response, current any) MenuConflict {
	t.Helper()
	RequireProblem(t, r, 412, "menu-version-conflict")
	var mc MenuConflict
	r.JSON(t, &mc)
	if current == nil {
		require.Equal(t, "null", string(mc.Current))
		return mc
	}
	require.NoError(t, json.Unmarshal(mc.Current, current))
	return mc
}
