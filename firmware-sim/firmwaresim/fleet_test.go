package firmwaresim

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
)

// heapAndStacks is the live heap plus goroutine stacks after a GC.
func heapAndStacks() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// BenchmarkFleetConnected measures what the simulator costs per connected
// home: hubs connect to a stub broker that keeps nothing per hub but a
// receiver and a pointer, and the live heap plus stacks added by the fleet
// (hubs, their links, the schedulers' heaps, their first minute of events)
// is divided by the homes. Target: <= 4 KiB. FLEET_HUBS overrides the
// number of hubs (default 20,000).
func BenchmarkFleetConnected(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("FLEET_HUBS")); err == nil && v > 0 {
		n = v
	}
	b.Run(fmt.Sprintf("hubs=%d", n), func(b *testing.B) {
		b.ReportAllocs()
		var perHome float64
		for b.Loop() {
			perHome = measureFleet(b, n)
		}
		b.ReportMetric(perHome, "bytes/home")
	})
}

func measureFleet(b *testing.B, n int) float64 {
	stub := newStubBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go stub.run(ctx)
	ids := make([]devices.HubID, n)
	for i := range ids {
		ids[i] = devices.HubID(fmt.Sprintf("sim-%07d", i))
	}
	before := heapAndStacks()
	f := NewFleet(Options{Transport: stub, Seed: 1})
	start := time.Now()
	for i := range n {
		f.Start(f.Add(ids[i], "secret", uint32(i)), start)
	}
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	waitFor(b, "every hub online", func() bool { return f.Stats().Online == int64(n) })
	// Let the subscribe and status round trips finish.
	waitFor(b, "the stub broker to drain", func() bool { return stub.pending() == 0 })
	time.Sleep(200 * time.Millisecond)
	after := heapAndStacks()
	runtime.KeepAlive(f)
	cancel()
	<-done
	return float64(after-before) / float64(n)
}

// TestFleetConnectsAll checks that a fleet larger than MaxConnecting gets
// every hub online without a connect timeout or a second dial: hubs past
// the limit wait in the queue instead of piling CONNECTs on the gateway.
func TestFleetConnectsAll(t *testing.T) {
	stub := newStubBroker()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go stub.run(ctx)
	f := NewFleet(Options{Transport: stub, Seed: 1, MaxConnecting: 7, Dialers: 3})
	now := time.Now()
	const n = 500
	for i := range n {
		f.Start(f.Add(devices.HubID(fmt.Sprintf("h-%d", i)), "s", uint32(i)), now)
	}
	done := make(chan struct{})
	go func() { f.Run(ctx); close(done) }()
	waitFor(t, "every hub online", func() bool { return f.Stats().Online == n })
	st := f.Stats()
	if st.Dials != n || st.Connects != n {
		t.Errorf("dials %d connects %d, want %d each", st.Dials, st.Connects, n)
	}
	if got := len(f.slots); got != 0 {
		t.Errorf("%d connect slots still held after every CONNACK", got)
	}
	cancel()
	<-done
}

// TestHubAnswersCheckIn drives the hub's command handling through a stub
// broker: a check_in command must be acknowledged (PUBACK), answered with
// accepted then done acks, and with the event the resident's answer says.
func TestHubAnswersCheckIn(t *testing.T) {
	tests := []struct {
		name      string
		answer    Answer
		wantEvent devices.EventKind // "" for none
		wantFinal devices.AckStatus
	}{
		{"resident checks in", AnswerCheckIn, devices.EventCheckIn, devices.AckDone},
		{"resident cancels", AnswerCancel, devices.EventCancel, devices.AckDone},
		{"no answer", AnswerNone, "", devices.AckFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stub := newStubBroker()
			var (
				events atomic.Value // []devices.Event
				acks   atomic.Value // []devices.CommandAck
			)
			events.Store([]devices.Event{})
			acks.Store([]devices.CommandAck{})
			stub.onPub = func(_ Receiver, pk packets.Packet) {
				m, err := devices.Decode(pk.TopicName, pk.Payload, time.Now())
				switch {
				case err != nil:
				case m.Event != nil:
					events.Store(append(events.Load().([]devices.Event), *m.Event))
				case m.CmdAck != nil:
					acks.Store(append(acks.Load().([]devices.CommandAck), *m.CmdAck))
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go stub.run(ctx)
			var rx Receiver
			f := NewFleet(Options{Transport: stub, Seed: 1, NoReadings: true, Observe: func(e HubEvent) {
				if e.Kind == EvConnected {
					rx = e.Hub.rx
				}
			}})
			h := f.Add("hub-1", "s", 0)
			h.Answer = tc.answer
			f.Start(h, time.Now())
			done := make(chan struct{})
			go func() { f.Run(ctx); close(done) }()
			waitFor(t, "online", h.Online)
			h.mu.Lock()
			r := rx
			h.mu.Unlock()
			cmd := devices.Command{ID: "cmd-1", Type: devices.CmdCheckIn, At: time.Now()}
			var buf bytes.Buffer
			if err := AppendPublish(&buf, 4, devices.Topic("hub-1", devices.ChanCmd), devices.EncodeCommand(cmd), 1, 77, false, false); err != nil {
				t.Fatal(err)
			}
			r.Deliver(buf.Bytes())
			waitFor(t, "the final command ack", func() bool {
				for _, a := range acks.Load().([]devices.CommandAck) {
					if a.Status != devices.AckAccepted {
						return true
					}
				}
				return false
			})
			got := acks.Load().([]devices.CommandAck)
			if len(got) != 2 || got[0].Status != devices.AckAccepted || got[1].Status != tc.wantFinal || got[1].ID != cmd.ID {
				t.Errorf("acks %+v, want accepted then %s for %s", got, tc.wantFinal, cmd.ID)
			}
			evs := events.Load().([]devices.Event)
			switch {
			case tc.wantEvent == "" && len(evs) != 0:
				t.Errorf("events %+v, want none", evs)
			case tc.wantEvent != "" && (len(evs) != 1 || evs[0].Kind != tc.wantEvent):
				t.Errorf("events %+v, want one %s", evs, tc.wantEvent)
			}
			if st := f.Stats(); st.Commands != 1 {
				t.Errorf("commands %d, want 1", st.Commands)
			}
			cancel()
			<-done
		})
	}
}
