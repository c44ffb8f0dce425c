package store

import (
	"context"
	"testing"
	"time"
)

// A write outside any transaction (a console session, an audit line) waits
// at the write gate like every writer: taking SQLite's write lock past it
// would make a concurrent event commit sleep in SQLite's busy handler.
func TestAutocommitWriteWaitsAtTheGate(t *testing.T) {
	s := openEmbedded(t, Config{})
	b := s.be.(*sqliteBackend)
	ctx := context.Background()
	b.gate.lock(urgentWrite) // an event commit in progress
	done := make(chan error, 1)
	go func() {
		_, err := b.exec(ctx, `DELETE FROM sessions WHERE expires_us < $1`, 0)
		done <- err
	}()
	waiting := func() bool {
		b.gate.mu.Lock()
		defer b.gate.mu.Unlock()
		return len(b.gate.bulk) == 1
	}
	for !waiting() {
		select {
		case err := <-done:
			b.gate.unlock()
			t.Fatalf("the write ran while the gate was held (err %v)", err)
		case <-time.After(time.Millisecond):
		}
	}
	b.gate.unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
