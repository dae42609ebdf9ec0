// Package natsembed runs a NATS server with JetStream inside the current
// process, using the real nats-server as a library.
//
// The server listens on 127.0.0.1 only, keeps JetStream data in a file store
// under Options.StoreDir, installs no signal handlers and reports its own log
// lines through zerolog. A Server can be shut down and started again on the
// same StoreDir and port; JetStream streams and their messages survive.
package natsembed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// readyTimeout bounds how long Start waits for the server to accept clients.
const readyTimeout = 10 * time.Second

// Options configures Start.
type Options struct {
	// Port is the client port on 127.0.0.1. Zero picks a random free port;
	// read it back with Server.Port to restart on the same one.
	Port int
	// StoreDir is the JetStream file store directory. It is created if
	// missing and must be reused across restarts to keep JetStream data.
	StoreDir string
	// Log receives the server's log lines: notices and debug output at debug
	// level, trace output at trace level, warnings at warn level and errors
	// at error level. The zero value discards them.
	Log zerolog.Logger
}

// Server is a running embedded NATS server. Its methods are safe for
// concurrent use.
type Server struct {
	ns   *server.Server
	port int
	log  zerolog.Logger
	once sync.Once
}

// Start launches the server and returns once it accepts client connections
// with JetStream enabled, or an error after at most about ten seconds. On
// error nothing is left running.
func Start(o Options) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("natsembed: Options.StoreDir is required")
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("natsembed: invalid port %d", o.Port)
	}
	port := o.Port
	if port == 0 {
		// For nats-server 0 means the default port 4222; -1 means random.
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      port,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  o.StoreDir,
		// nats-server caps a stream at 1,000 consumers by default; the POS
		// stream holds one ordered consumer per open kitchen stream of
		// every venue, which posd bounds itself (per device and per venue)
		// and deletes when the stream ends.
		JetStreamLimits: server.JSLimitOpts{DefaultMaxConsumers: -1},
		// No monitoring, cluster, gateway or leaf node listeners.
		HTTPPort: 0,
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsembed: configure server on port %d: %w", o.Port, err)
	}
	// The caller names the component (posd dev says "nats"): adding one here
	// too would write the key twice in every JSON line.
	log := o.Log
	adapter := &logAdapter{log: log}
	ns.SetLoggerV2(adapter, log.GetLevel() <= zerolog.DebugLevel, log.GetLevel() <= zerolog.TraceLevel, false)

	// Start does not block: it enables JetStream (recovering stored
	// streams), opens the client listener and serves clients in goroutines.
	ns.Start()
	fail := func(reason string) (*Server, error) {
		ns.Shutdown()
		ns.WaitForShutdown()
		if fatal := adapter.fatal(); fatal != "" {
			reason += ": " + fatal
		}
		return nil, fmt.Errorf("natsembed: start server on 127.0.0.1:%d with store %s: %s", o.Port, o.StoreDir, reason)
	}
	if adapter.fatal() != "" {
		return fail("startup failed")
	}
	if !ns.ReadyForConnections(readyTimeout) {
		return fail(fmt.Sprintf("not ready for connections after %s", readyTimeout))
	}
	if !ns.JetStreamEnabled() {
		return fail("JetStream is not enabled")
	}
	addr, ok := ns.Addr().(*net.TCPAddr)
	if !ok {
		return fail("no client listener address")
	}
	s := &Server{ns: ns, port: addr.Port, log: log}
	log.Info().Int("port", s.port).Str("store_dir", o.StoreDir).Msg("nats server started")
	return s, nil
}

// ClientURL returns the URL clients connect to, nats://127.0.0.1:<port>.
func (s *Server) ClientURL() string {
	return "nats://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port returns the client port actually in use (the chosen one when
// Options.Port was zero).
func (s *Server) Port() int { return s.port }

// Shutdown stops the server, closing client connections and flushing the
// JetStream store, and returns once it has fully shut down. Calling it more
// than once is safe.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
		s.log.Info().Int("port", s.port).Msg("nats server stopped")
	})
}

// logAdapter implements server.Logger on top of zerolog. It remembers the
// last fatal message so that Start can report why the server gave up.
type logAdapter struct {
	log zerolog.Logger

	mu        sync.Mutex
	lastFatal string
}

var _ server.Logger = (*logAdapter)(nil)

func (a *logAdapter) Noticef(format string, v ...any) { a.log.Debug().Msgf(format, v...) }
func (a *logAdapter) Debugf(format string, v ...any)  { a.log.Debug().Msgf(format, v...) }
func (a *logAdapter) Tracef(format string, v ...any)  { a.log.Trace().Msgf(format, v...) }
func (a *logAdapter) Warnf(format string, v ...any)   { a.log.Warn().Msgf(format, v...) }
func (a *logAdapter) Errorf(format string, v ...any)  { a.log.Error().Msgf(format, v...) }

// Fatalf logs at error level and records the message; unlike the server's
// default logger it does not exit the process.
func (a *logAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.mu.Lock()
	a.lastFatal = msg
	a.mu.Unlock()
	a.log.Error().Msg(msg)
}

func (a *logAdapter) fatal() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lastFatal
}
