// Command fsyncprobe measures the disk under a data directory the way the
// journal uses it: one 4 KiB write then fdatasync, n times, and prints the
// percentiles. PostgreSQL's pg_test_fsync prints only the mean, and the
// durable PUBACK's tail is set by the slow syncs, not the mean.
//
//	go run ./scripts/fsyncprobe -dir /var/lib/dolbom -n 5000
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory on the disk to measure (a file is created there and removed)")
	n := flag.Int("n", 5000, "write+fdatasync rounds")
	flag.Parse()
	if err := run(*dir, *n); err != nil {
		fmt.Fprintln(os.Stderr, "fsyncprobe:", err)
		os.Exit(1)
	}
}

func run(dir string, n int) error {
	if n < 1 {
		return fmt.Errorf("-n must be at least 1, got %d", n)
	}
	f, err := os.CreateTemp(dir, "fsyncprobe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	syncs := make([]time.Duration, 0, n)
	for i := range n {
		// Like a WAL: pages appended over a bounded region (1 MiB), then
		// synced.
		if _, err := f.WriteAt(page, int64(i%256)*int64(len(page))); err != nil {
			return err
		}
		start := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("fdatasync: %w", err)
		}
		syncs = append(syncs, time.Since(start))
	}
	slices.Sort(syncs)
	q := func(p float64) time.Duration { return syncs[int(p*float64(len(syncs)-1))].Round(time.Microsecond) }
	fmt.Printf("%s: 4 KiB write + fdatasync x%d: p50 %v, p90 %v, p99 %v, p99.9 %v, max %v\n",
		filepath.Clean(dir), n, q(.5), q(.9), q(.99), q(.999), q(1))
	return nil
}
