package pgtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// TestDurableDB: NewDurableDB's database commits to disk (fsync and
// synchronous_commit on), NewDB's does not, and both are migrated and
// seeded for the app role.
func TestDurableDB(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		db   *DB
		want string
	}{{NewDurableDB(t), "on"}, {NewDB(t), "off"}} {
		for _, setting := range []string{"fsync", "synchronous_commit"} {
			var got string
			require.NoError(t, c.db.Pool.QueryRow(ctx, "SHOW "+setting).Scan(&got))
			require.Equal(t, c.want, got, "%s of %s", setting, c.db.AppURL)
		}
		require.NotZero(t, c.db.Count(t, "SELECT count(*) FROM venues"), "seeded")
	}
}
