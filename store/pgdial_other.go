//go:build !linux

package store

import (
	"syscall"
	"time"
)

// setUserTimeout is Linux only; elsewhere the keepalives alone apply.
func setUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
