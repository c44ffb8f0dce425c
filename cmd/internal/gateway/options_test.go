package gateway

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
)

// TestOptionsValidate: options that cannot make a working gateway are
// refused before anything is opened, with an error naming what to change.
func TestOptionsValidate(t *testing.T) {
	ok := func() Options {
		return Options{DataDir: t.TempDir(), MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
			Channels: ChannelOptions{FakeTwilio: true}}
	}
	if err := ok().validate(); err != nil {
		t.Fatalf("valid options refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		set  func(o *Options)
		want []string // in the error
	}{
		{"no data folder", func(o *Options) { o.DataDir = "" }, []string{"Options.DataDir"}},
		{"certificate without key", func(o *Options) { o.CertFile = "cert.pem" }, []string{"CertFile", "KeyFile", "go together"}},
		{"key without certificate", func(o *Options) { o.KeyFile = "key.pem" }, []string{"CertFile", "KeyFile", "go together"}},
		{"negative shutdown timeout", func(o *Options) { o.ShutdownTimeout = -time.Second }, []string{"Options.ShutdownTimeout is negative"}},
		{"negative heartbeat timeout", func(o *Options) { o.HeartbeatTimeout = -time.Minute }, []string{"Options.HeartbeatTimeout is negative"}},
		{"negative raw retention", func(o *Options) { o.RawRetention = -time.Hour }, []string{"Options.RawRetention is negative"}},
		{"negative HTTP write timeout", func(o *Options) { o.HTTP.WriteTimeout = -time.Second }, []string{"Options.HTTP.WriteTimeout is negative"}},
		{"HTTP and MQTT on one address", func(o *Options) { o.HTTPAddr, o.MQTTAddr = ":8080", ":8080" },
			[]string{"Options.HTTPAddr and Options.MQTTAddr", `":8080"`}},
		{"MQTT and WebSocket on one address", func(o *Options) { o.MQTTAddr, o.WSAddr = ":1883", ":1883" },
			[]string{"Options.MQTTAddr and Options.WSAddr"}},
		{"two mistakes at once", func(o *Options) { o.DataDir, o.ShutdownTimeout = "", -1 },
			[]string{"Options.DataDir", "Options.ShutdownTimeout"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok()
			tc.set(&o)
			err := o.validate()
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}

	// Two listeners on port 0 never share an address, and a TLS address
	// without a certificate is not listened on: both are fine.
	o := ok()
	o.HTTPAddr, o.MQTTAddr, o.WSAddr, o.TLSAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	if err := o.validate(); err != nil {
		t.Errorf("port 0 twice refused: %v", err)
	}
	o = ok()
	o.HTTPAddr, o.TLSAddr = ":8883", ":8883"
	if err := o.validate(); err != nil {
		t.Errorf("an unused TLS address refused: %v", err)
	}

	// New refuses them before opening anything: the data folder is not
	// even created.
	o = ok()
	o.DataDir += "/not-created"
	o.CertFile = "cert.pem"
	if _, err := New(context.Background(), o, zerolog.Nop()); err == nil || !strings.Contains(err.Error(), "go together") {
		t.Fatalf("New: %v, want the certificate and key refused", err)
	}
	if _, err := os.Stat(o.DataDir); !os.IsNotExist(err) {
		t.Errorf("New created the data folder before refusing the options (%v)", err)
	}
}
