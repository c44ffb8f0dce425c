package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// TestMaxHubsRefusesAtConnect runs dolbomd --max-hubs 2 and three hubs
// over TCP: two are online, the third is refused "server busy" at every
// attempt and backs off; the start log says the capacity, and the refusals
// are logged.
func TestMaxHubsRefusesAtConnect(t *testing.T) {
	g := startGateway(t, "", "--max-hubs", "2")
	if lines := grepFile(g.logPath, `"max_hubs":2,"how":"configured"`, 1); len(lines) == 0 {
		t.Errorf("no start log line with the capacity in %s", g.logPath)
	}
	var ids []devices.HubID
	var secrets []string
	for i := range 3 {
		var resident struct {
			ID string `json:"id"`
		}
		g.ctl(t, &resident, "resident", "add", "--name", fmt.Sprintf("김순자 %d", i), "--phone", "010-1234-5678",
			"--address", "서울특별시 종로구 세종대로 175", "--floor", "3", "--unit", fmt.Sprint(301+i))
		var hub struct {
			HubID  string `json:"hub_id"`
			Secret string `json:"secret"`
		}
		g.ctl(t, &hub, "hub", "add", "--resident", resident.ID)
		ids, secrets = append(ids, devices.HubID(hub.HubID)), append(secrets, hub.Secret)
	}
	f := firmwaresim.NewFleet(firmwaresim.Options{
		Transport: &firmwaresim.TCPTransport{Addr: fmt.Sprintf("127.0.0.1:%d", g.mqttPort), Sources: firmwaresim.LoopbackSources(1)},
		Seed:      1, NoReadings: true, NoEvents: true, MaxBackoff: 2 * time.Second, Logger: zerolog.Nop(),
	})
	now := time.Now()
	for i := range ids {
		f.Start(f.Add(ids[i], secrets[i], uint32(i)), now)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.Run(ctx) })
	defer func() { stop(); wg.Wait() }()
	waitFor(t, "two hubs online and one refused twice", 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		st := f.Stats()
		return st.Online == 2 && st.RefusedHubs == 1 && st.RefusedConnects >= 2, st.Dials
	}, func() string { return f.Stats().String() })
	if st := f.Stats(); st.DeniedConnects != 0 || st.Disconnects != 0 {
		t.Errorf("denied %d, disconnects %d: want none (only the third hub is refused, as busy)", st.DeniedConnects, st.Disconnects)
	}
	waitFor(t, "the refusals logged", 2*time.Minute, 10*time.Minute, func() (bool, int64) {
		return len(grepFile(g.logPath, "new hubs refused", 1)) > 0, fileSize(g.logPath)
	}, nil)
}
