package outbox

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Connect opens a connection configured as the relay's own.
func (r *Relay) Connect(ctx context.Context) (*pgx.Conn, error) { return r.connect(ctx) }
