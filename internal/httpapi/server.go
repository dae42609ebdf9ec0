// Package httpapi is posd's HTTP edge: routing, authentication, request
// decoding, problem responses and request logs. It calls into the order store
// and never decides business rules itself.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/posd/posd/internal/audit"
	"github.com/posd/posd/internal/auth"
	"github.com/posd/posd/internal/kds"
	"github.com/posd/posd/internal/metrics"
	"github.com/posd/posd/internal/order"
	"github.com/posd/posd/internal/pos"
	"github.com/posd/posd/internal/store"
)

// The stream routes: the only ones that accept ?access_token= (EventSource
// cannot send headers) and that outlive RequestTimeout.
const (
	streamPath      = "/v1/kitchen/stream"
	venueStreamPath = "/v1/stream"
)

// isStreamPath reports whether path is one of the stream routes.
func isStreamPath(path string) bool {
	return strings.EqualFold(path, streamPath) || strings.EqualFold(path, venueStreamPath)
}

// MaxBodyBytes is the largest request body posd reads (64 KiB).
const MaxBodyBytes = 64 << 10

// Check is one dependency /readyz reports; Run returns nil when it is
// reachable.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
	// Reported marks a dependency whose state /readyz shows but that is no
	// reason to answer 503: posd takes orders while NATS is away (delivery
	// waits in the outbox), so only Postgres decides readiness.
	Reported bool
}

// Config is what the HTTP edge needs.
type Config struct {
	Store *store.Store
	// AuditStore, when set, is where /v1/audit/shift and /v1/audit/verify
	// read the journal: a standby (posd serve --replica-url), so a long
	// report does not load the primary. Their answers then say where they
	// were read and how far behind (Posd-Read-From, read_from).
	AuditStore *store.Store
	Auth       *auth.Authenticator
	// KDS serves the kitchen stream.
	KDS     *kds.Gateway
	Metrics *metrics.Metrics
	Log     zerolog.Logger
	// Ready lists the dependencies /readyz checks (Postgres, NATS).
	Ready []Check
	// Version is the build's version, reported by /healthz.
	Version string
	// StreamAuthCheck is how often an open kitchen stream checks that its
	// device is still active, so revoking a device also ends its streams
	// (default DefaultStreamAuthCheck).
	StreamAuthCheck time.Duration
	// StreamLimits bound kitchen streams per device and per venue (zero
	// fields take DefaultStreamLimits).
	StreamLimits StreamLimits
	// RequestTimeout bounds every request but the kitchen stream (default
	// DefaultRequestTimeout): past it, the database work it waits for is
	// cancelled and it answers 503 with Retry-After.
	RequestTimeout time.Duration
	// AuditTimeout is the RequestTimeout of /v1/audit/*, which read a whole
	// shift or journal (default DefaultAuditTimeout).
	AuditTimeout time.Duration
	// MaxConns caps open connections in total (default DefaultMaxConns);
	// one more is answered 503 and closed.
	MaxConns int
	// MaxConnsPerIP caps open connections per client address (default
	// DefaultMaxConnsPerIP); one more is answered 429 and closed.
	MaxConnsPerIP int
	// Audit is how GET /v1/audit/verify checks the journal: the public half
	// of the server's seal key and its seal interval (zero: seal signatures
	// and freshness are not checked).
	Audit audit.VerifyOptions
}

// Defaults of the edge's bounds (see Config).
const (
	DefaultRequestTimeout = 10 * time.Second
	DefaultAuditTimeout   = 60 * time.Second
	DefaultMaxConns       = 2048
	DefaultMaxConnsPerIP  = 256
)

// RetryAfter is what a 503 or 429 answer asks the client to wait.
const RetryAfter = 2 * time.Second

// Server is the Fiber application with posd's routes.
type Server struct {
	cfg Config
	app *fiber.App
	// streams is cancelled by CloseStreams so long-lived kitchen streams end
	// before the HTTP server drains.
	streams      context.Context
	closeStreams context.CancelFunc
	streamLimits *streamLimiter // kitchen streams
	venueLimits  *streamLimiter // venue streams (GET /v1/stream)
}

