package store

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestWriteGateUrgentFirst: writers queued while the lock is held get it
// urgent ones first, each class in arrival order, one at a time.
func TestWriteGateUrgentFirst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g writeGate
		g.lock(bulkWrite) // a flush in progress
		var (
			mu     sync.Mutex
			order  []string
			inside int
		)
		queue := func(name string, class writeClass) {
			go func() {
				g.lock(class)
				mu.Lock()
				inside++
				if inside > 1 {
					t.Errorf("%s got the lock while another writer held it", name)
				}
				order = append(order, name)
				mu.Unlock()
				time.Sleep(time.Millisecond) // a commit; a wrongly admitted writer would show now
				mu.Lock()
				inside--
				mu.Unlock()
				g.unlock()
			}()
			synctest.Wait() // queued before the next one arrives
		}
		queue("save-1", bulkWrite)
		queue("sos-1", urgentWrite)
		queue("flush-2", bulkWrite)
		queue("sos-2", urgentWrite)
		g.unlock()
		time.Sleep(time.Second) // every queued writer's commit
		mu.Lock()
		got := slices.Clone(order)
		mu.Unlock()
		want := []string{"sos-1", "sos-2", "save-1", "flush-2"}
		if len(got) != len(want) {
			t.Fatalf("order %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("order %v, want %v", got, want)
			}
		}
		// Free again: the next writer gets it at once.
		g.lock(bulkWrite)
		g.unlock()
	})
}

// TestWriteGateBulkNotStarved: urgent writers that keep coming (an incident
// storm: the event and dispatch writers passing the lock back and forth)
// let a waiting bulk writer in after urgentRun of them.
func TestWriteGateBulkNotStarved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g writeGate
		g.lock(urgentWrite)
		bulkIn := make(chan int, 1)
		urgentDone := 0
		var mu sync.Mutex
		go func() {
			g.lock(bulkWrite)
			mu.Lock()
			bulkIn <- urgentDone
			mu.Unlock()
			g.unlock()
		}()
		synctest.Wait()
		// Two urgent writers, each back in the queue before the other's
		// commit ends.
		for range 2 {
			go func() {
				for range 3 * urgentRun {
					g.lock(urgentWrite)
					time.Sleep(time.Millisecond)
					mu.Lock()
					urgentDone++
					mu.Unlock()
					g.unlock()
				}
			}()
		}
		synctest.Wait()
		g.unlock()
		select {
		case n := <-bulkIn:
			if n > urgentRun {
				t.Errorf("bulk writer got the lock after %d urgent commits, want at most %d", n, urgentRun)
			}
		case <-time.After(time.Minute):
			t.Fatal("bulk writer starved")
		}
		time.Sleep(time.Second) // the urgent writers finish
	})
}
