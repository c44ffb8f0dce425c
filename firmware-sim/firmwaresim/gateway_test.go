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
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
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

// startBroker runs the real broker on an in-memory listener until the test
// ends; every hub's secret is "secret".
func startBroker(t *testing.T, cfg broker.Config, j broker.Journal) *firmwaresim.MemListener {
	t.Helper()
	hash := devices.HashSecret("secret", devices.SecretParams{Time: 1, Memory: 8, Threads: 1})
	dir := dirFunc(func(_ context.Context, h devices.HubID) (devices.HubCredential, error) {
		return devices.HubCredential{Hub: h, SecretHash: hash}, nil
	})
	cfg.TCPAddr = broker.ListenerOff
	b, err := broker.New(cfg, j, nopIngester{}, dir, zerolog.Nop(), nil)
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
	t.Cleanup(func() { stopBroker(); <-brokerDone })
	return mem
}

// TestFleetThroughGatewayBroker runs hubs over the in-memory link into the
// real broker at 600x, so that batches, pooled payloads and pooled link
// buffers cross mochi's reader concurrently: every batch must decode (a
// buffer reused too early would turn into a reject), be acknowledged once,
// and leave nothing queued or in flight.
func TestFleetThroughGatewayBroker(t *testing.T) {
	const hubs = 40
	j := &countingJournal{}
	mem := startBroker(t, broker.Config{}, j)

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

// TestFleetRefusedAtCapacity: against a broker with places for three hubs,
// five hubs: three are online, two are refused busy (counted per attempt in
// refused_connects and per hub in refused_hubs, never as credential
// denials) and back off, never retrying within a second (protocol 17.1);
// when an online hub leaves, a refused one takes its place.
func TestFleetRefusedAtCapacity(t *testing.T) {
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			mem := startBroker(t, broker.Config{MaxHubs: 3}, &countingJournal{})

			var mu sync.Mutex
			refusedAt := map[devices.HubID][]time.Time{}
			f := firmwaresim.NewFleet(firmwaresim.Options{Transport: mem, Seed: 3, Version: v, NoReadings: true, NoEvents: true,
				Observe: func(e firmwaresim.HubEvent) {
					if e.Kind == firmwaresim.EvDisconnected && (e.Detail == "connack 0x89" || e.Detail == "connack 0x3") {
						mu.Lock()
						refusedAt[e.Hub.ID] = append(refusedAt[e.Hub.ID], time.Now())
						mu.Unlock()
					}
				}})
			now := time.Now()
			var hubs []*firmwaresim.Hub
			for i := range 5 {
				h := f.Add(devices.HubID(fmt.Sprintf("sim-%03d", i)), "secret", uint32(i))
				f.Start(h, now)
				hubs = append(hubs, h)
			}
			fctx, stopFleet := context.WithCancel(context.Background())
			fleetDone := make(chan error, 1)
			go func() { fleetDone <- f.Run(fctx) }()
			defer func() { stopFleet(); <-fleetDone }()

			waitUntil(t, "three online, two refused twice each", func() bool {
				st := f.Stats()
				return st.Online == 3 && st.RefusedHubs == 2 && st.RefusedConnects >= 4
			})
			st := f.Stats()
			if st.DeniedConnects != 0 {
				t.Errorf("denied_connects %d, want 0: busy is not a credential refusal", st.DeniedConnects)
			}
			mu.Lock()
			for id, at := range refusedAt {
				for i := 1; i < len(at); i++ {
					if gap := at[i].Sub(at[i-1]); gap < time.Second {
						t.Errorf("%s retried %v after a busy refusal; protocol 17.1 says at least 1 s", id, gap)
					}
				}
			}
			mu.Unlock()
			for _, h := range hubs {
				if h.Online() {
					h.Stop()
					break
				}
			}
			waitUntil(t, "a refused hub to take the freed place", func() bool {
				st := f.Stats()
				return st.RefusedHubs == 1 && st.Online == 3
			})
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
