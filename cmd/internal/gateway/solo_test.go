package gateway

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cluster"
	"github.com/dolbom/dolbom/store/storetest"
)

// newSolo builds a single gateway (no --cluster) named node on the
// PostgreSQL database dbURL. Its lease lasts a minute: a second gateway
// refused beside it is refused for the lease, not for a moment.
func newSolo(t *testing.T, node, dbURL string) (*Gateway, error) {
	t.Helper()
	o := Options{DataDir: t.TempDir(), DatabaseURL: dbURL, MQTTAddr: broker.ListenerOff, Listener: broker.NewPipeListener(),
		Channels: ChannelOptions{FakeTwilio: true}, Broker: broker.Config{Node: node},
		Cluster: ClusterOptions{Renew: time.Second, TTL: time.Minute}}
	return New(context.Background(), o, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Str("node", node).Logger())
}

// wantSoloRefusal checks that New refused a single gateway with the
// store's reason, naming the live gateway and what to do.
func wantSoloRefusal(t *testing.T, g *Gateway, err error, live, advice string) {
	t.Helper()
	if err == nil {
		g.closeOnError()
		t.Fatalf("a single gateway started beside the live %s", live)
	}
	if !errors.Is(err, cluster.ErrSoloConflict) || !strings.Contains(err.Error(), live) || !strings.Contains(err.Error(), advice) {
		t.Errorf("refusal: %v; want cluster.ErrSoloConflict naming %s and saying %q", err, live, advice)
	}
}

// Two gateways without --cluster on one PostgreSQL database would each
// watch every home (false hub-offline, welfare and 119 alarms for the
// other's hubs): the second refuses to start, naming the first. A graceful
// stop gives the first's lease up at once, so the second then starts
// although that lease had most of its minute to run.
func TestSoloGatewaysRefuseEachOther(t *testing.T) {
	sc := storetest.Postgres(t)
	a, err := newSolo(t, "gw-a", sc.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopA := runGateway(t, ctx, cancel, a, 10*time.Second)

	b, err := newSolo(t, "gw-b", sc.DatabaseURL)
	wantSoloRefusal(t, b, err, "gw-a", "two gateways need --cluster")

	stopA()
	b, err = newSolo(t, "gw-b", sc.DatabaseURL)
	if err != nil {
		t.Fatalf("a single gateway after the other stopped gracefully: %v; want it started at once", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	runGateway(t, ctx, cancel, b, 10*time.Second)
}

// A gateway started without --cluster beside a live cluster node refuses
// to start, naming the node and --cluster: it would watch the homes the
// node owns.
func TestSoloRefusedBesideClusterNode(t *testing.T) {
	sc := storetest.Postgres(t)
	startClusterNode(t, "n1", sc.DatabaseURL, "http://127.0.0.1:9/cap")
	g, err := newSolo(t, "gw-a", sc.DatabaseURL)
	wantSoloRefusal(t, g, err, "n1", "start this gateway with --cluster")
}
