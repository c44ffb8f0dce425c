package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
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

// demo provisions one demo home on an empty registry and prints how to use
// the gateway with it: the admin token, dolbomctl, and mosquitto_pub as the
// hub. It is what `make run` shows a new user.
func demo(ctx context.Context, o Options, httpAddr, token string, st *store.Store, log zerolog.Logger) error {
	path := filepath.Join(o.DataDir, demoFile)
	var d demoHub
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &d); err != nil {
			return fmt.Errorf("demo: %s: %w", path, err)
		}
	} else if errors.Is(err, os.ErrNotExist) {
		existing, err := st.ListResidents(ctx, store.ListQuery{Limit: 1, IncludeDisabled: true})
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

	mqttPort := "1883"
	if _, p, err := net.SplitHostPort(o.MQTTAddr); err == nil {
		mqttPort = p
	}
	_, httpPort, _ := net.SplitHostPort(httpAddr)
	server := "http://127.0.0.1:" + httpPort
	now := time.Now().UnixMilli()
	pub := fmt.Sprintf("mosquitto_pub -h 127.0.0.1 -p %s -i %s -u %s -P '%s' -q 1", mqttPort, d.HubID, d.HubID, d.Secret)
	var b strings.Builder
	fmt.Fprintf(&b, "\n  Dolbom gateway is running (demo home %s, hub %s)\n\n", d.ResidentID, d.HubID)
	fmt.Fprintf(&b, "  Console:    %s/login  (user admin, password in %s)\n", server, console.BootstrapPasswordFile(o.DataDir))
	fmt.Fprintf(&b, "  Ready:      curl -s %s/readyz\n", server)
	fmt.Fprintf(&b, "  Metrics:    curl -s %s/metrics | grep ^dolbom_\n", server)
	fmt.Fprintf(&b, "  Admin API:  export DOLBOM_SERVER=%s DOLBOM_ADMIN_TOKEN=%s\n", server, token)
	fmt.Fprintf(&b, "              ./bin/dolbomctl resident list; ./bin/dolbomctl hub health %s\n", d.HubID)
	fmt.Fprintf(&b, "  Be the hub: %s -t dolbom/v1/%s/heartbeat -m '{\"v\":1,\"ts\":%d}'\n", pub, d.HubID, now)
	// A fresh event id at every start: an id the gateway has stored is
	// acknowledged and not acted on again (protocol section 7.2).
	fmt.Fprintf(&b, "              %s -t dolbom/v1/%s/events -m '{\"v\":1,\"id\":\"sos-%d\",\"ts\":%d,\"kind\":\"sos\",\"sensor\":\"pendant-1\"}'\n", pub, d.HubID, now, now)
	fmt.Fprintf(&b, "              ./bin/dolbomctl hub events %s\n", d.HubID)
	fmt.Fprintf(&b, "  Credentials are kept in %s\n", path)
	fmt.Fprintln(os.Stderr, b.String())
	return nil
}

func provisionDemo(ctx context.Context, st *store.Store) (demoHub, error) {
	res, err := st.CreateResident(ctx, devices.Resident{
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
	hub, err := st.CreateHub(ctx, devices.Hub{ResidentID: res.ID, SecretHash: devices.HashHubSecret(secret),
		Model: "demo", InstalledAt: time.Now()})
	if err != nil {
		return demoHub{}, err
	}
	sensors := []devices.Sensor{
		{ID: "kitchen-smoke", Kind: devices.SensorSmoke, Location: devices.LocKitchen, ReportSeconds: 300},
		{ID: "bedroom-radar", Kind: devices.SensorRadar, Location: devices.LocBedroom, ReportSeconds: 60},
		{ID: "living-pir", Kind: devices.SensorMotion, Location: devices.LocLivingRoom, ReportSeconds: 300},
		{ID: "entrance-door", Kind: devices.SensorDoor, Location: devices.LocEntrance, ReportSeconds: 3600},
		{ID: "pendant-1", Kind: devices.SensorWearable, Location: devices.LocWorn, ReportSeconds: 600},
	}
	for _, s := range sensors {
		s.Hub, s.InstalledAt = hub.ID, time.Now()
		if _, err := st.CreateSensor(ctx, s); err != nil {
			return demoHub{}, err
		}
	}
	return demoHub{ResidentID: res.ID, HubID: hub.ID, Secret: secret}, nil
}
