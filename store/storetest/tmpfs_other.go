//go:build !linux

package storetest

import "testing"

// Tmpfs skips the test: mounting a tmpfs is Linux only.
func Tmpfs(t testing.TB, size int64) string {
	t.Skip("a tmpfs to fill needs Linux")
	return ""
}

// FillDisk is not reached off Linux (Tmpfs skips).
func FillDisk(t testing.TB, dir string, leave int64) (free func()) {
	t.Skip("filling a disk needs Linux")
	return func() {}
}
