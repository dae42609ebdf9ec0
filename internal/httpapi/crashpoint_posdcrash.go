//go:build posdcrash

package httpapi

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// The crash failpoint, compiled only with -tags posdcrash (the crash test
// builds posd so). With POSD_CRASHPOINT_AFTER=n in its environment, the n-th
// write that reaches the seam after its COMMIT and before its response
// prints one line to stderr,
//
//	posd-crashpoint key=<Idempotency-Key> order=<order id> version=<version>
//
// and then holds its response back for crashPointPause, so the test that
// reads the line kills posd while the write is committed but unacknowledged.
// Every other write passes the seam untouched.

const crashPointPause = time.Minute

var (
	crashPointAfter = func() int64 {
		n, _ := strconv.ParseInt(os.Getenv("POSD_CRASHPOINT_AFTER"), 10, 64)
		return n
	}()
	crashPointSeen atomic.Int64
)

func crashPointAfterCommit(c *fiber.Ctx, version int64) {
	if crashPointAfter <= 0 || crashPointSeen.Add(1) != crashPointAfter {
		return
	}
	fmt.Fprintf(os.Stderr, "posd-crashpoint key=%s order=%s version=%d\n",
		c.Get(headerIdempotencyKey), c.Params("id"), version)
	time.Sleep(crashPointPause)
}
