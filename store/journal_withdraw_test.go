package store

import (
	"context"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// An event whose caller gave up before the writer took it must not be
// written: otherwise the hub's redelivery would be a "duplicate", acknowledged
// but never handed to the detectors. An event already in a commit when its
// caller's context ends gets that commit's outcome.
func TestAppendEventWithdrawnOrAwaited(t *testing.T) {
	s := openEmbedded(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	be := s.be.(*sqliteBackend)
	be.gate.lock(bulkWrite) // a stalled disk: the writer blocks inside its commit
	now := time.Now()
	inCommit := &devices.Event{Hub: "hub-1", ID: "sos-1", Kind: devices.EventSOS, At: now, Received: now}
	queued := &devices.Event{Hub: "hub-2", ID: "sos-2", Kind: devices.EventSOS, At: now, Received: now}

	first := make(chan error, 1)
	firstCtx, cancelFirst := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelFirst()
	go func() {
		fresh, err := s.Journal().AppendEvent(firstCtx, inCommit)
		if err == nil && !fresh {
			t.Error("first event not fresh")
		}
		first <- err
	}()
	time.Sleep(20 * time.Millisecond) // the writer takes it and blocks on the lock
	short, cancelShort := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := s.Journal().AppendEvent(short, queued)
	cancelShort()
	if err == nil {
		t.Fatal("an event still queued when its context ended was reported written")
	}
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-first:
		t.Fatalf("the event inside a stalled commit returned (%v) before the commit ended", err)
	default:
	}
	be.gate.unlock()
	if err := <-first; err != nil {
		t.Fatalf("event in the commit: %v, want the commit's outcome (success)", err)
	}
	fresh, err := s.Journal().AppendEvent(context.Background(), queued)
	if err != nil || !fresh {
		t.Fatalf("redelivery of the withdrawn event: fresh=%v err=%v, want a fresh insert", fresh, err)
	}
	fresh, err = s.Journal().AppendEvent(context.Background(), inCommit)
	if err != nil || fresh {
		t.Fatalf("redelivery of the committed event: fresh=%v err=%v, want a duplicate", fresh, err)
	}
}
