package apitest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/device"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pgtest"
	"github.com/posd/posd/internal/seed"
	"github.com/posd/posd/internal/store"
)

// Polling bounds: every test that waits for something asynchronous uses
// Eventually (or Poll), with Wait unless it states its own limit.
const (
	// Wait is how long a test waits for an asynchronous effect (a relayed
	// message, a stream event, a cursor save) before failing.
	Wait = 30 * time.Second
	// Tick is how often it looks.
	Tick = 10 * time.Millisecond
)

// Poll checks cond at once and then every Tick until it holds (true) or
// limit has passed (false). cond runs on the caller's goroutine, so it may
// use require and the test's handles.
func Poll(limit time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Tick)
	}
	return true
}

// Eventually is Poll that fails the test when cond does not hold within
// limit, saying what it waited for (what and args, as fmt.Sprintf). Args
// are formatted only then, so a fmt.Stringer (such as Lazy) shows the state
// at the deadline.
func Eventually(t testing.TB, limit time.Duration, cond func() bool, what string, args ...any) {
	t.Helper()
	if !Poll(limit, cond) {
		t.Fatalf("timed out after %s waiting for %s", limit, fmt.Sprintf(what, args...))
	}
}

// Lazy is a message part computed when it is printed (%s, %v).
type Lazy func() string

func (l Lazy) String() string { return l() }

// Fixture is a running stack and a client per demo device.
type Fixture struct {
	*Stack
	T testing.TB
	// Alice, Bruno (waiters), Maria (manager), the kitchen, Olga (auditor)
	// of venue demo, and Zoe (waiter) of venue demo2.
	Waiter, Waiter2, Manager, Kitchen, Auditor, Other *Client
}

// NewFixture starts a stack for t (see Start) with its demo clients.
func NewFixture(t testing.TB, opts ...Options) *Fixture {
	t.Helper()
	return FixtureOf(t, Start(t, opts...))
}

// FixtureOf wraps a running stack.
func FixtureOf(t testing.TB, s *Stack) *Fixture {
	return &Fixture{Stack: s, T: t,
		Waiter: s.As(t, seed.TokenWaiter1), Waiter2: s.As(t, seed.TokenWaiter2),
		Manager: s.As(t, seed.TokenManager), Kitchen: s.As(t, seed.TokenKitchen),
		Auditor: s.As(t, seed.TokenAuditor), Other: s.As(t, seed.TokenDemo2Waiter)}
}

// Open opens an order on a demo table as the first waiter, for 2 guests.
func (f *Fixture) Open(table string) order.Order {
	f.T.Helper()
	return f.Waiter.Open(table, 2)
}

// Fired opens an order on table as the first waiter, adds items and fires
// them in one PATCH: the order is at version 2 with one fire ticket per
// station.
func (f *Fixture) Fired(table string, items ...order.Op) order.Order {
	f.T.Helper()
	o := f.Open(table)
	return f.Waiter.Patch(o.ID, 1, append(items, Fire())...)
}

// AddDevice registers a device and returns its token.
func (f *Fixture) AddDevice(venue, name, role, staff string) string {
	f.T.Helper()
	_, token, err := store.AddDevice(context.Background(), f.DB.Admin, device.Spec{Venue: venue, Name: name, Role: role, Staff: staff})
	require.NoError(f.T, err)
	return token
}

// RevokeDevice revokes a device by name.
func (f *Fixture) RevokeDevice(venue, name string) {
	f.T.Helper()
	_, err := store.RevokeDevice(context.Background(), f.DB.Admin, venue, name)
	require.NoError(f.T, err)
}

// Fingerprint is the fixture's database fingerprint (see Fingerprint).
func (f *Fixture) Fingerprint() string {
	f.T.Helper()
	return Fingerprint(f.T, f.DB)
}

