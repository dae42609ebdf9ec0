package apitest_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/posd/posd/internal/apitest"
)

// TestRaceOverlaps: the copies Race runs are all in flight at once: each one
// waits for every other to have entered, which a sequential run (or one
// that let early copies finish before late ones start) could never satisfy.
func TestRaceOverlaps(t *testing.T) {
	const n = 64
	var entered, overlapped atomic.Int32
	apitest.Race(n, func(i int) {
		entered.Add(1)
		deadline := time.Now().Add(10 * time.Second)
		for entered.Load() < n && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if entered.Load() == n {
			overlapped.Add(1)
		}
	})
	require.EqualValues(t, n, entered.Load(), "every copy ran once")
	require.EqualValues(t, n, overlapped.Load(), "every copy saw all the others in flight")
}