// locals keys set by handlers for the request log line.
const (
	localPrincipal       = "principal"
	localTokenHash       = "token-hash" // set while the principal came from the cache, unchecked
	localRequestID       = "request_id"
	localOrderID         = "order_id"
	localVersion         = "version"
	localExpectedVersion = "expected_version"
	localCurrentVersion  = "current_version"
	localErr             = "error"
)

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.StreamAuthCheck <= 0 {
		cfg.StreamAuthCheck = DefaultStreamAuthCheck
	}
	cfg.StreamLimits = cfg.StreamLimits.withDefaults()
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.AuditTimeout <= 0 {
		cfg.AuditTimeout = DefaultAuditTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	s := &Server{cfg: cfg, streamLimits: newStreamLimiter(cfg.StreamLimits, "kitchen stream"),
		venueLimits: newStreamLimiter(cfg.StreamLimits, "venue stream")}
	s.streams, s.closeStreams = context.WithCancel(context.Background())
	s.app = fiber.New(fiber.Config{
		AppName:               "posd",
		BodyLimit:             MaxBodyBytes,
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		ReadTimeout:           30 * time.Second,
		// No WriteTimeout: it would cut kitchen streams, which live for
		// hours; every other response is bounded by its handler.
		IdleTimeout: 120 * time.Second,
	})
	s.app.Use(s.observe)
	s.app.Use(strictHeaders)
	s.app.Use(s.deadline)
	s.app.Use(noBodyOnReads)
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", adaptor.HTTPHandler(promhttp.HandlerFor(cfg.Metrics.Registry, promhttp.HandlerOpts{})))
	s.app.Get("/kds", kdsPage)
	s.app.Use("/kds/assets", filesystem.New(filesystem.Config{Root: http.FS(kds.Web), PathPrefix: "web/assets", MaxAge: 300}))
	s.app.Get("/pos", posHeaders, posPage)
	s.app.Get("/pos/sw.js", posHeaders, posWorker)
	s.app.Use("/pos/assets", posHeaders, filesystem.New(filesystem.Config{Root: http.FS(pos.Web), PathPrefix: "web/assets", MaxAge: 300}))

	all := []string{order.RoleWaiter, order.RoleManager, order.RoleKitchen, order.RoleAuditor}
	writers := writerRoles
	readers := []string{order.RoleWaiter, order.RoleManager, order.RoleAuditor}

	// Each route names the query parameters it reads (query); any other, or
	// one given twice, is refused rather than silently ignored.
	v1 := s.app.Group("/v1", s.authenticate)
	v1.Get("/me", allow(all), query(), s.me)
	v1.Get("/menu", allow(all), query(), s.menu)
	managers := []string{order.RoleManager}
	v1.Put("/menu/items/:sku", allow(managers), query(), s.putItem)
	v1.Put("/menu/modifier-groups/:id", allow(managers), query(), s.putModifierGroup)
	v1.Get("/tables", allow(all), query(), s.tables)
	v1.Post("/orders", allow(writers), query(), s.openOrder)
	v1.Get("/orders", allow(readers), query("status", "table", "limit", "after"), s.listOrders)
	v1.Get("/orders/:id", allow(readers), query("at_version"), s.getOrder)
	v1.Patch("/orders/:id", allow(writers), query(), s.patchOrder)
	v1.Post("/orders/:id/transfer", allow(writers), query(), s.transferOrder)
	v1.Post("/orders/:id/merge", allow(writers), query(), s.mergeOrder)
	v1.Get("/orders/:id/events", allow(readers), query("after_version", "limit"), s.orderEvents)
	cooks := []string{order.RoleKitchen, order.RoleManager}
	v1.Post("/menu/items/:sku/availability", allow(cooks), query(), s.setAvailability)
	v1.Get("/kitchen/tickets", allow(cooks), query("station", "status"), s.kitchenTickets)
	v1.Post("/kitchen/tickets/:id/bump", allow(cooks), query(), noBody, s.moveTicket("bump"))
	v1.Post("/kitchen/tickets/:id/recall", allow(cooks), query(), noBody, s.moveTicket("recall"))
	v1.Get("/kitchen/stream", allow(cooks), query("station", "after", "access_token"), s.kitchenStream)
	v1.Get("/stream", allow(readers), query("after", "access_token"), s.venueStream)
	auditors := []string{order.RoleManager, order.RoleAuditor}
	v1.Get("/audit/verify", allow(auditors), query(), s.auditVerify)
	v1.Get("/audit/shift", allow(auditors), query("from", "to", "format"), s.auditShift)
	// No catch-all: a path no route matches falls through to Fiber, which
	// answers 405 (with Allow) when another method has a route there, else 404.

	// Fiber answers a method it does not know with a bare text 400 before
	// any handler runs; answer it with a problem like everything else.
	known := s.app.Config().RequestMethods
	next := s.app.Server().Handler
	s.app.Server().Handler = func(ctx *fasthttp.RequestCtx) {
		if slices.Contains(known, string(ctx.Method())) {
			next(ctx)
			return
		}
		s.writeProblem(ctx, Problem{Type: ProblemBase + "method-not-allowed", Title: http.StatusText(http.StatusMethodNotAllowed),
			Status: http.StatusMethodNotAllowed, Detail: "unknown HTTP method", Instance: string(ctx.Path())})
	}
	// A request fasthttp cannot read (body over the limit, headers over
	// the buffer, a malformed head) never reaches the routes: give its
	// answer a request id too, and read what the client is still sending
	// before closing, so it gets the answer rather than a reset.
	readErr := s.app.Server().ErrorHandler
	s.app.Server().ErrorHandler = func(ctx *fasthttp.RequestCtx, err error) {
		rid := requestIDOf(ctx)
		ctx.SetUserValue(localRequestID, rid)
		ctx.Response.Header.Set(fiber.HeaderXRequestID, rid)
		if cc, ok := ctx.Conn().(*capConn); ok {
			cc.drainOnClose()
		}
		readErr(ctx, err)
		s.cfg.Log.Info().Str("request_id", rid).Str("route", "unread").Int("status", ctx.Response.StatusCode()).
			Str("reason", err.Error()).Msg("request")
	}
	return s
}

