//go:build !posdcrash

package httpapi

import "github.com/gofiber/fiber/v2"

// crashPointAfterCommit marks the seam between a write's COMMIT and its
// response. In normal builds it does nothing (and is inlined away); built
// with -tags posdcrash (crashpoint_posdcrash.go) it lets the crash test
// SIGKILL posd exactly there: cmd/posd's TestCrashSIGKILLAtCommitSeam.
func crashPointAfterCommit(*fiber.Ctx, int64) {}
