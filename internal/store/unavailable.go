package store

import (
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/posd/posd/internal/pgtypes"
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

// ConfigurePool sets what every posd connection to Postgres needs: posd's
// types registered with pgx (internal/pgtypes), statement_timeout (timeout, unless the connection string sets one; 0
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
	cfg.AfterConnect = pgtypes.AfterConnect
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, CancelRequestDelay: 0, DeadlineDelay: cancelDelay}
	}
}
