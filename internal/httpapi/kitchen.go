package httpapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/kitchen"
)

// StreamLimits bound the kitchen streams (and, counted apart with the same
// limits, the venue streams of GET /v1/stream) one device and one venue may
// hold and open, so a reconnect storm (or an attacker with a kitchen token) is
// answered 429 for its own device or venue and never takes the JetStream
// consumers or the memory other venues need. Zero fields take the defaults
// of DefaultStreamLimits.
type StreamLimits struct {
	// PerDevice is the most streams one device holds at once: opening one
	// more ends the device's oldest (a screen that lost its network and
	// reconnects is not locked out by its own dead connection). PerVenue is
	// the most a venue holds at once: one more is refused.
	PerDevice, PerVenue int
	// OpensPerDevice and OpensPerVenue are the most stream opens (accepted
	// or not) per Window.
	OpensPerDevice, OpensPerVenue int
	// Window is the period the open counts are kept for.
	Window time.Duration
	// WriteTimeout ends a stream whose screen does not take a write (its
	// messages or a heartbeat) within it: a screen that stops reading is cut
	// rather than held, with its buffers, for good.
	WriteTimeout time.Duration
	// AuthFresh is how recently the device must have been found active for
	// a ticket message to be sent; older, it is checked again first. With
	// the periodic check (Config.StreamAuthCheck) a revoked device gets no
	// ticket sent after AuthFresh and its stream ends within StreamAuthCheck.
	AuthFresh time.Duration
	// MaxReplay is the most messages of its venue the venue stream
	// (GET /v1/stream) replays after a cursor; more is a reset event.
	MaxReplay int
}

// DefaultStreamLimits are the limits posd runs with unless configured.
var DefaultStreamLimits = StreamLimits{
	PerDevice:      4,
	PerVenue:       100,
	OpensPerDevice: 30,
	OpensPerVenue:  300,
	Window:         time.Minute,
	WriteTimeout:   10 * time.Second,
	AuthFresh:      time.Second,
	MaxReplay:      kds.DefaultMaxReplay,
}

// DefaultStreamAuthCheck is how often an open kitchen stream checks that its
// device is still active.
const DefaultStreamAuthCheck = 2 * time.Second

// concurrentRetry is the Retry-After of a refusal for too many open streams:
// about the time a dropped screen's old stream takes to be noticed.
const concurrentRetry = 5 * time.Second

