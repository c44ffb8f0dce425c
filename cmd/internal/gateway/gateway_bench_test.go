package gateway

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// startInProcess runs a whole gateway on the given store config with an
// in-memory MQTT listener, and returns it with the listener.
func startInProcess(tb testing.TB, sc store.Config) (*Gateway, *broker.PipeListener) {
	tb.Helper()
	return startInProcessBroker(tb, sc, broker.Config{})
}

// startInProcessBroker is startInProcess with broker settings (rate limits).
func startInProcessBroker(tb testing.TB, sc store.Config, bc broker.Config) (*Gateway, *broker.PipeListener) {
	tb.Helper()
	pipe := broker.NewPipeListener()
	dataDir := sc.DataDir
	if dataDir == "" {
		dataDir = tb.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	g, err := New(ctx, Options{
		DataDir: dataDir, DatabaseURL: sc.DatabaseURL, MQTTAddr: broker.ListenerOff, Listener: pipe,
		AdminToken: "benchmark-admin-token-0123456789", HeartbeatTimeout: 10 * time.Minute, ShutdownTimeout: 20 * time.Second,
		Channels: ChannelOptions{FakeTwilio: true}, Broker: bc,
	}, zerolog.Nop())
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("gateway run: %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for g.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("gateway not ready: %v", g.Ready(ctx))
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g, pipe
}

// provisionHubs registers n hubs of one resident and returns their secrets.
func provisionHubs(tb testing.TB, g *Gateway, n int) map[devices.HubID]string {
	tb.Helper()
	ctx := context.Background()
	res, err := g.Store.CreateResident(ctx, devices.Resident{Name: "벤치마크", Language: "ko"})
	if err != nil {
		tb.Fatal(err)
	}
	secrets := make(map[devices.HubID]string, n)
	for i := range n {
		secret := devices.NewSecret()
		h, err := g.Store.CreateHub(ctx, devices.Hub{ID: devices.HubID(fmt.Sprintf("bench-%04d", i)), ResidentID: res.ID,
			SecretHash: devices.HashHubSecret(secret), InstalledAt: time.Now()})
		if err != nil {
			tb.Fatal(err)
		}
		secrets[h.ID] = secret
	}
	return secrets
}

// pahoHub connects a stock paho client as the hub over the in-memory listener.
func pahoHub(tb testing.TB, pipe *broker.PipeListener, hub devices.HubID, secret string) mqtt.Client {
	tb.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://pipe:1883").
		SetClientID(string(hub)).SetUsername(string(hub)).SetPassword(secret).
		SetCleanSession(false).SetOrderMatters(false).SetAutoReconnect(false).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt.ClientOptions) (net.Conn, error) { return pipe.Dial() })
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		tb.Fatalf("connect %s: %v", hub, tok.Error())
	}
	tb.Cleanup(func() { c.Disconnect(100) })
	return c
}

// BenchmarkEventPublishToPuback measures what a hub sees: an emergency event
// published at QoS 1 until its PUBACK, which the gateway sends only once the
// event is durable (fsynced in SQLite, committed in PostgreSQL). 200 hubs
// publish evenly spaced so that the gateway takes `rate` events per second;
// one iteration is one event.
func BenchmarkEventPublishToPuback(b *testing.B) {
	backends := []struct {
		name string
		cfg  func(testing.TB) store.Config
	}{{"sqlite", storetest.SQLite}, {"postgres", storetest.Postgres}}
	const hubs, rate = 200, 1000
	for _, be := range backends {
		b.Run(fmt.Sprintf("backend=%s/hubs=%d/rate=%d", be.name, hubs, rate), func(b *testing.B) {
			g, pipe := startInProcess(b, be.cfg(b))
			secrets := provisionHubs(b, g, hubs)
			clients := make([]mqtt.Client, 0, hubs)
			ids := make([]devices.HubID, 0, hubs)
			for id, secret := range secrets {
				clients = append(clients, pahoHub(b, pipe, id, secret))
				ids = append(ids, id)
			}
			perHub := max(1, b.N/hubs)
			interval := time.Second * time.Duration(hubs) / rate // each hub's period
			latencies := make([][]time.Duration, hubs)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for i := range hubs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					offset := interval * time.Duration(i) / time.Duration(hubs)
					topic := devices.Topic(ids[i], devices.ChanEvents)
					for k := range perHub {
						time.Sleep(time.Until(start.Add(offset + time.Duration(k)*interval)))
						now := time.Now()
						payload := devices.EncodeEvent(devices.Event{ID: devices.EventID(fmt.Sprintf("sos-%d", k)), Kind: devices.EventSOS, Sensor: "pendant-1", At: now})
						tok := clients[i].Publish(topic, 1, false, payload)
						if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
							b.Errorf("publish: %v", tok.Error())
							return
						}
						latencies[i] = append(latencies[i], time.Since(now))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(latencies...)
			slices.Sort(all)
			if len(all) == 0 {
				b.Fatal("no events acknowledged")
			}
			q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.50), "p50_ms")
			b.ReportMetric(q(0.99), "p99_ms")
			b.ReportMetric(float64(all[len(all)-1].Microseconds())/1000, "max_ms")
			b.ReportMetric(float64(len(all))/time.Since(start).Seconds(), "events/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
