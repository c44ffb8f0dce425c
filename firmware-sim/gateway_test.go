package firmwaresim_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	firmwaresim "github.com/dolbom/dolbom/firmware-sim"
)

// countingJournal takes everything at once and counts the readings it got.
type countingJournal struct {
	mu       sync.Mutex
	batches  int
	readings int
}

func (j *countingJournal) AppendEvent(context.Context, *devices.Event) (bool, error) {
	return true, nil
}
func (j *countingJournal) AppendAccel(context.Context, *devices.AccelChunk) error { return nil }
func (j *countingJournal) AppendReadings(_ context.Context, b *devices.ReadingBatch) error {
	j.mu.Lock()
	j.batches++
	j.readings += len(b.Readings)
	j.mu.Unlock()
	return nil
}

func (j *countingJournal) counts() (batches, readings int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.batches, j.readings
}

type nopIngester struct{}

func (nopIngester) Ingest(*devices.Message)            {}
func (nopIngester) Connection(devices.ConnectionEvent) {}

type dirFunc func(context.Context, devices.HubID) (devices.HubCredential, error)

func (f dirFunc) HubCredential(ctx context.Context, h devices.HubID) (devices.HubCredential, error) {
	return f(ctx, h)
}

// TestFleetThroughGatewayBroker runs hubs over the in-memory link into the
// real broker at 600x, so that batches, pooled payloads and pooled link
// buffers cross mochi's reader concurrently: every batch must decode (a
// buffer reused too early would turn into a reject), be acknowledged once,
// and leave nothing queued or in flight.
func TestFleetThroughGatewayBroker(t *testing.T) {
	const hubs = 40
	hash := devices.HashSecret("secret", devices.SecretParams{Time: 1, Memory: 8, Threads: 1})
	dir := dirFunc(func(_ context.Context, h devices.HubID) (devices.HubCredential, error) {
		return devices.HubCredential{Hub: h, SecretHash: hash}, nil
	})
	j := &countingJournal{}
	b, err := broker.New(broker.Config{TCPAddr: broker.ListenerOff}, j, nopIngester{}, dir, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := firmwaresim.NewMemListener()
	if err := b.AddListener(mem); err != nil {
		t.Fatal(err)
	}
	bctx, stopBroker := context.WithCancel(context.Background())
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- b.Run(bctx) }()
	defer func() { stopBroker(); <-brokerDone }()

	now := time.Now()
	f := firmwaresim.NewFleet(firmwaresim.Options{Transport: mem, Seed: 3, Clock: firmwaresim.NewClock(now, 600, time.Minute)})
	for i := range hubs {
		f.Start(f.Add(devices.HubID(fmt.Sprintf("sim-%03d", i)), "secret", uint32(i)), now)
	}
	fctx, stopFleet := context.WithCancel(context.Background())
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- f.Run(fctx) }()
	defer func() { stopFleet(); <-fleetDone }()

	// Ten simulated minutes a second: wait for a few batches per hub.
	deadline := time.Now().Add(30 * time.Second)
	for batches, _ := j.counts(); batches < 5*hubs; batches, _ = j.counts() {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches in 30 s, want %d", batches, 5*hubs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	st := f.Stats()
	if st.Rejects != 0 || st.Refused != 0 || st.Resent != 0 || st.Disconnects != 0 {
		t.Errorf("rejects %d refused %d resent %d disconnects %d, want none", st.Rejects, st.Refused, st.Resent, st.Disconnects)
	}
	if batches, readings := j.counts(); readings < 10*batches {
		t.Errorf("%d readings in %d batches: batches arrived cut short", readings, batches)
	}
}
