package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// requestTimeout bounds one HTTP round trip; a write that times out has an
// unknown outcome and is reported as such.
const requestTimeout = 30 * time.Second

// waiterTokens are posd dev's demo waiter tokens (venue "demo"); client i
// uses waiterTokens[i%4].
var waiterTokens = []string{"demo-waiter-1", "demo-waiter-2", "demo-waiter-3", "demo-waiter-4"}

// skus are the demo menu items the add_item ops cycle through.
var skus = []string{"steak", "burger", "fries", "caesar", "beer"}

// menuEntry is a demo menu item.
type menuEntry struct {
	SKU, Name  string
	PriceCents int64
	Station    string
}

// demoMenu is the demo venue's menu entry of each of skus, in that order, as
// posd dev seeds it (internal/seed.DemoMenu). prepareDatabase checks it
// against the running posd's menu_items: the pgbench script carries a copy
// (posd serves the menu from memory, so the script reads no menu), and the
// kitchen scenario computes what an order owes from it.
var demoMenu = []menuEntry{
	{"steak", "Steak frites", 2400, "grill"},
	{"burger", "Bistro burger", 1600, "grill"},
	{"fries", "Fries", 500, "fry"},
	{"caesar", "Caesar salad", 1200, "cold"},
	{"beer", "Draft beer", 700, "bar"},
}

// benchMenu is demoMenu (one entry per element of skus).
func benchMenu() []menuEntry { return demoMenu }

// menuPrice is the price of a demo SKU.
func menuPrice(sku string) int64 {
	for _, m := range demoMenu {
		if m.SKU == sku {
			return m.PriceCents
		}
	}
	return 0
}

// api is a minimal client of posd's HTTP API, tuned for load generation:
// keep-alive connections, bodies built by hand, only the fields posbench
// needs decoded.
type api struct {
	base string
	hc   *http.Client
}

// newAPI returns a client for base (http://host:port) that keeps up to conns
// connections alive.
func newAPI(base string, conns int) *api {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &api{base: base, hc: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

// do sends one request and returns the status and the whole response body.
func (a *api) do(ctx context.Context, method, path, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// orderView is the part of an order (or of a problem body) posbench reads.
type orderView struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Version int64  `json:"version"`
	Lines   []struct {
		ID uuid.UUID `json:"id"`
	} `json:"lines"`
	Totals struct {
		DueCents int64 `json:"due_cents"`
	} `json:"totals"`
	// CurrentVersion is set in 409 problem bodies.
	CurrentVersion *int64 `json:"current_version"`
}

// versionView is decoded from PATCH responses: the new version on success,
// current_version on a conflict.
type versionView struct {
	Version        int64  `json:"version"`
	CurrentVersion *int64 `json:"current_version"`
}

// openOrder opens an order on table and returns its id and version.
func (a *api) openOrder(ctx context.Context, token, table string) (orderView, error) {
	body := fmt.Appendf(nil, `{"table":%q,"guests":4}`, table)
	st, b, err := a.do(ctx, http.MethodPost, "/v1/orders", token, body)
	if err != nil {
		return orderView{}, err
	}
	if st != http.StatusCreated {
		return orderView{}, fmt.Errorf("open order on %s: HTTP %d: %s", table, st, b)
	}
	var o orderView
	return o, json.Unmarshal(b, &o)
}

// getOrder reads an order.
func (a *api) getOrder(ctx context.Context, token, id string) (orderView, error) {
	st, b, err := a.do(ctx, http.MethodGet, "/v1/orders/"+id, token, nil)
	if err != nil {
		return orderView{}, err
	}
	if st != http.StatusOK {
		return orderView{}, fmt.Errorf("get order %s: HTTP %d: %s", id, st, b)
	}
	var o orderView
	return o, json.Unmarshal(b, &o)
}

// patchResult is the outcome of one PATCH round trip.
type patchResult struct {
	status int
	// version is the order's version after the write (200) or its current
	// version (409); 0 when the body said neither.
	version int64
	body    []byte
	elapsed time.Duration
}

// patch sends one versioned write with ops (a JSON array) against expected.
func (a *api) patch(ctx context.Context, token, id string, expected int64, ops []byte) (patchResult, error) {
	body := make([]byte, 0, 64+len(ops))
	body = append(body, `{"expected_version":`...)
	body = strconv.AppendInt(body, expected, 10)
	body = append(body, `,"ops":`...)
	body = append(body, ops...)
	body = append(body, '}')
	start := time.Now()
	st, b, err := a.do(ctx, http.MethodPatch, "/v1/orders/"+id, token, body)
	r := patchResult{status: st, body: b, elapsed: time.Since(start)}
	if err != nil {
		return r, err
	}
	var v versionView
	if json.Unmarshal(b, &v) == nil {
		switch {
		case st == http.StatusOK:
			r.version = v.Version
		case v.CurrentVersion != nil:
			r.version = *v.CurrentVersion
		}
	}
	return r, nil
}

// addItemOps is the ops array adding one line with a client-chosen id.
func addItemOps(line uuid.UUID, sku string) []byte {
	return fmt.Appendf(nil, `[{"op":"add_item","sku":%q,"line_id":"%s"}]`, sku, line)
}

// removeItemOps is the ops array removing one line.
func removeItemOps(line uuid.UUID) []byte {
	return fmt.Appendf(nil, `[{"op":"remove_item","line_id":"%s"}]`, line)
}

// fillOps is the ops array adding the given lines at once.
func fillOps(lines []uuid.UUID) []byte {
	b := []byte{'['}
	for i, id := range lines {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"op":"add_item","sku":%q,"line_id":"%s"}`, skus[i%len(skus)], id)
	}
	return append(b, ']')
}

// newLineID is a fresh client-chosen line id (UUIDv7, like posd's own).
func newLineID() uuid.UUID { return uuid.Must(uuid.NewV7()) }
