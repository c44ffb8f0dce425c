package firmwaresim

import (
	"bytes"
	"context"
	"sync"

	"github.com/mochi-mqtt/server/v2/packets"
)

// stubBroker is a trivial in-memory broker for measuring the simulator
// alone: it answers CONNECT, SUBSCRIBE and QoS 1 PUBLISH and keeps nothing
// per hub but its receiver. Answers go out on one goroutine, never inside
// Link.Write (the hub holds its lock there). It can also push a PUBLISH to
// a hub (a command) and records what hubs publish.
type stubBroker struct {
	mu    sync.Mutex
	queue []stubFrame // unbounded: a hub's Write must never wait for the stub
	wake  chan struct{}
	onPub func(rx Receiver, pk packets.Packet)
}

type stubFrame struct {
	link *stubLink
	b    []byte
}

type stubLink struct {
	s       *stubBroker
	rx      Receiver
	partial []byte
}

func newStubBroker() *stubBroker { return &stubBroker{wake: make(chan struct{}, 1)} }

func (s *stubBroker) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

func (s *stubBroker) Dial(_ context.Context, rx Receiver) (Link, error) {
	return &stubLink{s: s, rx: rx}, nil
}

func (l *stubLink) Write(p []byte) error {
	l.s.mu.Lock()
	l.s.queue = append(l.s.queue, stubFrame{l, append([]byte(nil), p...)})
	l.s.mu.Unlock()
	select {
	case l.s.wake <- struct{}{}:
	default:
	}
	return nil
}

func (l *stubLink) Close() error { return nil }

// run answers frames until ctx ends.
func (s *stubBroker) run(ctx context.Context) {
	var out bytes.Buffer
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			}
			continue
		}
		for _, f := range batch {
			l := f.link
			p := append(l.partial, f.b...)
			for {
				n, fh, err := SplitFrame(p)
				if err != nil || n == 0 {
					break
				}
				pk, _ := DecodeFrame(p[:n], fh, 4)
				out.Reset()
				switch fh.Type {
				case packets.Connect:
					out.Write([]byte{packets.Connack << 4, 2, 0, 0})
				case packets.Subscribe:
					// SUBACK: packet id then one granted QoS 1 per filter.
					pid := uint16(p[n-fh.Remaining])<<8 | uint16(p[n-fh.Remaining+1])
					out.Write([]byte{packets.Suback << 4, 4, byte(pid >> 8), byte(pid), 1, 1})
				case packets.Publish:
					if fh.Qos > 0 {
						AppendPuback(&out, 4, pk.PacketID)
					}
					s.mu.Lock()
					on := s.onPub
					s.mu.Unlock()
					if on != nil {
						on(l.rx, pk)
					}
				case packets.Pingreq:
					out.Write([]byte{packets.Pingresp << 4, 0})
				}
				if out.Len() > 0 {
					l.rx.Deliver(out.Bytes())
				}
				p = p[n:]
			}
			if len(p) > 0 {
				l.partial = append([]byte(nil), p...)
			} else {
				l.partial = nil
			}
		}
	}
}
