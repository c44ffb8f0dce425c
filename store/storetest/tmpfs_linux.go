package storetest

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// Tmpfs mounts a tmpfs of size bytes on a new temporary directory and
// returns it; it is unmounted when the test ends (register it before
// anything that keeps files open there, so that those close first). It
// gives the disk-full tests a real file system that runs out of space.
//
// Mounting needs root (CAP_SYS_ADMIN). Without it the test is skipped,
// except as root under DOLBOM_REQUIRE_TOOLS=1 (make test), where a refused
// mount fails the test: there it should work.
func Tmpfs(t testing.TB, size int64) string {
	t.Helper()
	dir := t.TempDir()
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV,
		fmt.Sprintf("size=%d,mode=0700", size))
	if err != nil {
		msg := fmt.Sprintf("cannot mount a tmpfs to fill (%v): this test needs root with CAP_SYS_ADMIN", err)
		if os.Geteuid() == 0 && os.Getenv("DOLBOM_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg + " (DOLBOM_REQUIRE_TOOLS=1)")
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// Something still holds a file open there: detach it so
			// that the temporary directory can go.
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount tmpfs %s: %v", dir, err)
			}
		}
	})
	return dir
}

// FillDisk writes a file into dir until the file system holding it is
// full, then gives back leave bytes, and returns a function that deletes
// the file again.
func FillDisk(t testing.TB, dir string, leave int64) (free func()) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-")
	if err != nil {
		t.Fatalf("fill disk: %v", err)
	}
	name := f.Name()
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i) // tmpfs stores every byte; nothing compresses
	}
	for len(chunk) > 0 {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				f.Close()
				t.Fatalf("fill disk: %v", err)
			}
			chunk = chunk[:len(chunk)/2] // fill the last bytes too
		}
	}
	if leave > 0 {
		fi, err := f.Stat()
		if err == nil {
			err = f.Truncate(max(0, fi.Size()-leave))
		}
		if err != nil {
			f.Close()
			t.Fatalf("fill disk: %v", err)
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fill disk: %v", err)
	}
	return func() {
		if err := os.Remove(name); err != nil {
			t.Errorf("free disk: %v", err)
		}
	}
}
