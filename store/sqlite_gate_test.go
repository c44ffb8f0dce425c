package store

import (
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
		want := []string{"sos-1", "sos-2", "save-1", "flush-2"}
		if len(order) != len(want) {
			t.Fatalf("order %v, want %v", order, want)
		}
		for i := range want {
			if order[i] != want[i] {
				t.Fatalf("order %v, want %v", order, want)
			}
		}
		// Free again: the next writer gets it at once.
		g.lock(bulkWrite)
		g.unlock()
	})
}