func (l StreamLimits) withDefaults() StreamLimits {
	d := DefaultStreamLimits
	for _, f := range []struct{ v, def *int }{
		{&l.PerDevice, &d.PerDevice}, {&l.PerVenue, &d.PerVenue},
		{&l.OpensPerDevice, &d.OpensPerDevice}, {&l.OpensPerVenue, &d.OpensPerVenue},
		{&l.MaxReplay, &d.MaxReplay},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	for _, f := range []struct{ v, def *time.Duration }{
		{&l.Window, &d.Window}, {&l.WriteTimeout, &d.WriteTimeout}, {&l.AuthFresh, &d.AuthFresh},
	} {
		if *f.v <= 0 {
			*f.v = *f.def
		}
	}
	return l
}

// streamLimitError is a stream refused by a StreamLimits bound (429).
type streamLimitError struct {
	what       string
	retryAfter time.Duration
}

func (e *streamLimitError) Error() string { return e.what }

// RetryAfter is when the client may try again.
func (e *streamLimitError) RetryAfter() time.Duration { return e.retryAfter }

// streamLimiter counts open streams and recent opens per device and venue.
type streamLimiter struct {
	lim  StreamLimits
	name string // the stream, in refusals
	now  func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	openDevice  map[string][]*streamSlot // device → its open streams, oldest first
	openVenue   map[string]int
	opensDevice map[string]int // device id → opens in this window
	opensVenue  map[string]int
}

func newStreamLimiter(lim StreamLimits, name string) *streamLimiter {
	return &streamLimiter{lim: lim, name: name, now: time.Now,
		openDevice: map[string][]*streamSlot{}, openVenue: map[string]int{},
		opensDevice: map[string]int{}, opensVenue: map[string]int{}}
}

// streamSlot is one open stream's place in the counts.
type streamSlot struct {
	l      *streamLimiter
	dev    string
	venue  string
	cancel context.CancelFunc
	done   bool // released (under l.mu)
}

// release gives the stream's place back; safe to call more than once.
func (sl *streamSlot) release() {
	sl.l.mu.Lock()
	defer sl.l.mu.Unlock()
	sl.releaseLocked()
}

func (sl *streamSlot) releaseLocked() {
	if sl.done {
		return
	}
	sl.done = true
	l := sl.l
	l.openDevice[sl.dev] = slices.DeleteFunc(l.openDevice[sl.dev], func(o *streamSlot) bool { return o == sl })
	if len(l.openDevice[sl.dev]) == 0 {
		delete(l.openDevice, sl.dev)
	}
	if l.openVenue[sl.venue]--; l.openVenue[sl.venue] <= 0 {
		delete(l.openVenue, sl.venue)
	}
}

// acquire counts one stream open for p and, within the limits, one open
// stream that cancel ends if the device opens too many.
func (l *streamLimiter) acquire(p auth.Principal, cancel context.CancelFunc) (*streamSlot, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.windowStart) >= l.lim.Window {
		l.windowStart = now
		clear(l.opensDevice)
		clear(l.opensVenue)
	}
	dev := p.Venue + "/" + p.DeviceID.String()
	l.opensDevice[dev]++
	l.opensVenue[p.Venue]++
	windowLeft := l.windowStart.Add(l.lim.Window).Sub(now)
	mine := l.openDevice[dev]
	switch {
	case l.opensDevice[dev] > l.lim.OpensPerDevice:
		return nil, &streamLimitError{fmt.Sprintf("this device opened the %s more than %d times in %s; retry later", l.name, l.lim.OpensPerDevice, l.lim.Window), windowLeft}
	case l.opensVenue[p.Venue] > l.lim.OpensPerVenue:
		return nil, &streamLimitError{fmt.Sprintf("this venue's devices opened the %s more than %d times in %s; retry later", l.name, l.lim.OpensPerVenue, l.lim.Window), windowLeft}
	case len(mine) < l.lim.PerDevice && l.openVenue[p.Venue] >= l.lim.PerVenue:
		return nil, &streamLimitError{fmt.Sprintf("this venue already has %d %ss open; retry later", l.lim.PerVenue, l.name), concurrentRetry}
	}
	if len(mine) >= l.lim.PerDevice {
		oldest := mine[0]
		oldest.releaseLocked()
		oldest.cancel()
	}
	sl := &streamSlot{l: l, dev: dev, venue: p.Venue, cancel: cancel}
	l.openDevice[dev] = append(l.openDevice[dev], sl)
	l.openVenue[p.Venue]++
	return sl, nil
}

// station reads and checks the station query parameter against the venue's
// stations.
func (s *Server) station(c *fiber.Ctx) (string, error) {
	st := c.Query("station")
	if st == "" {
		return "", badRequest("station", "station is required, e.g. ?station=grill")
	}
	stations, err := s.cfg.Store.Stations(c.UserContext(), principal(c).Venue)
	if err != nil {
		return "", err
	}
	if !slices.Contains(stations, st) {
		return "", badRequest("station", fmt.Sprintf("unknown station %q; this venue has %s", st, strings.Join(stations, ", ")))
	}
	return strings.Clone(st), nil
}

// kitchenTickets lists a station's open tickets (?status=new, the default;
// at most kitchen.MaxSnapshotTickets, the oldest, with "truncated" telling
// that there are more) or its recently bumped ones (?status=ready, most
// recent first, at most kitchen.MaxRecentReady within
// kitchen.RecentReadyWindow).
func (s *Server) kitchenTickets(c *fiber.Ctx) error {
	st, err := s.station(c)
	if err != nil {
		return err
	}
	venue := principal(c).Venue
	switch c.Query("status", kitchen.StatusNew) {
	case kitchen.StatusNew:
		tickets, err := s.cfg.Store.OpenTickets(c.UserContext(), venue, st)
		if err != nil {
			return err
		}
		truncated := len(tickets) > kitchen.MaxSnapshotTickets
		if truncated {
			tickets = tickets[:kitchen.MaxSnapshotTickets]
		}
		return c.JSON(fiber.Map{"tickets": tickets, "truncated": truncated})
	case kitchen.StatusReady:
		tickets, err := s.cfg.Store.RecentReady(c.UserContext(), venue, st)
		if err != nil {
			return err
		}
		return c.JSON(fiber.Map{"tickets": tickets, "truncated": false})
	default:
		return badRequest("status", "status must be new (open tickets) or ready (recently bumped)")
	}
}

