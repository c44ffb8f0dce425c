package gateway

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/detectors/health"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/store/storetest"
)

// owner reads hub's row of hub_owners: its node and whether it was
// adopted ("" while it has none).
func owner(t *testing.T, db *pgx.Conn, hub devices.HubID) (node string, adopted bool) {
	t.Helper()
	err := db.QueryRow(context.Background(), `SELECT node, adopted FROM hub_owners WHERE hub_id = $1`, string(hub)).Scan(&node, &adopted)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return node, adopted
}

// A cluster gateway stopped gracefully (SIGTERM) leaves the cluster rather
// than just stopping: its hubs are told to use another server and are owned
// by the other gateway within moments; the home whose hub is offline is
// adopted by the other gateway at its next scan, although the stopped
// gateway's lease had most of a minute to run (without the leave it would
// be adopted only once that lease expired); an SOS published while it
// stops, which it no longer acknowledges, becomes one incident through the
// other gateway; and no moved hub is raised offline there.
func TestClusterGracefulLeave(t *testing.T) {
	sc := storetest.Postgres(t)
	mock := receiver.New(receiver.Options{XSDPath: "../../../../shared/spec/CAP-v1.2.xsd", Logger: zerolog.Nop()})
	srv := httptest.NewServer(mock.Handler())
	t.Cleanup(srv.Close)
	// A hub offline for a second is raised: a moved hub that went unwatched
	// on its way would show.
	quickOffline := func(_ *Options, tune *Tuning) { tune.Health = func(c *health.Config) { c.OfflineGrace = time.Second } }
	a := startClusterNodeWith(t, "n1", sc.DatabaseURL, srv.URL+"/cap", func(o *Options, tune *Tuning) {
		o.Cluster.TTL = time.Minute
		quickOffline(o, tune)
	})
	b := startClusterNodeWith(t, "n2", sc.DatabaseURL, srv.URL+"/cap", quickOffline)
	db, err := pgx.Connect(context.Background(), sc.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })

	// HAProxy's part: a new session goes to A while it listens, else to B.
	balanced := func() (net.Conn, error) {
		if c, err := a.pipe.Dial(); err == nil {
			return c, nil
		}
		return b.pipe.Dial()
	}
	var moving []devices.HubID
	clients := map[devices.HubID]mqtt.Client{}
	for _, name := range []string{"김순자", "이영수"} {
		hub, secret := newClusterHub(t, a, devices.Resident{Name: name, Language: "ko"})
		clients[hub] = connectVia(t, "n1", hub, secret, balanced, true)
		moving = append(moving, hub)
	}
	offline, secret := newClusterHub(t, a, devices.Resident{Name: "박정희", Language: "ko"})
	a.connectHub(t, offline, secret).Disconnect(100)
	for _, hub := range append([]devices.HubID{offline}, moving...) {
		if node, _ := owner(t, db, hub); node != "n1" {
			t.Fatalf("%s owned by %q before the stop, want n1", hub, node)
		}
	}

	stopping := time.Now()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		a.stop()
	}()
	waitFor(t, 10*time.Second, "A stops taking hubs' messages", func() bool { return !a.g.Broker.Ready() })
	// Not acknowledged by A any more: the hub keeps it and resends it to B.
	sos := devices.Event{ID: "sos-leave", Kind: devices.EventSOS, Sensor: "pendant-1", At: time.Now()}
	tok := clients[moving[0]].Publish(devices.Topic(moving[0], devices.ChanEvents), 1, false, devices.EncodeEvent(sos))

	waitFor(t, 20*time.Second, "every connected hub of A owned by B", func() bool {
		for _, hub := range moving {
			if node, _ := owner(t, db, hub); node != "n2" {
				return false
			}
		}
		return true
	})
	t.Logf("hubs owned by B %s after the stop began (machine shared)", time.Since(stopping).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "the offline hub's home adopted by B, well before A's one-minute lease would expire", func() bool {
		node, adopted := owner(t, db, offline)
		return node == "n2" && adopted
	})
	t.Logf("offline home adopted by B %s after the stop began", time.Since(stopping).Round(time.Millisecond))
	<-stopped
	// Each connected hub was told to use another server, not left to find
	// the gateway gone after its final saves.
	if n := gatherCounter(t, a.g, "dolbom_broker_sessions_released_total", "", ""); n < float64(len(moving)) {
		t.Errorf("A released %v sessions to the other gateway at its stop, want its %d connected hubs'", n, len(moving))
	}
	var dead bool
	if err := db.QueryRow(context.Background(), `SELECT dead FROM cluster_members WHERE node = 'n1' ORDER BY incarnation DESC LIMIT 1`).Scan(&dead); err != nil || !dead {
		t.Errorf("n1's member row after its graceful stop: dead %v, %v; want dead", dead, err)
	}

	if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("the SOS sent while A stopped was never acknowledged: %v", tok.Error())
	}
	waitFor(t, 20*time.Second, "the SOS incident", func() bool {
		list, err := b.g.Dispatch.ListIncidents(context.Background(), dispatch.IncidentQuery{Hub: moving[0], Cause: detectors.CauseSOS})
		return err == nil && len(list) > 0
	})
	time.Sleep(2 * time.Second) // room for a second incident, or a moved hub raised offline, to show up
	for _, hub := range moving {
		list, err := b.g.Dispatch.ListIncidents(context.Background(), dispatch.IncidentQuery{Hub: hub})
		if err != nil {
			t.Fatal(err)
		}
		sosCount := 0
		for _, inc := range list {
			switch inc.Cause {
			case detectors.CauseSOS:
				sosCount++
			default:
				t.Errorf("%s, moved from A to B, raised %s: %+v", hub, inc.Cause, inc)
			}
		}
		want := 0
		if hub == moving[0] {
			want = 1
		}
		if sosCount != want {
			t.Errorf("%s: %d SOS incidents, want %d", hub, sosCount, want)
		}
	}
}
