package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/health"
)

// openFDs counts this process's open file descriptors (Linux).
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(fds)
}

// TestNewReleasesOnEveryFailure: New failing at any step after it opened
// the store and its listeners leaves no file or port behind: the ports can
// be listened on again, and the process has no more descriptors open than
// before (a supervisor restarting a gateway that fails to start would
// otherwise find its ports taken).
func TestNewReleasesOnEveryFailure(t *testing.T) {
	realTwilio := ChannelOptions{TwilioAccountSID: "AC0123456789abcdef0123456789abcdef", TwilioAuthToken: "0123456789abcdef",
		TwilioFrom: "+821012345678"}
	for _, tc := range []struct {
		name string
		// set breaks one step of New, after the HTTP listener and (for the
		// later steps) the MQTT listener are open.
		set func(t *testing.T, o *Options, tune *Tuning)
	}{
		{"channels", func(t *testing.T, o *Options, _ *Tuning) { o.Channels = realTwilio }},
		{"dispatch policy", func(t *testing.T, o *Options, _ *Tuning) {
			o.DispatchPolicy = filepath.Join(t.TempDir(), "missing.json")
		}},
		{"119 answer token", func(t *testing.T, o *Options, _ *Tuning) { o.Channels.CAPAnswerToken = "short" }},
		{"device health", func(t *testing.T, o *Options, tune *Tuning) {
			tune.Health = func(c *health.Config) { c.BatteryLow, c.BatteryOK = 50, 40 }
		}},
		{"engine", func(t *testing.T, o *Options, tune *Tuning) {
			tune.Engine = func(c *detectors.EngineConfig) { c.Sink = nil }
		}},
		{"broker", func(t *testing.T, o *Options, _ *Tuning) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
			o.WSAddr = taken.Addr().String()
		}},
		{"first console account", func(t *testing.T, o *Options, _ *Tuning) {
			// The password file cannot be written: a folder is in its way.
			if err := os.Mkdir(console.BootstrapPasswordFile(o.DataDir), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{DataDir: t.TempDir(), HTTPAddr: freeAddr(t), MQTTAddr: freeAddr(t),
				Channels: ChannelOptions{FakeTwilio: true}}
			var tune Tuning
			tc.set(t, &o, &tune)
			open := func() error {
				o.Listener = broker.NewPipeListener()
				g, err := NewTuned(context.Background(), o, tune, zerolog.Nop())
				if err == nil {
					g.closeOnError()
					t.Fatal("New did not fail")
				}
				return err
			}
			open() // the first failure may open what the runtime keeps (the poller)
			before := openFDs(t)
			t.Logf("New: %v", open())
			if after := openFDs(t); after > before {
				t.Errorf("%d file descriptors open after New failed, %d before", after, before)
			}
			for _, addr := range []string{o.HTTPAddr, o.MQTTAddr} {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					t.Errorf("a listener was left open: %v", err)
					continue
				}
				l.Close()
			}
		})
	}
}

// lockedBuffer is a log sink the gateway's goroutines write to.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunStopsInDataFlowOrder: a running gateway stops its stages in the
// order the data flows (intake first, the hubs disconnected only after the
// detectors' final saves, the store last), as its log of stopped stages
// shows, and each stage exactly once.
func TestRunStopsInDataFlowOrder(t *testing.T) {
	logs := &lockedBuffer{}
	g, err := New(context.Background(), Options{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", MQTTAddr: broker.ListenerOff,
		Listener: broker.NewPipeListener(), Channels: ChannelOptions{FakeTwilio: true}}, zerolog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	for g.Ready(ctx) != nil {
		select {
		case err := <-done:
			t.Fatalf("Run returned before it was ready: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}

	var stopped []stageName
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line struct{ Stage, Message string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "stopped" {
			stopped = append(stopped, stageName(line.Stage))
		}
	}
	want := []stageName{stageHTTP, stageOTA, stageIntake, stageEngine, stageHealth, stageBroker, stageEvidence,
		stageWorkOrders, stageDispatch, stageChannels, stageWeb, stageStore}
	if !slices.Equal(stopped, want) {
		t.Errorf("stages stopped in order\n%v\nwant\n%v", stopped, want)
	}
}
