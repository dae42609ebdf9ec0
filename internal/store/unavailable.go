package store

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultStatementTimeout is the statement_timeout of posd's connections
// when the connection string sets none. It is shorter than the HTTP
// request deadline so a statement stuck on a lock is cancelled by
// Postgres itself, and its transaction rolled back, before the request
// gives up on it.
const DefaultStatementTimeout = 5 * time.Second

// cancelDelay is how long a cancelled query may take to end after posd has
// asked Postgres to cancel it, before posd drops the connection.
const cancelDelay = time.Second

// ConfigurePool sets what every posd connection to Postgres needs:
// statement_timeout (timeout, unless the connection string sets one; 0
// means DefaultStatementTimeout), and cancelling a query whose context ends
// with a cancel request to Postgres, so the statement stops there too
// instead of running (and committing) after posd answered.
func ConfigurePool(cfg *pgxpool.Config, timeout time.Duration) {
	if timeout <= 0 {
		timeout = DefaultStatementTimeout
	}
	if _, set := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !set {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(timeout.Milliseconds(), 10)
	}
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, CancelRequestDelay: 0, DeadlineDelay: cancelDelay}
	}
}

// Unavailable reports whether err means Postgres did not answer: it is
// down, refused or dropped the connection, is shutting down, or a statement
// or the request ran out of time (statement_timeout, lock_timeout, the
// request deadline). The HTTP edge answers these 503 with Retry-After.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57014", // query_canceled (statement_timeout)
			"55P03",                   // lock_not_available (lock_timeout)
			"57P01", "57P02", "57P03", // admin_shutdown, crash_shutdown, cannot_connect_now
			"53300", // too_many_connections
			"25P03": // idle_in_transaction_session_timeout
			return true
		}
		return len(pgErr.Code) == 5 && pgErr.Code[:2] == "08" // connection exception
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
