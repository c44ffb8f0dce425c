package gateway

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/detectors"
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
		set func(t *testing.T, o *Options)
	}{
		{"channels", func(t *testing.T, o *Options) { o.Channels = realTwilio }},
		{"dispatch policy", func(t *testing.T, o *Options) {
			o.DispatchPolicy = filepath.Join(t.TempDir(), "missing.json")
		}},
		{"119 answer token", func(t *testing.T, o *Options) { o.Channels.CAPAnswerToken = "short" }},
		{"device health", func(t *testing.T, o *Options) {
			o.TuneHealth = func(c *detectors.HealthConfig) { c.BatteryLow, c.BatteryOK = 50, 40 }
		}},
		{"engine", func(t *testing.T, o *Options) {
			o.TuneEngine = func(c *detectors.EngineConfig) { c.Sink = nil }
		}},
		{"broker", func(t *testing.T, o *Options) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { taken.Close() })
			o.WSAddr = taken.Addr().String()
		}},
		{"first console account", func(t *testing.T, o *Options) {
			// The password file cannot be written: a folder is in its way.
			if err := os.Mkdir(console.BootstrapPasswordFile(o.DataDir), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{DataDir: t.TempDir(), HTTPAddr: freeAddr(t), MQTTAddr: freeAddr(t),
				Channels: ChannelOptions{FakeTwilio: true}}
			tc.set(t, &o)
			open := func() error {
				o.Listener = broker.NewPipeListener()
				g, err := New(context.Background(), o, zerolog.Nop())
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
