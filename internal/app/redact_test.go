package app

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestRedactDSNHidesPasswordsInEveryForm(t *testing.T) {
	const secret = "s3cr'et pw"
	for _, dsn := range []string{
		"host=db port=5432 user=posd password='s3cr\\'et pw' dbname=posd",
		"host=db user=posd password = 's3cr\\'et pw'",
		"postgres://posd:s3cr%27et%20pw@db:5432/posd?sslmode=disable",
		"postgresql://posd@db/posd?password=s3cr%27et%20pw",
		"postgres://posd:s3cr%27et%20pw@db1:5432,db2:5432/posd?target_session_attrs=read-write",
	} {
		got := RedactDSN(dsn)
		require.NotContains(t, got, "s3cr", dsn)
		require.NotContains(t, got, "et pw", dsn)
		// What is logged still says where posd connects, and parses.
		cfg, err := pgconn.ParseConfig(got)
		require.NoError(t, err, got)
		require.Equal(t, "posd", cfg.User, got)
		require.Equal(t, "xxxxx", cfg.Password, got)
		orig, err := pgconn.ParseConfig(dsn)
		require.NoError(t, err)
		require.Equal(t, secret, orig.Password)
		require.Equal(t, orig.Host, cfg.Host)
	}
	require.Equal(t, "(unparseable connection string)", RedactDSN("password"))
}
