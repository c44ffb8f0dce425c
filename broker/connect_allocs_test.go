package broker

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// A reconnect of a hub with a legacy (argon2id) hash is answered by the
// verify cache's HMAC, which reuses its keyed state and input buffer: no
// allocation once warm (a fresh HMAC cost ~600 B and 5 allocations per
// CONNECT), and the same MAC as a fresh one.
func TestVerifierMACAllocations(t *testing.T) {
	v := newVerifier()
	const stored, secret = "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA", "secret-hub-000001"
	fresh := hmac.New(sha256.New, v.key)
	fresh.Write([]byte(stored + "\x00" + secret))
	want := fresh.Sum(nil)
	for range 3 {
		if got := v.mac(stored, secret); !hmac.Equal(got[:], want) {
			t.Fatalf("mac = %x, want %x", got, want)
		}
	}
	if other := v.mac(stored, secret+"x"); hmac.Equal(other[:], want) {
		t.Fatal("another secret gave the same MAC")
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { v.mac(stored, secret) }); n != 0 {
		t.Errorf("verifier.mac: %v allocations, want 0", n)
	}
}

// reconnectBudget is what one hub's reconnect (BenchmarkReconnect's
// CONNECT, SUBSCRIBE, status, loss and will) may allocate in the whole
// process: about 7.2 KB now, most of it mochi's client and session and the
// pipe. It was 17.5 KB while mochi stored the status and the will as
// retained messages for retainedDropper to delete (~6 KB: their topic's
// path in mochi's index built and trimmed each time), the workers handed
// the status to mochi (a copy of the packet and the client's inflight map,
// ~1.3 KB), copied each SUBSCRIBE into an allocation of its own (~0.9 KB),
// the verify cache built a fresh HMAC (~0.6 KB) and OnConnect made a
// context and timer of its own (~0.3 KB). The margin is below the smallest
// of those.
const reconnectBudget = 7400

func TestReconnectAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("connects 1,256 hubs; counts allocations (not under -race)")
	}
	s, pl, stop := startBench(t, Config{})
	defer stop()
	reconnect := reconnecter(t, s, pl)
	const n = 1000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		reconnect(i)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > reconnectBudget {
		t.Errorf("a reconnect allocates %d B in the process, budget %d B", per, reconnectBudget)
	} else {
		t.Logf("a reconnect allocates %d B, %d allocations", per, (after.Mallocs-before.Mallocs)/n)
	}
}

// The workers' copies of SUBSCRIBEs (and of what they hand to mochi) are
// recycled once answered: hubs subscribing and publishing statuses in
// parallel, reconnecting between rounds, each get every SUBSCRIBE answered
// and see every status of their own reach the ingester intact and in order
// (run with -race: a copy reused while still read would show here).
func TestRecycledMochiPacketsStayTheirs(t *testing.T) {
	e := startEnv(t, Config{})
	const hubs, rounds, perRound = 8, 5, 4
	for i := range hubs {
		e.dir.set(devices.HubID(fmt.Sprintf("hub-r%d", i)), "secret-r", false)
	}
	var wg sync.WaitGroup
	for i := range hubs {
		hub := devices.HubID(fmt.Sprintf("hub-r%d", i))
		wg.Go(func() {
			status := devices.Topic(hub, devices.ChanStatus)
			for r := range rounds {
				c, ack := e.dialRaw(connectOpts{v: 4, id: string(hub), user: string(hub), pass: "secret-r", will: status})
				if ack.ReasonCode != 0 {
					t.Errorf("%s connect: %#x", hub, ack.ReasonCode)
					return
				}
				c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
					Filters: packets.Subscriptions{{Filter: devices.Topic(hub, devices.ChanCmd), Qos: 1}}})
				c.expect(packets.Suback)
				for k := range perRound {
					online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now(),
						Firmware: fmt.Sprintf("%s/%d/%d", hub, r, k)})
					c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
						TopicName: status, Payload: online, PacketID: uint16(2 + k)})
					c.expect(packets.Puback)
				}
				c.conn.Close()
			}
		})
	}
	wg.Wait()
	got := map[devices.HubID][]string{}
	e.ingest.mu.Lock()
	for _, m := range e.ingest.msgs {
		if m.Status != nil && m.Status.State == devices.HubOnline {
			got[m.Hub] = append(got[m.Hub], m.Status.Firmware)
		}
	}
	e.ingest.mu.Unlock()
	for i := range hubs {
		hub := devices.HubID(fmt.Sprintf("hub-r%d", i))
		var want []string
		for r := range rounds {
			for k := range perRound {
				want = append(want, fmt.Sprintf("%s/%d/%d", hub, r, k))
			}
		}
		if !slices.Equal(got[hub], want) {
			t.Errorf("%s: statuses %v, want %v", hub, got[hub], want)
		}
	}
}

// refusedBudget is what one CONNECT refused at a full node may allocate in
// the whole process (BenchmarkRefusedConnect's): about 1.8 KB now, of
// which ~1.75 KB is the test's pipe and its deadline timer (a TCP
// connection's are the kernel's). Through mochi it was 4.4 KB and 45
// allocations: mochi's client (read buffer, outbound channel, maps, a
// context), the decoded CONNECT, its write loop and the refusal's errors.
const refusedBudget = 2400

func TestRefusedConnectAllocations(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("counts allocations (not under -race)")
	}
	for _, v := range []byte{4, 5} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			s, pl, stop := startBench(t, Config{MaxHubs: 1})
			defer stop()
			refuse := refuser(t, s, pl, v)
			for range 100 { // warm the pools
				refuse()
			}
			const n = 1000
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range n {
				refuse()
			}
			runtime.ReadMemStats(&after)
			if per := (after.TotalAlloc - before.TotalAlloc) / n; per > refusedBudget {
				t.Errorf("a refused CONNECT allocates %d B in the process, budget %d B", per, refusedBudget)
			} else {
				t.Logf("a refused CONNECT allocates %d B, %d allocations", per, (after.Mallocs-before.Mallocs)/n)
			}
		})
	}
}
