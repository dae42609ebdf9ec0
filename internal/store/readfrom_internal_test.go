package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/store/internal/dbsqlc"
)

// TestReadFromStates: what a standby's state says of an answer read there.
// Lag is 0 only when the standby had replayed all it received while
// streaming; else it is the age of its newest replayed commit, or unknown.
func TestReadFromStates(t *testing.T) {
	at := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name   string
		src    dbsqlc.ReadSourceRow
		header string
	}{
		{"primary", dbsqlc.ReadSourceRow{ReplayedAt: at, ReplayAgeSeconds: 0}, "primary"},
		{"caught up", dbsqlc.ReadSourceRow{Standby: true, Streaming: true, ReplayedAny: true, ReplayedAt: at, ReplayAgeSeconds: 90, ReplayedAll: true},
			"standby; lag-seconds=0.000; replayed-at=2026-12-04T18:00:00Z; streaming=true"},
		{"replaying", dbsqlc.ReadSourceRow{Standby: true, Streaming: true, ReplayedAny: true, ReplayedAt: at, ReplayAgeSeconds: 0.25},
			"standby; lag-seconds=0.250; replayed-at=2026-12-04T18:00:00Z; streaming=true"},
		{"cut off", dbsqlc.ReadSourceRow{Standby: true, ReplayedAny: true, ReplayedAt: at, ReplayAgeSeconds: 600, ReplayedAll: true},
			"standby; lag-seconds=600.000; replayed-at=2026-12-04T18:00:00Z; streaming=false"},
		{"clock behind the primary's", dbsqlc.ReadSourceRow{Standby: true, Streaming: true, ReplayedAny: true, ReplayedAt: at, ReplayAgeSeconds: -2},
			"standby; lag-seconds=0.000; replayed-at=2026-12-04T18:00:00Z; streaming=true"},
		{"nothing replayed, caught up", dbsqlc.ReadSourceRow{Standby: true, Streaming: true, ReplayedAll: true},
			"standby; lag-seconds=0.000; streaming=true"},
		{"nothing replayed, behind", dbsqlc.ReadSourceRow{Standby: true, Streaming: true}, "standby; streaming=true"},
		{"nothing replayed, cut off", dbsqlc.ReadSourceRow{Standby: true, ReplayedAll: true}, "standby; streaming=false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := readFrom(c.src)
			require.Equal(t, c.header, r.Header())
			require.Equal(t, c.src.Standby, r.Standby)
			if !c.src.Streaming && c.src.Standby {
				require.Contains(t, r.String(), "WARNING: the standby was not streaming")
			}
		})
	}
}