func (s *Server) moveTicket(move string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, ok := pathUUID(c)
		if !ok {
			return kitchen.ErrNotFound
		}
		p := principal(c)
		t, err := s.cfg.Store.MoveTicket(c.UserContext(), p.Venue, id, move, p.Actor())
		if err != nil {
			return err
		}
		return c.JSON(t)
	}
}

// errRevoked ends a stream whose device was revoked.
var errRevoked = errors.New("device revoked")

// kitchenStream is the Server-Sent Events stream of one station. The cursor
// comes from Last-Event-ID (what browsers send on reconnect) or ?after=.
func (s *Server) kitchenStream(c *fiber.Ctx) error {
	st, err := s.station(c)
	if err != nil {
		return err
	}
	after, err := streamCursor(c)
	if err != nil {
		return err
	}
	return s.serveStream(c, s.streamLimits, "kitchen stream", func(ctx context.Context) (*kds.Subscription, error) {
		sub, err := s.cfg.KDS.Open(ctx, principal(c).Venue, st, after)
		if err == nil && sub.Truncated() > 0 {
			s.cfg.Log.Warn().Str("venue", principal(c).Venue).Str("station", st).Int("left_out", sub.Truncated()).
				Int("max", kitchen.MaxSnapshotTickets).Msg("kitchen stream: snapshot truncated")
		}
		return sub, err
	})
}

// venueStream is the Server-Sent Events stream of the venue's order and
// menu changes (GET /v1/stream), with the kitchen stream's cursor rules,
// limits and checks.
func (s *Server) venueStream(c *fiber.Ctx) error {
	after, err := streamCursor(c)
	if err != nil {
		return err
	}
	return s.serveStream(c, s.venueLimits, "venue stream", func(ctx context.Context) (*kds.Subscription, error) {
		return s.cfg.KDS.OpenVenue(ctx, principal(c).Venue, after, s.cfg.StreamLimits.MaxReplay)
	})
}

// streamCursor reads a stream's cursor: Last-Event-ID (what browsers send
// on reconnect) wins over ?after=. nil when neither is given.
func streamCursor(c *fiber.Ctx) (*uint64, error) {
	cursor, from := c.Get("Last-Event-ID"), "Last-Event-ID"
	if cursor == "" {
		cursor, from = c.Query("after"), "after"
	}
	if cursor == "" {
		return nil, nil
	}
	// 63 bits: a stream sequence never gets there, and the cursor + 1
	// the subscription starts at cannot wrap to 0 (the whole history).
	n, err := strconv.ParseUint(strings.TrimSpace(cursor), 10, 63)
	if err != nil {
		return nil, badRequest(from, "the cursor must be the id of a message received earlier")
	}
	return &n, nil
}

