package broker

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// BenchmarkConnect measures how fast hubs get in: N hubs (20,000 unless
// BROKER_CONNECT_HUBS says otherwise) connect over the pipe listener from 64
// concurrent dialers, with raw frames, against a directory that answers in
// about 50 µs (a SQLite lookup; it sleeps, so the time is not CPU).
//
//   - secrets=distinct: every hub has its own secret hashed with
//     devices.LegacyHubSecretParams and the server is new, so every CONNECT
//     costs argon2id: hubs provisioned before SHA-256 hashes, after a restart.
//   - secrets=cached: the same hubs connect a second time (the verify cache
//     answers): a reconnect wave after a network blip.
//
// It reports connects/s; the target is 300,000 hubs in 120 s after a
// restart (2,500/s) and in 60 s otherwise (5,000/s).
func BenchmarkConnect(b *testing.B) {
	n := 20000
	if v, err := strconv.Atoi(os.Getenv("BROKER_CONNECT_HUBS")); err == nil && v > 0 {
		n = v
	}
	ids := make([]string, n)
	secrets := make([]string, n)
	hashes := make(map[devices.HubID]string, n)
	// Hashing is the registry's cost, paid here once, outside the timing.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := w; i < n; i += runtime.GOMAXPROCS(0) {
				id := fmt.Sprintf("hub-%06d", i)
				secret := "secret-" + id
				h := devices.HashSecret(secret, devices.LegacyHubSecretParams)
				mu.Lock()
				ids[i], secrets[i], hashes[devices.HubID(id)] = id, secret, h
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	dir := dirFunc(func(_ context.Context, h devices.HubID) (devices.HubCredential, error) {
		time.Sleep(50 * time.Microsecond)
		hash, ok := hashes[h]
		if !ok {
			return devices.HubCredential{}, devices.ErrNotFound
		}
		return devices.HubCredential{Hub: h, SecretHash: hash}, nil
	})
	for _, mode := range []string{"distinct", "cached"} {
		b.Run(fmt.Sprintf("hubs=%d/secrets=%s", n, mode), func(b *testing.B) {
			var took time.Duration
			for b.Loop() {
				b.StopTimer()
				s, err := New(Config{TCPAddr: ListenerOff}, noopJournal{}, noopIngester{}, dir, zerolog.Nop(), nil)
				if err != nil {
					b.Fatal(err)
				}
				pl, cancel, done := servePiped(b, s)
				if mode == "cached" {
					closeAll(connectMany(b, pl, ids, secrets))
					waitConnected(b, s, 0)
				}
				b.StartTimer()
				start := time.Now()
				conns := connectMany(b, pl, ids, secrets)
				took += time.Since(start)
				b.StopTimer()
				closeAll(conns)
				cancel()
				<-done
				b.StartTimer()
			}
			b.ReportMetric(float64(n*b.N)/took.Seconds(), "connects/s")
		})
	}
}

// connectMany connects every hub (clean 3.1.1 sessions) from 64 dialers and
// returns the open connections once every CONNACK has arrived.
func connectMany(b *testing.B, pl *PipeListener, ids, secrets []string) []net.Conn {
	const dialers = 64
	conns := make([]net.Conn, len(ids))
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			var buf bytes.Buffer
			ack := make([]byte, 4)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				conn, err := pl.Dial()
				if err != nil {
					failed.Store(err)
					return
				}
				buf.Reset()
				pk := connectPacket(connectOpts{v: 4, id: ids[i], user: ids[i], pass: secrets[i], clean: true})
				pk.ProtocolVersion = 4
				if err := pk.ConnectEncode(&buf); err != nil {
					failed.Store(err)
					return
				}
				if _, err := conn.Write(buf.Bytes()); err != nil {
					failed.Store(err)
					return
				}
				// A 3.1.1 CONNACK is 4 bytes: 0x20 0x02 flags code.
				if _, err := io.ReadFull(conn, ack); err != nil || ack[0] != packets.Connack<<4 || ack[3] != 0 {
					failed.Store(fmt.Errorf("hub %s: connack % x: %v", ids[i], ack, err))
					return
				}
				conns[i] = conn
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
}

func waitConnected(b *testing.B, s *Server, n int) {
	for deadline := time.Now().Add(30 * time.Second); s.Connected() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("connected %d, want %d", s.Connected(), n)
		}
	}
}

// BenchmarkReconnect is one hub's whole connect as docs/protocol.md 2.3
// has it (CONNECT with its will, SUBSCRIBE to its command and reject
// topics, the retained online status at QoS 1), then the connection lost
// and the will published, one hub at a time, each hub known to the verify
// cache: what a reconnect wave costs per hub. B/op is the process's, most
// of it mochi's and the pipe's (docs/performance.md, "Per-message costs").
func BenchmarkReconnect(b *testing.B) {
	s, pl, stop := startBench(b, Config{})
	defer stop()
	reconnect := reconnecter(b, s, pl)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		reconnect(i)
		i++
	}
}

