package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// sqliteCode stands for modernc's *sqlite.Error, whose fields are private.
type sqliteCode int

func (c sqliteCode) Error() string { return fmt.Sprintf("sqlite error %d", int(c)) }
func (c sqliteCode) Code() int     { return int(c) }

// What fails the store (and makes it not ready, and a group commit fail
// whole) against what fails only the data written (a group is then
// committed one event at a time).
func TestStoreFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"deadline", fmt.Errorf("commit: %w", context.DeadlineExceeded), true},
		{"unavailable", fmt.Errorf("x: %w", ErrUnavailable), true},
		{"pg disk full", &pgconn.PgError{Code: "53100"}, true},
		{"pg statement timeout", &pgconn.PgError{Code: "57014"}, true},
		{"pg admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"pg read-only standby", &pgconn.PgError{Code: "25006"}, true},
		{"pg io error", &pgconn.PgError{Code: "58030"}, true},
		{"pg unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"pg invalid json", &pgconn.PgError{Code: "22P02"}, false},
		{"pg bad utf-8", &pgconn.PgError{Code: "22021"}, false},
		{"network", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true},
		{"sqlite full", sqliteCode(13), true},
		{"sqlite ioerr write", sqliteCode(10 | 3<<8), true},
		{"sqlite readonly", sqliteCode(8), true},
		{"sqlite unique", sqliteCode(19 | 8<<8), false},
		{"sqlite too big", sqliteCode(18), false},
		{"other", errors.New("cannot encode"), false},
		{"nil", nil, false},
	} {
		if got := storeFault(tc.err); got != tc.want {
			t.Errorf("%s: storeFault(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
