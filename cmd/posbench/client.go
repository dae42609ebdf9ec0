package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/seed"
)

// waiterTokens are posd dev's demo waiter tokens; client i uses
// waiterTokens[i%4]. kitchenToken is its demo kitchen device.
var waiterTokens = []string{seed.TokenWaiter1, seed.TokenWaiter2, seed.TokenWaiter3, seed.TokenWaiter4}

const kitchenToken = seed.TokenKitchen

// skus are the demo menu items (seed.DemoMenu, as posd dev seeds it) the
// add_item ops cycle through.
var skus = []string{"steak", "burger", "fries", "caesar", "beer"}

func menuItem(sku string) order.MenuItem {
	i := slices.IndexFunc(seed.DemoMenu, func(m order.MenuItem) bool { return m.SKU == sku })
	return seed.DemoMenu[i]
}

// api is a minimal client of posd's HTTP API for load generation:
// keep-alive connections, bodies built by hand, only what posbench needs
// decoded.
type api struct {
	base string
	hc   *http.Client
}

func newAPI(base string, conns int) *api {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	// A write that times out has an unknown outcome and is reported so.
	return &api{base: base, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// do sends one request and returns the status and the whole body.
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

// orderView is the part of an order posbench reads.
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
}

func (o orderView) lineIDs() []uuid.UUID {
	ids := make([]uuid.UUID, len(o.Lines))
	for i, l := range o.Lines {
		ids[i] = l.ID
	}
	return ids
}

func (a *api) openOrder(ctx context.Context, token, table string) (orderView, error) {
	return a.order(ctx, http.MethodPost, "/v1/orders", token, fmt.Appendf(nil, `{"table":%q,"guests":4}`, table), http.StatusCreated)
}

func (a *api) getOrder(ctx context.Context, token, id string) (orderView, error) {
	return a.order(ctx, http.MethodGet, "/v1/orders/"+id, token, nil, http.StatusOK)
}

func (a *api) order(ctx context.Context, method, path, token string, body []byte, want int) (orderView, error) {
	var o orderView
	st, b, err := a.do(ctx, method, path, token, body)
	if err == nil && st != want {
		err = fmt.Errorf("%s %s: HTTP %d: %s", method, path, st, b)
	}
	if err == nil {
		err = json.Unmarshal(b, &o)
	}
	return o, err
}

// patchResult is one PATCH round trip: the version after the write (200) or
// the current one (409; 0 when the body said neither).
type patchResult struct {
	status  int
	version int64
	body    []byte
	elapsed time.Duration
}

// patch sends one versioned write of ops (a JSON array) against expected.
func (a *api) patch(ctx context.Context, token, id string, expected int64, ops []byte) (patchResult, error) {
	body := append(strconv.AppendInt([]byte(`{"expected_version":`), expected, 10), `,"ops":`...)
	body = append(append(body, ops...), '}')
	start := time.Now()
	st, b, err := a.do(ctx, http.MethodPatch, "/v1/orders/"+id, token, body)
	r := patchResult{status: st, body: b, elapsed: time.Since(start)}
	var v struct {
		Version        int64  `json:"version"`
		CurrentVersion *int64 `json:"current_version"`
	}
	if err == nil && json.Unmarshal(b, &v) == nil {
		switch {
		case st == http.StatusOK:
			r.version = v.Version
		case v.CurrentVersion != nil:
			r.version = *v.CurrentVersion
		}
	}
	return r, err
}

func addItemOps(line uuid.UUID, sku string) []byte {
	return fmt.Appendf(nil, `[{"op":"add_item","sku":%q,"line_id":"%s"}]`, sku, line)
}

func removeItemOps(line uuid.UUID) []byte {
	return fmt.Appendf(nil, `[{"op":"remove_item","line_id":"%s"}]`, line)
}

// fillOps adds the given lines at once.
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
