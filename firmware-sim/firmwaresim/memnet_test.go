package firmwaresim

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// blockingRx is a hub's receiver whose first Deliver blocks until release
// is closed; it logs what it is given, and Closed, in order.
type blockingRx struct {
	release chan struct{}
	first   atomic.Bool
	mu      sync.Mutex
	log     strings.Builder
}

func (r *blockingRx) Deliver(p []byte) {
	if !r.first.Swap(true) {
		<-r.release
	}
	r.mu.Lock()
	r.log.Write(p) // copied: the link reuses p
	r.mu.Unlock()
}

func (r *blockingRx) Closed(error) {
	r.mu.Lock()
	r.log.WriteString("|closed")
	r.mu.Unlock()
}

func (r *blockingRx) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// releaseAndCheck unblocks the receiver, waits for the link's deliveries and
// checks what the receiver got; the closed link must keep neither a pending
// buffer nor its receiver.
func (r *blockingRx) releaseAndCheck(t *testing.T, conn brokerConn, want string) {
	t.Helper()
	close(r.release)
	synctest.Wait()
	conn.c.dl.wait()
	if got := r.String(); got != want {
		t.Errorf("receiver got %q, want %q", got, want)
	}
	conn.c.mu.Lock()
	held := conn.c.out != nil || conn.c.rx != nil
	conn.c.mu.Unlock()
	if held {
		t.Error("a closed link still holds its pending buffer or its receiver")
	}
}

// dialMem opens one link on a new MemListener: the hub's end and the
// broker's.
func dialMem(t *testing.T, rx Receiver) (Link, brokerConn) {
	t.Helper()
	l := NewMemListener()
	accepted := make(chan brokerConn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c.(brokerConn)
	}()
	link, err := l.Dial(context.Background(), rx)
	if err != nil {
		t.Fatal(err)
	}
	return link, <-accepted
}

// TestBrokerWriteDoesNotRunReceiver: the broker's writes and its close
// return while the hub's receiver is stuck in Deliver (the hub's code never
// runs on the broker's goroutines); once it is released, the hub gets every
// byte in order, then Closed, and the idle link holds no buffer.
func TestBrokerWriteDoesNotRunReceiver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rx := &blockingRx{release: make(chan struct{})}
		_, conn := dialMem(t, rx)

		var returned atomic.Int32
		go func() {
			for _, s := range []string{"a", "bc", "d"} {
				if _, err := conn.Write([]byte(s)); err != nil {
					t.Errorf("write %q: %v", s, err)
				}
				returned.Add(1)
			}
			conn.Close()
			returned.Add(1)
		}()
		synctest.Wait() // everyone is blocked: the receiver in Deliver, at most
		if n := returned.Load(); n != 4 {
			t.Errorf("%d of the broker's 3 writes and close returned while the receiver was blocked", n)
		}
		if got := rx.String(); got != "" {
			t.Errorf("receiver got %q before being released", got)
		}

		rx.releaseAndCheck(t, conn, "abcd|closed")
		if _, err := conn.Write([]byte("late")); err == nil {
			t.Error("write after close succeeded")
		}
	})
}

// TestHubCloseDropsPendingDeliveries: when the hub hangs up, what the
// broker wrote and the hub was not given yet is dropped, and the hub is not
// told Closed (it closed the link itself), as over TCP.
func TestHubCloseDropsPendingDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rx := &blockingRx{release: make(chan struct{})}
		link, conn := dialMem(t, rx)
		conn.Write([]byte("a")) // the receiver blocks on it
		synctest.Wait()
		conn.Write([]byte("b"))
		link.Close()
		conn.Close()
		rx.releaseAndCheck(t, conn, "a")
	})
}
