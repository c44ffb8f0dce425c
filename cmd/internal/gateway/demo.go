package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/store"
)

// demoFile keeps the demo hub's credentials, so that `make run` can show
// them again on later starts (the store keeps only the secret's hash).
const demoFile = "demo-hub.json"

type demoHub struct {
	ResidentID devices.ResidentID `json:"resident_id"`
	HubID      devices.HubID      `json:"hub_id"`
	Secret     string             `json:"secret"`
}

// demo provisions one demo home on an empty registry, keeps its hub online
// with a simulated home (demoHome), and prints how to use the gateway with
// it: the admin token, dolbomctl, mosquitto_pub as the hub pressing SOS,
// and where the guardian's SMS and calls and the 119 messages are seen.
// It is what `make run` shows a new user.
// changed tells the health monitor and dispatch about the demo hub's
// registry changes, as the registry's notifications do (registry.go).
func demo(ctx context.Context, o Options, httpAddr, token, fakeTwilio string, st *store.Store, changed func(context.Context, devices.HubID), log zerolog.Logger) error {
	path := filepath.Join(o.DataDir, demoFile)
	var d demoHub
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("demo: %s: %w", path, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		existing, err := st.Registry().ListResidents(ctx, console.ListQuery{Limit: 1, IncludeDisabled: true})
		if err != nil {
			return err
		}
		if len(existing) > 0 {
			log.Info().Msg("registry not empty: no demo home provisioned")
			return nil
		}
		if d, err = provisionDemo(ctx, st); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(d, "", "  ")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return err
		}
	} else {
		return err
	}

	mqtt, online := demoMQTT(o.MQTTAddr)
	if online {
		if err := ensureDemoSensors(ctx, st, d.HubID); err != nil {
			return err
		}
		changed(ctx, d.HubID)
		go demoHome(ctx, mqtt, d, log)
	}
	fmt.Fprintln(os.Stderr, demoBanner(o, httpAddr, token, fakeTwilio, path, mqtt, online, d, time.Now()))
	return nil
}

// demoMQTT is the address the simulated hub dials: the MQTT listener, on
// loopback when it listens on every address. false: no plain MQTT
// listener (TLS only), so no simulated hub.
func demoMQTT(listen string) (string, bool) {
	host, port, err := net.SplitHostPort(listen)
	if listen == "off" || err != nil {
		return "", false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), true
}

// demoBanner is what `make run` prints. The SOS carries a fresh event id
// at every start: an id the gateway has stored is acknowledged and not
// acted on again (protocol section 7.2).
func demoBanner(o Options, httpAddr, token, fakeTwilio, credentials, mqtt string, online bool, d demoHub, now time.Time) string {
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	server := "http://127.0.0.1:" + httpPort
	ms := now.UnixMilli()
	var b strings.Builder
	fmt.Fprintf(&b, "\n  Dolbom gateway is running (demo home %s, hub %s)\n\n", d.ResidentID, d.HubID)
	fmt.Fprintf(&b, "  Console:    %s/login  (user admin, password in %s)\n", server, console.BootstrapPasswordFile(o.DataDir))
	fmt.Fprintf(&b, "  Ready:      curl -s %s/readyz\n", server)
	fmt.Fprintf(&b, "  Metrics:    curl -s %s/metrics | grep ^dolbom_\n", server)
	fmt.Fprintf(&b, "  Admin API:  export DOLBOM_SERVER=%s DOLBOM_ADMIN_TOKEN=%s\n", server, token)
	fmt.Fprintf(&b, "              ./bin/dolbomctl resident list; ./bin/dolbomctl hub health %s\n", d.HubID)
	if online {
		host, port, _ := net.SplitHostPort(mqtt)
		fmt.Fprintf(&b, "  The hub:    a simulated home keeps hub %s online (heartbeats, every sensor's readings), as a real hub would\n", d.HubID)
		fmt.Fprintf(&b, "  Press SOS:  mosquitto_pub -h %s -p %s -i %s -u %s -P '%s' -q 1 -t dolbom/v1/%s/events -m '{\"v\":1,\"id\":\"sos-%d\",\"ts\":%d,\"kind\":\"sos\",\"sensor\":\"pendant-1\"}'\n",
			host, port, d.HubID, d.HubID, d.Secret, d.HubID, ms, ms)
		fmt.Fprintf(&b, "              (it connects as the hub for a moment; the simulated hub reconnects within seconds)\n")
	} else {
		fmt.Fprintf(&b, "  The hub:    no plain MQTT listener (--mqtt-addr off): connect a hub over TLS with id %s and the secret in %s\n", d.HubID, credentials)
	}
	fmt.Fprintf(&b, "              ./bin/dolbomctl hub events %s\n", d.HubID)
	if len(o.Channels.CAPURLs) > 0 {
		fmt.Fprintf(&b, "  119:        curl -s %s/alerts   (what the 119 centre received as CAP)\n", strings.TrimSuffix(o.Channels.CAPURLs[0], "/cap"))
	}
	if fakeTwilio != "" {
		fmt.Fprintf(&b, "  Guardian:   SMS and calls go to the built-in fake Twilio, which reaches nobody; each is logged here\n")
		fmt.Fprintf(&b, "              (\"fake Twilio SMS\", \"fake Twilio call\") and listed by curl -s %s/fake/messages and %s/fake/calls\n", fakeTwilio, fakeTwilio)
	}
	fmt.Fprintf(&b, "  Credentials are kept in %s\n", credentials)
	return b.String()
}

