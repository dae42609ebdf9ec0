//go:build !linux

package httpapi

import (
	"net"
	"time"
)

// setUserTimeout is Linux-only (TCP_USER_TIMEOUT); elsewhere the write
// timeout alone cuts a screen that stops reading.
func setUserTimeout(net.Conn, time.Duration) {}
