package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Under sustained writes with readers always active, the WAL must not grow
// without bound: the checkpoint loop resets it past walResetBytes.
func TestWALStaysBoundedUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("writes for a few seconds")
	}
	old := walResetBytes
	walResetBytes = 2 << 20
	defer func() { walResetBytes = old }()
	dir := t.TempDir()
	s := openEmbedded(t, Config{DataDir: dir, FlushInterval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 { // readers that never let go for long
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.ListEvents(ctx, EventQuery{Hub: "hub-1", Limit: 10})
			}
		}()
	}
	now := time.Now()
	var maxWAL int64
	deadline := time.Now().Add(4 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		b := &devices.ReadingBatch{Hub: devices.HubID(fmt.Sprintf("hub-%d", i%50)), SentAt: now, Received: now}
		for k := range 50 {
			b.Readings = append(b.Readings, devices.Reading{Sensor: "s1", Metric: devices.MetricTemperature,
				At: now.Add(time.Duration(i*50+k) * time.Millisecond), Value: 21, Quality: -1})
		}
		if err := s.AppendReadings(ctx, b); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(SQLitePath(dir) + "-wal"); err == nil && fi.Size() > maxWAL {
			maxWAL = fi.Size()
		}
	}
	close(stop)
	wg.Wait()
	time.Sleep(2 * checkpointEvery)
	fi, err := os.Stat(SQLitePath(dir) + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("WAL peaked at %d KiB, %d KiB at the end (reset threshold %d KiB)", maxWAL>>10, fi.Size()>>10, walResetBytes>>10)
	if fi.Size() > 4*walResetBytes {
		t.Fatalf("WAL is %d KiB after sustained writes, threshold %d KiB: not reset", fi.Size()>>10, walResetBytes>>10)
	}
}
