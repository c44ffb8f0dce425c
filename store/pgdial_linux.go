package store

import (
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUserTimeout returns a dialer Control function that sets
// TCP_USER_TIMEOUT on TCP sockets: a connection whose sent data stays
// unacknowledged that long (the server's machine gone, a network cut while
// a query is on the wire) is closed, instead of retransmitting for about
// fifteen minutes. Keepalives only probe idle connections.
func setUserTimeout(timeout time.Duration) func(network, address string, c syscall.RawConn) error {
	return func(network, _ string, c syscall.RawConn) error {
		if !strings.HasPrefix(network, "tcp") {
			return nil // a unix socket has no such option
		}
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(timeout.Milliseconds()))
		})
		if err != nil {
			return err
		}
		return serr
	}
}