// reconnecter returns a function that reconnects hub i (of 256, each
// connected once already, so that the verify cache answers) and waits for
// the broker to have seen it leave. The hub side writes frames encoded
// beforehand and reads the answers into a fixed array, so that what it
// allocates is its pipe only.
func reconnecter(tb testing.TB, s *Server, pl *PipeListener) func(i int) {
	type hubFrames struct{ connect, subscribe, online []byte }
	hubs := make([]hubFrames, 256)
	encode := func(pk packets.Packet) []byte {
		var buf bytes.Buffer
		pk.ProtocolVersion = 4
		var err error
		switch pk.FixedHeader.Type {
		case packets.Connect:
			err = pk.ConnectEncode(&buf)
		case packets.Subscribe:
			err = pk.SubscribeEncode(&buf)
		default:
			err = pk.PublishEncode(&buf)
		}
		if err != nil {
			tb.Fatal(err)
		}
		return buf.Bytes()
	}
	online := devices.EncodeStatus(devices.Status{State: devices.HubOnline, At: time.Now(), Firmware: "2.4.1", Model: "DBH-200"})
	for i := range hubs {
		id := fmt.Sprintf("hub-%06d", i)
		hub := devices.HubID(id)
		status := devices.Topic(hub, devices.ChanStatus)
		hubs[i] = hubFrames{
			connect: encode(connectPacket(connectOpts{v: 4, id: id, user: id, pass: "s", will: status})),
			subscribe: encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
				Filters: packets.Subscriptions{
					{Filter: devices.Topic(hub, devices.ChanCmd), Qos: 1},
					{Filter: devices.Topic(hub, devices.ChanRejects), Qos: 0},
				}}),
			online: encode(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Retain: true},
				TopicName: status, Payload: online, PacketID: 2}),
		}
	}
	var answer [6]byte
	exchange := func(conn net.Conn, frame []byte, n int, want byte) {
		if _, err := conn.Write(frame); err != nil {
			tb.Fatal(err)
		}
		if _, err := io.ReadFull(conn, answer[:n]); err != nil || answer[0] != want<<4 || answer[n-1] >= 0x80 {
			tb.Fatalf("want packet type %d, got % x: %v", want, answer[:n], err)
		}
	}
	reconnect := func(i int) {
		h := &hubs[i%len(hubs)]
		conn, err := pl.Dial()
		if err != nil {
			tb.Fatal(err)
		}
		exchange(conn, h.connect, 4, packets.Connack)  // 0x20 0x02 flags code
		exchange(conn, h.subscribe, 6, packets.Suback) // 0x90 0x04 id id qos qos
		exchange(conn, h.online, 4, packets.Puback)    // 0x40 0x02 id id
		conn.Close()
		for s.Connected() != 0 {
			runtime.Gosched()
		}
	}
	for i := range hubs { // first connects: argon2id, then cached
		reconnect(i)
	}
	return reconnect
}

// BenchmarkRefusedConnect is one CONNECT of a new hub refused because the
// node is full (MaxHubs hubs connected), over the pipe listener: the hub
// writes its CONNECT, reads the busy CONNACK and sees the connection
// closed. B/op is the process's: what a refused hub costs the gateway each
// time it tries again (docs/performance.md, "Overload refused cheaply").
// Past capacity this is the only thing refused hubs cost the node, and its
// garbage is what makes the admitted hubs' collector run more often.
func BenchmarkRefusedConnect(b *testing.B) {
	for _, v := range []byte{4, 5} {
		b.Run("mqtt="+strconv.Itoa(int(v)), func(b *testing.B) {
			s, pl, stop := startBench(b, Config{MaxHubs: 1})
			defer stop()
			refuse := refuser(b, s, pl, v)
			b.ReportAllocs()
			for b.Loop() {
				refuse()
			}
		})
	}
}

// refuser fills the node (MaxHubs 1: one hub connected and kept) and
// returns a function that makes another hub try, expects the busy CONNACK
// for version v and waits until the broker has closed the connection. The
// hub side writes a frame encoded beforehand and reads into a fixed array,
// so that what it allocates is its pipe only.
func refuser(tb testing.TB, s *Server, pl *PipeListener, v byte) func() {
	tb.Helper()
	frame := func(id string) []byte {
		var buf bytes.Buffer
		pk := connectPacket(connectOpts{v: v, id: id, user: id, pass: "s",
			will: devices.Topic(devices.HubID(id), devices.ChanStatus)})
		pk.ProtocolVersion = v
		if err := pk.ConnectEncode(&buf); err != nil {
			tb.Fatal(err)
		}
		return buf.Bytes()
	}
	kept, err := pl.Dial()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { kept.Close() })
	var answer [64]byte
	if _, err := kept.Write(frame("hub-kept")); err != nil {
		tb.Fatal(err)
	}
	if _, err := io.ReadAtLeast(kept, answer[:], 4); err != nil || answer[0] != packets.Connack<<4 {
		tb.Fatalf("first hub: % x: %v", answer[:4], err)
	}
	go func() { // drain whatever the kept hub is sent
		var sink [64]byte
		for {
			if _, err := kept.Read(sink[:]); err != nil {
				return
			}
		}
	}()
	refused := frame("hub-refused")
	want := busyCode(v)
	return func() {
		conn, err := pl.Dial()
		if err != nil {
			tb.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.Write(refused); err != nil {
			tb.Fatal(err)
		}
		// The CONNACK: 0x20, remaining length (< 128 here), flags, code,
		// and on MQTT 5 its properties; then the broker closes.
		n, err := io.ReadAtLeast(conn, answer[:], 4)
		if err != nil || answer[0] != packets.Connack<<4 || answer[3] != want {
			tb.Fatalf("refused hub: CONNACK % x, want code %#x: %v", answer[:n], want, err)
		}
		for total := int(answer[1]) + 2; n < total; {
			m, err := conn.Read(answer[:])
			if err != nil {
				tb.Fatalf("refused hub: CONNACK cut short: %v", err)
			}
			n += m
		}
		if _, err := conn.Read(answer[:]); err != io.EOF && err != io.ErrClosedPipe {
			tb.Fatalf("refused hub: connection not closed after the CONNACK: %v", err)
		}
	}
}
