package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

func runFlood(t *testing.T, args ...string) FloodReport {
	t.Helper()
	var out, errb bytes.Buffer
	if err := cmdFlood(context.Background(), append(args, "--json"), &out, &errb); err != nil {
		t.Fatalf("flood %v: %v\n%s", args, err, errb.String())
	}
	var rep FloodReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	return rep
}

// A flood beyond the gateway's per-hub readings limit measures the limiter:
// the report counts the rejects and disconnects and says so. Paced within
// the limit, the same gateway takes every message and the report measures
// the broker.
func TestFloodSaysWhenItMeasuresTheRateLimiter(t *testing.T) {
	if testing.Short() {
		t.Skip("flood run")
	}
	limited := runFlood(t, "--gateway-inproc", "--data-dir", t.TempDir(), "--readings-rate", "1", "--readings-burst", "5",
		"--conns", "4", "--warmup", "300ms", "--duration", "1s")
	r := limited.Runs[0]
	if limited.MeasuresBroker || r.Rejects+r.Refused+r.Disconnects == 0 {
		t.Errorf("beyond the limit: measures_broker %v, rejects %d, refused %d, disconnects %d; want the limiting reported",
			limited.MeasuresBroker, r.Rejects, r.Refused, r.Disconnects)
	}

	// 2 messages/s for 2 s: within the default 5/s (burst 300), and a few
	// acknowledged even on a slow machine.
	paced := runFlood(t, "--gateway-inproc", "--data-dir", t.TempDir(), "--rate", "2",
		"--conns", "4", "--warmup", "300ms", "--duration", "2s")
	r = paced.Runs[0]
	if !paced.MeasuresBroker || r.Rejects+r.Refused+r.Disconnects+r.ConnectErrors != 0 || r.Acked == 0 || r.Connected != 4 {
		t.Errorf("within the limit: %+v", paced)
	}
}

// With --baseline each round floods the baseline, then the target, and
// reports target/baseline per round and the worst.
func TestFloodRoundsAgainstABaseline(t *testing.T) {
	if testing.Short() {
		t.Skip("flood run")
	}
	addr := anonymousBroker(t)
	rep := runFlood(t, "--baseline", addr, "--target", addr, "--rounds", "2", "--conns", "3", "--warmup", "100ms", "--duration", "500ms")
	if len(rep.Runs) != 4 || rep.Runs[0].Role != "baseline" || rep.Runs[1].Role != "target" || rep.Runs[3].Round != 2 {
		t.Fatalf("runs: %+v", rep.Runs)
	}
	if len(rep.Ratios) != 2 || rep.WorstRatio != min(rep.Ratios[0], rep.Ratios[1]) || rep.WorstRatio <= 0 || rep.RatioIs == "" {
		t.Errorf("ratios %v, worst %v (%q)", rep.Ratios, rep.WorstRatio, rep.RatioIs)
	}
	for _, r := range rep.Runs {
		if r.Acked == 0 || r.Connected != 3 || r.Disconnects != 0 {
			t.Errorf("run %+v", r)
		}
	}
	if !rep.MeasuresBroker {
		t.Error("measures_broker false against an unlimited broker")
	}
}

// anonymousBroker runs a bare mochi broker on 127.0.0.1 that lets anyone in,
// as a stand-in for Mosquitto.
func anonymousBroker(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := mqtt.New(&mqtt.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := s.AddHook(new(allowAll), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AddListener(listeners.NewNet("tcp", l)); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return l.Addr().String()
}

// allowAll lets every client connect, publish and subscribe.
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }
func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}
func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }
func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool              { return true }