// Serve answers HTTP on ln until the app shuts down, within MaxConns and
// MaxConnsPerIP.
func (s *Server) Serve(ln net.Listener) error {
	return s.app.Listener(newCapListener(ln, s))
}

// deadline bounds the request's context by RequestTimeout (AuditTimeout for
// the audit routes). The kitchen stream lives for hours and is exempt.
func (s *Server) deadline(c *fiber.Ctx) error {
	path := strings.TrimSuffix(c.Path(), "/")
	if isStreamPath(path) {
		return c.Next()
	}
	d := s.cfg.RequestTimeout
	if len(path) >= len("/v1/audit/") && strings.EqualFold(path[:len("/v1/audit/")], "/v1/audit/") {
		d = s.cfg.AuditTimeout
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), d)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// onceHeaders may appear at most once in a request: given twice, posd and a
// proxy in front of it could each act on a different one (fasthttp keeps
// the first of some and the last of others).
var onceHeaders = [][]byte{
	[]byte(fiber.HeaderIfMatch), []byte(fiber.HeaderAuthorization), []byte(headerIdempotencyKey),
	[]byte(fiber.HeaderContentType), []byte(fiber.HeaderContentLength), []byte(fiber.HeaderTransferEncoding),
}

// strictHeaders refuses (400, naming the header) a request that gives one
// of onceHeaders twice, frames its body both by Content-Length and by
// Transfer-Encoding (request smuggling: a proxy may read the other), or
// sends an empty Idempotency-Key. A framing problem also closes the
// connection, since where the next request starts is then unknown.
func strictHeaders(c *fiber.Ctx) error {
	var count [6]int
	emptyKey := false
	raw := c.Request().Header.RawHeaders()
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(":"))
		if !ok {
			continue
		}
		for i, h := range onceHeaders {
			if bytes.EqualFold(name, h) {
				count[i]++
				if i == 2 && len(bytes.TrimSpace(value)) == 0 {
					emptyKey = true
				}
			}
		}
	}
	for i, n := range count {
		if n > 1 {
			if i >= 4 { // Content-Length, Transfer-Encoding
				c.Context().SetConnectionClose()
			}
			name := string(onceHeaders[i])
			return badRequest(name, name+" is given more than once")
		}
	}
	if count[4] > 0 && count[5] > 0 {
		c.Context().SetConnectionClose()
		return badRequest(fiber.HeaderTransferEncoding, "a request may not have both Content-Length and Transfer-Encoding")
	}
	if emptyKey {
		return badRequest(headerIdempotencyKey, "Idempotency-Key is empty; send 1 to 255 printable ASCII characters or leave the header out")
	}
	return c.Next()
}