// serveStream answers a stream request: within limits, it opens the
// subscription (open, before anything is sent, so a refusal is a problem
// response) and writes it as Server-Sent Events, with a write timeout per
// write and the device's authorisation checked while it lasts. name names
// the stream in logs.
func (s *Server) serveStream(c *fiber.Ctx, limits *streamLimiter, name string, open func(ctx context.Context) (*kds.Subscription, error)) error {
	c.Set(fiber.HeaderContentType, "text/event-stream")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set("X-Accel-Buffering", "no")
	if c.Method() == fiber.MethodHead {
		// Headers only: no body is ever written, so nothing is opened.
		return nil
	}
	p := principal(c)
	venue := p.Venue
	ctx, cancel := s.streamContext()
	slot, err := limits.acquire(p, cancel)
	if err != nil {
		cancel()
		return err
	}
	sub, err := open(ctx)
	if err != nil {
		cancel()
		slot.release()
		return err
	}
	lim := limits.lim
	alive := &streamAuth{s: s, p: p, cancel: cancel, fresh: lim.AuthFresh, name: name}
	alive.confirmed.Store(time.Now().UnixNano()) // authenticated just now
	go alive.watch(ctx)
	conn := c.Context().Conn()
	// A screen gone without a word (a tablet off the Wi-Fi) leaves writes
	// unacknowledged: let the kernel give up on it after WriteTimeout too,
	// rather than after its default of about 15 minutes.
	setUserTimeout(conn, lim.WriteTimeout)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		// Runs in its own goroutine once the handler returned; also when the
		// client is already gone (the first flush then fails), so whatever
		// happens the subscription and its consumer are closed here.
		defer slot.release()
		defer cancel()
		defer sub.Close()
		// send bounds each write: a screen that stops reading (its TCP
		// window full) is cut after WriteTimeout, which closes the connection
		// and so unblocks the write.
		send := func(write func()) error {
			cut := time.AfterFunc(lim.WriteTimeout, func() {
				s.cfg.Log.Info().Str("venue", venue).Str("device", p.Device).Msg(name + " cut: the client stopped reading")
				cancel()
				_ = conn.Close()
			})
			defer cut.Stop()
			write()
			return w.Flush()
		}
		// Tell browsers to come back quickly after a drop.
		if err := send(func() { fmt.Fprint(w, "retry: 2000\n\n") }); err != nil {
			return
		}
		err := sub.Run(ctx, func(ev kds.Event) error {
			switch {
			case ev.Type == "":
				return send(func() { fmt.Fprint(w, ": heartbeat\n\n") })
			case !alive.ok(ctx):
				return errRevoked
			case ev.NoID:
				return send(func() { fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.Type, ev.Data) })
			default:
				return send(func() { fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", ev.Cursor, ev.Type, ev.Data) })
			}
		})
		if err != nil && ctx.Err() == nil {
			s.cfg.Log.Debug().Err(err).Str("venue", venue).Str("device", p.Device).Msg(name + " ended")
		}
	})
	return nil
}

// streamAuth keeps a stream's device authorised: the stream was
// authenticated once, when it opened, and may stay open for a whole shift.
// A failed check (Postgres briefly unreachable) keeps the stream; the next
// check decides.
type streamAuth struct {
	s         *Server
	p         auth.Principal
	cancel    context.CancelFunc
	fresh     time.Duration
	name      string       // the stream, in logs
	confirmed atomic.Int64 // unix nanoseconds of the last check that found it active
	mu        sync.Mutex   // one check at a time
}

// watch checks every StreamAuthCheck and ends the stream once the device is
// revoked.
func (a *streamAuth) watch(ctx context.Context) {
	t := time.NewTicker(a.s.cfg.StreamAuthCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !a.check(ctx) {
			return
		}
	}
}

// ok reports whether the device was found active within fresh, checking
// again if not.
func (a *streamAuth) ok(ctx context.Context) bool {
	if time.Since(time.Unix(0, a.confirmed.Load())) < a.fresh {
		return ctx.Err() == nil
	}
	return a.check(ctx)
}

func (a *streamAuth) check(ctx context.Context) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ctx.Err() != nil {
		return false
	}
	if time.Since(time.Unix(0, a.confirmed.Load())) < a.fresh/2 {
		return true // another check just passed
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	active, err := a.s.cfg.Auth.Active(cctx, a.p)
	if err != nil {
		if ctx.Err() == nil {
			a.s.cfg.Log.Warn().Err(err).Str("venue", a.p.Venue).Str("device", a.p.Device).Msg(a.name + ": device check failed")
		}
		return ctx.Err() == nil
	}
	if !active {
		a.s.cfg.Log.Info().Str("venue", a.p.Venue).Str("device", a.p.Device).Msg(a.name + " ended: device revoked")
		a.cancel()
		return false
	}
	a.confirmed.Store(time.Now().UnixNano())
	return true
}
