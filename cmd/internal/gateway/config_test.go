package gateway

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
)

// freeAddr is a TCP address of 127.0.0.1 nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// A real Twilio account calls back on the public URL only: without one that
// Twilio can reach, keypad and SMS acknowledgements never arrive, so the
// gateway refuses to start, and releases what it opened.
func TestNewRefusesARealTwilioAccountWithoutAPublicURL(t *testing.T) {
	for _, tc := range []struct{ name, publicURL string }{
		{"no public URL", ""},
		{"the wildcard listen address", "http://[::]:8080"},
		{"loopback", "https://127.0.0.1:8443"},
		{"not absolute", "gw.dolbom.example.kr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := freeAddr(t)
			g, err := New(context.Background(), Options{
				DataDir: t.TempDir(), MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(), HTTPAddr: addr,
				Channels: ChannelOptions{TwilioAccountSID: "AC0123456789abcdef0123456789abcdef", TwilioAuthToken: "0123456789abcdef",
					TwilioFrom: "+821012345678", PublicURL: tc.publicURL},
			}, zerolog.Nop())
			if err == nil {
				g.closeOnError()
				t.Fatal("started with a real Twilio account and no public URL Twilio can reach")
			}
			if !strings.Contains(err.Error(), "public URL") {
				t.Errorf("error %q does not say the public URL is missing or unusable", err)
			}
			l, err := net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the HTTP listener was left open: %v", err)
			}
			l.Close()
		})
	}
}

// Without a Twilio account nothing reaches the guardians: the built-in fake
// Twilio stands in only when chosen.
func TestNewRefusesASilentFakeTwilio(t *testing.T) {
	g, err := New(context.Background(), Options{DataDir: t.TempDir(), MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener()}, zerolog.Nop())
	if err == nil {
		g.closeOnError()
		t.Fatal("started with the fake Twilio without anyone choosing it")
	}
	if !strings.Contains(err.Error(), "fake") || !strings.Contains(err.Error(), "TWILIO_ACCOUNT_SID") {
		t.Errorf("error %q does not say what to set", err)
	}

	// Chosen, it stands in; an account with a public URL starts too.
	for name, ch := range map[string]ChannelOptions{
		"fake chosen": {FakeTwilio: true},
		"account with a public URL": {TwilioAccountSID: "AC0123456789abcdef0123456789abcdef", TwilioAuthToken: "0123456789abcdef",
			TwilioFrom: "+821012345678", PublicURL: "https://gw.dolbom.example.kr"},
	} {
		g, err := New(context.Background(), Options{DataDir: t.TempDir(), MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
			Channels: ch}, zerolog.Nop())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if (g.FakeTwilio != nil) != ch.FakeTwilio {
			t.Errorf("%s: fake Twilio running %v", name, g.FakeTwilio != nil)
		}
		g.closeOnError()
	}
}
