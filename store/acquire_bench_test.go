package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// BenchmarkAcquireLoad: what a cluster node reads for one loader batch of
// 1,000 acquired homes on PostgreSQL (docs/performance.md, "Cluster"), out
// of 10,000 saved homes with 13 sensors each and 20 journaled events each:
// the engine's snapshots (1 KB), the health records, the registry and the
// journal after each hub's position (its last 2 events). part=all is the
// engine's loader (homes, fleet, replay) and the monitor's (health, fleet,
// replay) one after the other, as the two loaders run.
//
//	go test ./store -run XXX -bench AcquireLoad -benchtime 20x
func BenchmarkAcquireLoad(b *testing.B) {
	const homes, batch, sensors, events = 10000, 1000, 13, 20
	cfg := storetest.Postgres(b)
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	now := time.Now().UnixMicro()
	for _, q := range []string{
		`INSERT INTO hubs (id, installed_us, end_of_life_us, created_us, updated_us)
			SELECT format('hub-%s', lpad(i::text, 6, '0')), $1::bigint, $1::bigint + 157680000000000, $1, $1 FROM generate_series(0, $2 - 1) i`,
		`INSERT INTO sensors (hub_id, id, kind, location, installed_us, report_seconds)
			SELECT format('hub-%s', lpad(i::text, 6, '0')), format('sensor-%s', k), 'motion', 'kitchen', $1::bigint, 60
			FROM generate_series(0, $2 - 1) i, generate_series(1, 13) k`,
		`INSERT INTO events (hub_id, event_id, kind, ts_us, received_us)
			SELECT format('hub-%s', lpad(i::text, 6, '0')), format('e-%s', k), 'motion', $1::bigint + k, $1::bigint + k
			FROM generate_series(1, 20) k, generate_series(0, $2 - 1) i`,
	} {
		if _, err := conn.Exec(ctx, q, now, homes); err != nil {
			b.Fatal(err)
		}
	}
	ids := make([]devices.HubID, homes)
	snaps := make([]detectors.HomeSnapshot, homes)
	health := make([]devices.HubHealthRecord, homes)
	for i := range ids {
		ids[i] = devices.HubID(fmt.Sprintf("hub-%06d", i))
		snaps[i] = detectors.HomeSnapshot{Hub: ids[i], Data: make([]byte, 1024)}
		health[i] = devices.HubHealthRecord{HubHealth: devices.HubHealth{Hub: ids[i], Online: true, LastSeen: time.Now(), Battery: 80}}
		for k := 1; k <= sensors; k++ {
			health[i].Sensors = append(health[i].Sensors, devices.SensorHealth{Sensor: devices.SensorID(fmt.Sprintf("sensor-%d", k)), LastSeen: time.Now(), Battery: 90})
		}
	}
	if err := s.State().SaveHomes(ctx, snaps); err != nil {
		b.Fatal(err)
	}
	if err := s.State().SaveHubHealth(ctx, health); err != nil {
		b.Fatal(err)
	}
	after := map[devices.HubID]int64{}
	rows, err := conn.Query(ctx, `SELECT hub_id, (array_agg(seq ORDER BY seq DESC))[3] FROM events GROUP BY hub_id`)
	if err != nil {
		b.Fatal(err)
	}
	for rows.Next() {
		var hub string
		var seq int64
		if err := rows.Scan(&hub, &seq); err != nil {
			b.Fatal(err)
		}
		after[devices.HubID(hub)] = seq
	}
	if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
	round := 0
	next := func() ([]devices.HubID, map[devices.HubID]int64) {
		start := (round * batch) % homes
		round++
		hubs := ids[start : start+batch]
		pos := make(map[devices.HubID]int64, batch)
		for _, h := range hubs {
			pos[h] = after[h]
		}
		return hubs, pos
	}
	fleet := func(hubs []devices.HubID) {
		n := 0
		if err := s.Registry().FleetOf(ctx, hubs, func(devices.Hub, []devices.Sensor) error { n++; return nil }); err != nil || n != batch {
			b.Fatalf("FleetOf: %d hubs, %v", n, err)
		}
	}
	replay := func(pos map[devices.HubID]int64) {
		n := 0
		if err := s.Journal().ReplayHubs(ctx, pos, func(*devices.Event) error { n++; return nil }); err != nil || n != 2*batch {
			b.Fatalf("ReplayHubs: %d events, %v", n, err)
		}
	}
	homesOf := func(hubs []devices.HubID) {
		if got, err := s.State().LoadHomesOf(ctx, hubs); err != nil || len(got) != batch {
			b.Fatalf("LoadHomesOf: %d, %v", len(got), err)
		}
	}
	healthOf := func(hubs []devices.HubID) {
		if got, err := s.State().LoadHubHealthOf(ctx, hubs); err != nil || len(got) != batch {
			b.Fatalf("LoadHubHealthOf: %d, %v", len(got), err)
		}
	}
	for _, c := range []struct {
		part string
		run  func(hubs []devices.HubID, pos map[devices.HubID]int64)
	}{
		{"homes", func(hubs []devices.HubID, _ map[devices.HubID]int64) { homesOf(hubs) }},
		{"health", func(hubs []devices.HubID, _ map[devices.HubID]int64) { healthOf(hubs) }},
		{"fleet", func(hubs []devices.HubID, _ map[devices.HubID]int64) { fleet(hubs) }},
		{"replay", func(_ []devices.HubID, pos map[devices.HubID]int64) { replay(pos) }},
		{"all", func(hubs []devices.HubID, pos map[devices.HubID]int64) {
			homesOf(hubs)
			fleet(hubs)
			replay(pos)
			healthOf(hubs)
			fleet(hubs)
			replay(pos)
		}},
	} {
		b.Run(fmt.Sprintf("hubs=%d/part=%s", batch, c.part), func(b *testing.B) {
			for b.Loop() {
				hubs, pos := next()
				c.run(hubs, pos)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/batch")
		})
	}
}
