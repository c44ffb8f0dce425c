//go:build unix

package store

import (
	"os"
	"syscall"
	"testing"
)

// The embedded database holds residents' names, phones, addresses and
// medical notes: it, the readings database (residents' heart rate,
// breathing and movement) and SQLite's -wal and -shm files are created
// 0600, never 0644 as SQLite would under the usual umask.
func TestSQLiteFilesArePrivate(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	openEmbedded(t, Config{DataDir: dir})
	for _, path := range []string{SQLitePath(dir), SQLitePath(dir) + "-wal", SQLitePath(dir) + "-shm",
		ReadingsPath(dir), ReadingsPath(dir) + "-wal", ReadingsPath(dir) + "-shm"} {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := info.Mode().Perm(); perm != 0o600 {
			t.Errorf("%s is %04o, want 0600", path, perm)
		}
	}
}