// demoHome keeps the demo hub online as a real hub would: connected, with
// its heartbeat and every sensor's readings (firmware-sim's home). Without
// it the hub of the demo was whatever mosquitto_pub connected for a moment,
// and a minute after each command the health monitor rightly reported the
// hub offline (then its sensors silent): an alarm the demo raised by
// itself. It runs until ctx ends.
func demoHome(ctx context.Context, mqtt string, d demoHub, log zerolog.Logger) {
	fleet := firmwaresim.NewFleet(firmwaresim.Options{
		Transport: &firmwaresim.TCPTransport{Addr: mqtt},
		Clock:     firmwaresim.NewClock(time.Now(), 1, 0),
		Seed:      uint64(time.Now().UnixNano()),
		IDPrefix:  "demo-" + strconv.FormatInt(time.Now().Unix(), 36) + "-",
		Shards:    1, Dialers: 1,
		Logger: log.With().Str("component", "demo_hub").Logger(),
	})
	fleet.Start(fleet.Add(d.HubID, d.Secret, 0), time.Now())
	_ = fleet.Run(ctx)
}

// ensureDemoSensors gives the demo hub the simulated home's sensors: a
// data folder from an older demo had others, which the simulated home
// does not feed (they would be reported silent), so those are disabled.
func ensureDemoSensors(ctx context.Context, st *store.Store, hub devices.HubID) error {
	have, err := st.Registry().ListSensors(ctx, hub)
	if err != nil {
		return err
	}
	want := map[devices.SensorID]bool{}
	for _, s := range firmwaresim.Layout() {
		want[s.ID] = true
		if slices.ContainsFunc(have, func(h devices.Sensor) bool { return h.ID == s.ID }) {
			continue
		}
		s.Hub, s.InstalledAt = hub, time.Now()
		if _, err := st.Registry().CreateSensor(ctx, s); err != nil {
			return err
		}
	}
	for _, s := range have {
		if !want[s.ID] && !s.Disabled {
			if err := st.Registry().SetSensorDisabled(ctx, hub, s.ID, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func provisionDemo(ctx context.Context, st *store.Store) (demoHub, error) {
	res, err := st.Registry().CreateResident(ctx, devices.Resident{
		Name: "김순자", BirthDate: "1941-03-02", Phone: "+821012345678", Language: "ko",
		Address: devices.Address{Line1: "서울특별시 종로구 세종대로 175", Building: "행복아파트 101동", Floor: "3", Unit: "301",
			District: "종로구", Postcode: "03154", Lat: 37.5725, Lon: 126.9769},
		MedicalNotes: "고혈압, 당뇨 (demo)", Medications: []string{"amlodipine 5mg", "metformin 500mg"}, Allergies: []string{"penicillin"},
		Access:    devices.Access{KeyHolder: "관리사무소 02-123-4567", DoorCode: "1234*"},
		Guardians: []devices.Guardian{{Name: "박민수", Relation: "아들", Phone: "+821098765432", Language: "ko", Order: 1}},
		Consent:   devices.Consent{ShareMedicalWith119: true, NotifyGuardians: true, VitalSignsMonitoring: true},
	})
	if err != nil {
		return demoHub{}, err
	}
	secret := devices.NewSecret()
	hub, err := st.Registry().CreateHub(ctx, devices.Hub{ResidentID: res.ID, SecretHash: devices.HashHubSecret(secret),
		Model: "demo", InstalledAt: time.Now()})
	if err != nil {
		return demoHub{}, err
	}
	// The sensors are the simulated home's (demoHome feeds them):
	// ensureDemoSensors adds them.
	return demoHub{ResidentID: res.ID, HubID: hub.ID, Secret: secret}, nil
}
