//go:build unix

package gateway

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
)

// The data folder holds residents' names, phones, addresses and medical
// notes (the embedded database), the key that seals door codes, the admin
// token and password: after a start, the folder is 0700 and every file in
// it 0600, whatever they were before (an existing folder, an older
// version, a container's 0755 volume), and the gateway says what it
// tightened.
func TestDataFolderIsPrivateAfterStart(t *testing.T) {
	old := syscall.Umask(0o022) // the usual umask, under which files are created 0644
	t.Cleanup(func() { syscall.Umask(old) })

	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := func() string {
		t.Helper()
		var log bytes.Buffer
		g, err := New(context.Background(), Options{DataDir: dir, MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
			Channels: ChannelOptions{FakeTwilio: true}}, zerolog.New(&log))
		if err != nil {
			t.Fatal(err)
		}
		// Stat while the store is open: SQLite's -wal and -shm exist then.
		assertPrivate(t, dir)
		for _, name := range []string{"dolbom.db", "dolbom.db-wal", "dolbom.db-shm", "readings.db", "readings.db-wal", "readings.db-shm", "state.db", "state.db-wal", "state.db-shm", "secret.key", "admin-token", "admin-password.txt", "cap-answer-token"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
				t.Errorf("%s: %v (the test expects the gateway to keep it here)", name, err)
			}
		}
		g.closeOnError()
		return log.String()
	}

	// First start in a folder that exists with 0755.
	log := start()
	if !strings.Contains(log, "tightened") {
		t.Errorf("no log line about the folder tightened from 0755:\n%s", log)
	}

	// Loosened again (an older version, a copy, a container volume): the
	// next start tightens everything and says so.
	if err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, 0o755)
		}
		return os.Chmod(path, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	log = start()
	for _, name := range []string{"data", "dolbom.db", "readings.db", "state.db", "secret.key", "admin-token", "admin-password.txt", "cap-answer-token"} {
		if !strings.Contains(log, name) {
			t.Errorf("the log does not name %s as tightened:\n%s", name, log)
		}
	}

	// Already private: nothing to say.
	if log = start(); strings.Contains(log, "tightened") {
		t.Errorf("a private folder reported as tightened:\n%s", log)
	}
}

// assertPrivate fails unless dir is 0700 and every file in it 0600 (or
// tighter).
func assertPrivate(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		}
		if perm := info.Mode().Perm(); perm&^want != 0 {
			t.Errorf("%s is %04o, want %04o", path, perm, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
