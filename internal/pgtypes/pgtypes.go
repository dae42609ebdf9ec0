// Package pgtypes teaches pgx the Go types posd passes to Postgres that it
// does not encode well on its own, for every connection posd opens.
//
// pgx encodes a github.com/google/uuid.UUID through its driver.Valuer:
// Value formats the UUID as a string, pgx fails to encode that string in
// the binary uuid format (building an error with fmt.Errorf), parses it
// back as text and encodes the result — for every UUID parameter of every
// statement (an order id, an event id, each line id). pgx-google-uuid
// registers the type so the 16 bytes are written directly.
package pgtypes

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// Register adds posd's types to m.
func Register(m *pgtype.Map) {
	pgxuuid.Register(m)
}

// AfterConnect is Register as a pool's AfterConnect hook.
func AfterConnect(_ context.Context, c *pgx.Conn) error {
	Register(c.TypeMap())
	return nil
}