// Fingerprint sums up everything a /v1 write can change, so a test can
// require that a refused request changed nothing: the orders (and each one's
// version, table, status, guests and note), their events, lines and
// payments, the kitchen tickets and their log, the outbox, the stored
// idempotent answers, and the menus (versions, items with their
// availability, groups and options, the menu log). Recorded version conflicts are left out: recording a
// refused stale write is what a refusal does.
func Fingerprint(t testing.TB, db *pgtest.DB) string {
	t.Helper()
	q := []struct{ name, sql string }{
		{"orders", "SELECT count(*) FROM orders"},
		{"versions", "SELECT coalesce(sum(version),0) FROM orders"},
		{"orderhash", "SELECT coalesce(sum(hashtext(id::text || version || table_id || status || guests || note || coalesce(closed_at::text, ''))),0) FROM orders"},
		{"events", "SELECT count(*) FROM order_events"},
		{"lines", "SELECT count(*) FROM order_lines"},
		{"linehash", "SELECT coalesce(sum(hashtext(id::text || qty || status || comped)),0) FROM order_lines"},
		{"payments", "SELECT count(*) FROM order_payments"},
		{"tickets", "SELECT count(*) FROM kitchen_tickets"},
		{"tickethash", "SELECT coalesce(sum(hashtext(id::text || status || coalesce(bumped_at::text, ''))),0) FROM kitchen_tickets"},
		{"ticketevents", "SELECT count(*) FROM kitchen_ticket_events"},
		{"outbox", "SELECT count(*) FROM outbox"},
		{"outboxmax", "SELECT coalesce(max(id),0) FROM outbox"},
		{"idempotency", "SELECT count(*) FROM idempotency_keys"},
		{"idempotencyhash", "SELECT coalesce(sum(hashtext(device_id::text || key || status || encode(fingerprint, 'hex'))),0) FROM idempotency_keys"},
		{"menuversions", "SELECT coalesce(sum(menu_version),0) FROM venues"},
		{"menulog", "SELECT count(*) FROM menu_log"},
		{"itemhash", "SELECT coalesce(sum(hashtext(venue_id || sku || name || price_cents || station || version || available || coalesce(unavailable_until::text, '') || coalesce(remaining, -1))),0) FROM menu_items"},
		{"grouphash", "SELECT coalesce(sum(hashtext(venue_id || id || name || min_choices || max_choices || version)),0) FROM modifier_groups"},
		{"optionhash", "SELECT coalesce(sum(hashtext(venue_id || group_id || id || name || price_cents)),0) FROM modifier_options"},
	}
	out := ""
	for _, c := range q {
		out += fmt.Sprintf("%s=%d ", c.name, db.Count(t, c.sql))
	}
	return out
}

// Race runs n copies of fn at once: every goroutine blocks on one barrier
// that is released only when all n are started, so the copies really
// overlap rather than run one after another. It returns when all are done.
func Race(n int, fn func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// InsertOpenTickets bulk-loads n open grill tickets of order id (demo, T1,
// order version 2), one line each with a note of noteLen bytes, for tests
// that need thousands of open tickets faster than the API makes them.
func (f *Fixture) InsertOpenTickets(id uuid.UUID, n, noteLen int) {
	f.T.Helper()
	_, err := f.DB.Admin.Exec(context.Background(), `INSERT INTO kitchen_tickets
		(venue_id, id, order_id, table_id, station, kind, lines, status, server, order_version, created_at)
		SELECT 'demo', gen_random_uuid(), $1, 'T1', 'grill', 'fire',
		       jsonb_build_array(jsonb_build_object('line_id', gen_random_uuid(), 'name', 'Steak frites', 'qty', 1,
		         'seat', 1, 'course', 1, 'modifiers', jsonb_build_array('medium rare'), 'note', repeat('x', $3))),
		       'new', 'Alice', 2, now() + g * interval '1 ms'
		FROM generate_series(1, $2::int) g`, id, n, noteLen)
	require.NoError(f.T, err)
}