// CloseStreams ends every open kitchen stream; call it before shutting the
// app down, or the drain waits for streams that never end on their own.
func (s *Server) CloseStreams() { s.closeStreams() }

func (s *Server) streamContext() (context.Context, context.CancelFunc) {
	return context.WithCancel(s.streams)
}

// App exposes the Fiber app (for Listen, Shutdown and in-process tests).
func (s *Server) App() *fiber.App { return s.app }

// observe assigns the request id, and after the handler writes one log line
// and updates the request metrics.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	rid := sanitizeRequestID(c.Get(fiber.HeaderXRequestID))
	if rid == "" {
		rid = newRequestID()
	}
	c.Locals(localRequestID, rid)
	c.Set(fiber.HeaderXRequestID, rid)

	err := c.Next()
	if err != nil {
		if herr := s.handleError(c, err); herr != nil {
			return herr
		}
	}
	status := c.Response().StatusCode()
	route := c.Route().Path
	if status == fiber.StatusNotFound && route == "/" {
		route = "unmatched"
	}
	elapsed := time.Since(start)
	// Fiber's strings point into reused buffers; the metric keeps its labels.
	method := strings.Clone(c.Method())
	code := strconv.Itoa(status)
	s.cfg.Metrics.Requests.WithLabelValues(route, method, code).Inc()
	s.cfg.Metrics.Duration.WithLabelValues(route, method, code).Observe(elapsed.Seconds())
	if route == "/metrics" || route == "/healthz" || route == "/readyz" {
		return nil
	}

	ev := s.cfg.Log.Info()
	if status >= 500 {
		ev = s.cfg.Log.Error()
		if e, ok := c.Locals(localErr).(error); ok {
			ev = ev.Err(e)
		}
	}
	ev = ev.Str("request_id", rid).Str("method", c.Method()).Str("path", c.Path()).
		Str("route", route).Int("status", status).Dur("latency", elapsed)
	if p, ok := c.Locals(localPrincipal).(auth.Principal); ok {
		ev = ev.Str("venue", p.Venue).Str("device", p.Device).Str("role", p.Role)
	}
	if v, ok := c.Locals(localOrderID).(string); ok {
		ev = ev.Str("order_id", v)
	}
	for _, k := range []string{localVersion, localExpectedVersion, localCurrentVersion} {
		if v, ok := c.Locals(k).(int64); ok {
			ev = ev.Int64(k, v)
		}
	}
	if status == fiber.StatusConflict || status == fiber.StatusPreconditionFailed {
		ev = ev.Str("outcome", "conflict")
	}
	ev.Msg("request")
	return nil
}

