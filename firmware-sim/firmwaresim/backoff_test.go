package firmwaresim

import (
	"fmt"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/dolbom/dolbom/devices"
)

// TestRefusedHubBacksOffPerProtocol: a hub told "server busy" at every
// CONNECT (3.1.1 0x03, MQTT 5 0x89) waits, before each next try, a time
// drawn uniformly from [0, min(300 s, 2^attempt s)], never under 1 s
// (protocol 17.1): jittered across hubs, growing, capped, and never reset
// while it is refused. A full node's refused hubs then cost it what the
// protocol says and no more; the test logs how many tries that is per hub
// in the first 2 and 3 minutes (what the overload runs see).
func TestRefusedHubBacksOffPerProtocol(t *testing.T) {
	for _, code := range []byte{0x03, 0x89} {
		t.Run(fmt.Sprintf("connack=%#x", code), func(t *testing.T) {
			const hubs, tries = 400, 12
			f := NewFleet(Options{Transport: NewMemListener(), Seed: 7})
			start := time.Unix(1_800_000_000, 0).UnixNano()
			var in2m, in3m int
			sum := make([]float64, tries)
			for i := range hubs {
				h := f.Add(devices.HubID(fmt.Sprintf("sim-%06d", i)), "secret", uint32(i))
				now := start
				for k := range tries {
					if now-start < int64(2*time.Minute) {
						in2m++
					}
					if now-start < int64(3*time.Minute) {
						in3m++
					}
					h.mu.Lock()
					h.state = stConnecting
					h.onConnack(now, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ReasonCode: code})
					wait := time.Duration(h.retryAt - now)
					h.mu.Unlock()
					capD := min(maxBackoff, time.Second<<k)
					if wait < minReconnect || wait > max(capD, minReconnect) {
						t.Fatalf("hub %d, try %d: waits %v, want within [1 s, %v]", i, k+1, wait, capD)
					}
					sum[k] += wait.Seconds()
					now = h.retryAt
				}
			}
			if st := f.Stats(); st.RefusedConnects != hubs*tries || st.RefusedHubs != hubs || st.DeniedConnects != 0 {
				t.Errorf("stats: %d refused connects, %d refused hubs, %d denied; want %d, %d, 0",
					st.RefusedConnects, st.RefusedHubs, st.DeniedConnects, hubs*tries, hubs)
			}
			// Full jitter: the mean wait is about half the cap (the 1 s floor
			// lifts the first ones), so it keeps growing until the cap.
			for k := 3; k < tries; k++ {
				capD := min(maxBackoff, time.Second<<k).Seconds()
				if mean := sum[k] / hubs; mean < 0.4*capD || mean > 0.6*capD {
					t.Errorf("try %d: mean wait %.1f s, want about %.1f s (half the cap)", k+1, mean, capD/2)
				}
			}
			t.Logf("CONNECTs per refused hub: %.2f in the first 2 min, %.2f in 3 min",
				float64(in2m)/hubs, float64(in3m)/hubs)
		})
	}
}

// A hub told to use another server (its home moved to another gateway of a
// cluster) is back after the minimum pause, whatever its backoff was:
// the move is not a failure, and its unacknowledged SOS waits meanwhile.
func TestHubToldToUseAnotherServerReconnectsAtOnce(t *testing.T) {
	f := NewFleet(Options{Transport: NewMemListener(), Seed: 7})
	h := f.Add("sim-000001", "secret", 1)
	now := time.Unix(1_800_000_000, 0).UnixNano()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state, h.attempt, h.upAt = stOnline, 9, now // a backoff of up to 2^9 s after a drop
	f.stats.online.Add(1)
	h.handle(now, &packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ReasonCode: packets.ErrUseAnotherServer.Code})
	if wait := time.Duration(h.retryAt - now); wait != minReconnect || h.attempt != 0 {
		t.Fatalf("after DISCONNECT 0x9C: reconnects in %v with attempt %d; want %v and the backoff started over", wait, h.attempt, minReconnect)
	}
}