// handleError is the single place errors become problem responses.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	p, conflictKind := toProblem(err)
	if p.Status >= 500 {
		c.Locals(localErr, err)
	}
	if conflictKind != "" {
		s.cfg.Metrics.Conflicts.WithLabelValues(conflictKind).Inc()
	}
	var conflict *order.ConflictError
	if errors.As(err, &conflict) && conflict.RecordErr != nil {
		s.cfg.Log.Error().Err(conflict.RecordErr).Msg("refused stale write not recorded")
	}
	if p.CurrentVersion != nil {
		c.Locals(localCurrentVersion, *p.CurrentVersion)
	}
	if p.etagVersion != nil {
		c.Set(fiber.HeaderETag, etag(*p.etagVersion))
	}
	if rid, ok := c.Locals(localRequestID).(string); ok {
		p.RequestID = rid
	}
	p.Instance = c.Path()
	// An error that knows when to come back says so; any other 503 or 429
	// asks for the default pause.
	var retry interface{ RetryAfter() time.Duration }
	switch {
	case errors.As(err, &retry):
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(max(1, (retry.RetryAfter()+time.Second-1)/time.Second))))
	case p.Status == fiber.StatusServiceUnavailable || p.Status == fiber.StatusTooManyRequests:
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(RetryAfter/time.Second)))
	}
	if p.Status == fiber.StatusUnauthorized {
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="posd"`)
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	body, merr := c.App().Config().JSONEncoder(p)
	if merr != nil {
		return merr
	}
	return c.Send(body)
}

func (s *Server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.cfg.Version})
}

// readyz answers 200 when posd can take orders: every check that is not
// merely Reported passes. Each check's state is in the body either way.
func (s *Server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	checks := fiber.Map{}
	ok := true
	for _, ch := range s.cfg.Ready {
		if err := ch.Run(ctx); err != nil {
			checks[ch.Name] = err.Error()
			ok = ok && ch.Reported
			continue
		}
		checks[ch.Name] = "ok"
	}
	if !ok {
		return c.Status(fiber.StatusServiceUnavailable).JSON(fiber.Map{"status": "unavailable", "checks": checks})
	}
	return c.JSON(fiber.Map{"status": "ready", "checks": checks})
}

// authenticate resolves the bearer token to a principal for every /v1 route.
// The order write (PATCH /v1/orders/{id}) takes a principal found before
// from the authenticator's cache, without a lookup: its transaction checks
// the device instead (patchOrder).
func (s *Server) authenticate(c *fiber.Ctx) error {
	token, err := bearer(c)
	if err != nil {
		return err
	}
	if c.Method() == fiber.MethodPatch && isOrderPath(c.Path()) {
		// Only a writer's: any other role is refused, and a revoked
		// device must hear 401 before 403.
		if p, hash, ok := s.cfg.Auth.Cached(token); ok && p.Is(writerRoles...) {
			c.Locals(localPrincipal, p)
			c.Locals(localTokenHash, hash)
			return c.Next()
		}
	}
	if err := s.lookUp(c, token); err != nil {
		return err
	}
	return c.Next()
}

// bearer is the request's token: the Authorization header's Bearer token
// or, on the streams only, the access_token parameter.
func bearer(c *fiber.Ctx) (string, error) {
	h := c.Get(fiber.HeaderAuthorization)
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	scheme, token, found := strings.Cut(h, " ")
	found = found && strings.EqualFold(scheme, "Bearer")
	if !found && h == "" && (c.Path() == streamPath || c.Path() == venueStreamPath) {
		// EventSource cannot send headers, so the streams (and only they)
		// accept the token as a query parameter.
		token, found = c.Query("access_token"), true
	}
	if !found {
		return "", auth.ErrUnauthenticated
	}
	return strings.TrimSpace(token), nil
}

// lookUp authenticates token against the devices table and makes its
// principal the request's (checked: no token digest left to check).
func (s *Server) lookUp(c *fiber.Ctx, token string) error {
	// Bounded also on the kitchen stream, whose request has no deadline.
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.RequestTimeout)
	defer cancel()
	p, err := s.cfg.Auth.Authenticate(ctx, token)
	if err != nil {
		return err
	}
	c.Locals(localPrincipal, p)
	c.Locals(localTokenHash, nil)
	return nil
}

// isOrderPath reports whether path is /v1/orders/{id}.
func isOrderPath(path string) bool {
	id, ok := strings.CutPrefix(path, "/v1/orders/")
	return ok && id != "" && !strings.Contains(id, "/")
}

// uncheckedToken is the digest of the token whose cached principal the
// request runs as, not looked up yet (nil when it was).
func uncheckedToken(c *fiber.Ctx) []byte {
	h, _ := c.Locals(localTokenHash).([]byte)
	return h
}

// checkToken looks the request's token up now when its principal came from
// the cache unchecked: a revoked device's request ends here with 401.
func (s *Server) checkToken(c *fiber.Ctx) error {
	hash := uncheckedToken(c)
	if hash == nil {
		return nil
	}
	s.cfg.Auth.Forget(hash)
	token, err := bearer(c)
	if err != nil {
		return err
	}
	return s.lookUp(c, token)
}

// query refuses query parameters other than names, a parameter given more
// than once, and values that are not valid UTF-8 or hold control characters
// (a NUL reached Postgres and came back as a 500). 400, naming the parameter.
func query(names ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		var err error
		args := c.Context().QueryArgs()
		args.VisitAll(func(k, v []byte) {
			if err != nil {
				return
			}
			key := string(k)
			switch {
			case !slices.Contains(names, key):
				err = badRequest(shortParam(key), "unknown query parameter")
			case len(args.PeekMulti(key)) > 1:
				err = badRequest(key, key+" is given more than once")
			case !utf8.Valid(v) || hasControl(v):
				err = badRequest(key, key+" must be UTF-8 text without control characters")
			}
		})
		if err != nil {
			return err
		}
		return c.Next()
	}
}

func hasControl(b []byte) bool {
	for _, r := range string(b) {
		if unicode.IsControl(r) {
			return true
		}
	}
	return false
}

// shortParam keeps an unknown parameter's name short enough to echo.
func shortParam(s string) string {
	if len(s) > 64 {
		s = strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// noBodyOnReads refuses a body on GET and HEAD: it would be ignored, and a
// client that sent one expects it to mean something.
func noBodyOnReads(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodGet || c.Method() == fiber.MethodHead {
		return noBody(c)
	}
	return c.Next()
}

// noBody refuses a request body on a route that reads none.
func noBody(c *fiber.Ctx) error {
	if len(c.Request().Body()) > 0 {
		return badRequest("", c.Method()+" "+c.Path()+" takes no request body")
	}
	return c.Next()
}

// writeProblem answers with p outside Fiber (before it has a context).
func (s *Server) writeProblem(ctx *fasthttp.RequestCtx, p Problem) {
	p.RequestID = requestIDOf(ctx)
	ctx.Response.Header.Set(fiber.HeaderXRequestID, p.RequestID)
	s.cfg.Log.Info().Str("request_id", p.RequestID).Str("route", "unmatched").Int("status", p.Status).Msg("request")
	body, err := json.Marshal(p)
	if err != nil {
		ctx.Error(http.StatusText(p.Status), p.Status)
		return
	}
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType("application/problem+json")
	ctx.SetBody(body)
}

// allow lets only the given roles through.
// writerRoles may write orders.
var writerRoles = []string{order.RoleWaiter, order.RoleManager}

func allow(roles []string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !principal(c).Is(roles...) {
			return auth.ErrForbidden
		}
		return c.Next()
	}
}

func principal(c *fiber.Ctx) auth.Principal {
	p, _ := c.Locals(localPrincipal).(auth.Principal)
	return p
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

func sanitizeRequestID(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return ""
		}
	}
	return s
}

// requestIDOf is the client's X-Request-Id when it is usable, else a new id.
func requestIDOf(ctx *fasthttp.RequestCtx) string {
	if rid := sanitizeRequestID(string(ctx.Request.Header.Peek(fiber.HeaderXRequestID))); rid != "" {
		return rid
	}
	return newRequestID()
}

func newRequestID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "unknown"
	}
	return hex.EncodeToString(b[:])
}

// kdsPage serves the browser kitchen display; it reads ?station= and
// ?token= itself.
var kdsPage = embeddedFile(kds.Web, "web/kds.html", fiber.MIMETextHTMLCharsetUTF8)

// embeddedFile serves one embedded file as contentType, revalidated on
// every load (no-cache) so a new posd's page shows at once.
func embeddedFile(fsys embed.FS, name, contentType string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		b, err := fsys.ReadFile(name)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, contentType)
		c.Set(fiber.HeaderCacheControl, "no-cache")
		return c.Send(b)
	}
}
