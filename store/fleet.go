package store

// The fleet view (console.FleetReader, docs/operations.md "Fleet"): hubs
// joined with their resident's district and their saved health. Filters,
// paging and counting run in SQL, so that a page or the counts of 300,000
// hubs never bring 300,000 rows into Go (TestFleetQueryPlan).
//
// The query runs on the state back end: hub_health lives there (state.db
// on the embedded store, whose connections attach dolbom.db as "core", so
// hubs and residents resolve there by name: SQLite looks a name up in main,
// then in the attached files); on PostgreSQL all three are one database.
// It only reads, so it takes no write gate.

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

const fleetFrom = ` FROM hubs h LEFT JOIN residents r ON r.id = h.resident_id LEFT JOIN hub_health hh ON hh.hub_id = h.id`

// fleetSQL holds the expressions that read the health JSON, per back end:
// SQLite's ->> gives JSON true as 1 and has unixepoch; PostgreSQL's gives
// text, cast.
type fleetSQL struct {
	online, lastSeenS, battery, firmware string
}

func (s *database) fleetSQL() fleetSQL {
	f := fleetSQL{
		battery:  `CAST(hh.data->>'battery' AS DOUBLE PRECISION)`,
		firmware: firmwareSQL,
	}
	if s.isPostgres() {
		f.online = `coalesce((hh.data->>'online')::boolean, false)`
		f.lastSeenS = `coalesce(extract(epoch from (hh.data->>'last_seen')::timestamptz), 0)`
	} else {
		f.online = `coalesce(hh.data->>'online' = 1, 0)`
		f.lastSeenS = `coalesce(unixepoch(hh.data->>'last_seen'), 0)`
	}
	return f
}

// firmwareSQL is a hub's firmware (hubs h, hub_health hh): the version it
// reported (hub_health's firmware with its firmware_reported time) beats
// the registry's declared hubs.firmware, an admin's edit included, which
// holds until the hub reports. A health record saved before reports were
// timed holds either; it counts only when the registry says nothing (the
// hub's next status times it). reportedFirmware is the same rule in Go.
const firmwareSQL = `coalesce(CASE WHEN hh.data->>'firmware_reported' IS NOT NULL THEN nullif(hh.data->>'firmware', '') END,
	nullif(h.firmware, ''), hh.data->>'firmware', '')`

// reportedFirmware is firmwareSQL for a hub registered with registered
// whose health record is h.
func reportedFirmware(registered string, h devices.HubHealthRecord) string {
	switch {
	case !h.FirmwareReported.IsZero() && h.Firmware != "":
		return h.Firmware
	case registered != "":
		return registered
	}
	return h.Firmware
}

// fleetWhere builds the WHERE of a fleet query (disabled hubs are never
// part of the fleet: a disabled hub is one taken out of service).
func (s *database) fleetWhere(q console.FleetQuery) (where, error) {
	f := s.fleetSQL()
	w := where{}
	w.raw("NOT h.disabled")
	if len(q.Scope) > 0 {
		var conds []string
		for _, code := range q.Scope {
			c, err := districtRange(&w, code)
			if err != nil {
				return w, err
			}
			conds = append(conds, c)
		}
		w.raw("(" + strings.Join(conds, " OR ") + ")")
	}
	if q.Region != "" {
		c, err := districtRange(&w, q.Region)
		if err != nil {
			return w, err
		}
		w.raw(c)
	}
	if q.Model != "" {
		w.add("h.model = ?", q.Model)
	}
	if q.Firmware != "" {
		w.add(f.firmware+" = ?", q.Firmware)
	}
	if q.BatteryBelow > 0 {
		// -1 is "unknown", never low.
		w.add(f.battery+" >= 0 AND "+f.battery+" < ?", q.BatteryBelow)
	}
	if q.OfflineFor > 0 {
		w.add("NOT "+f.online+" AND "+f.lastSeenS+" < ?", q.Now.Add(-q.OfflineFor).Unix())
	}
	if q.EndOfLifeSet {
		w.add("h.end_of_life_us < ?", toUS(q.Now.Add(q.EndOfLifeWithin)))
	}
	return w, nil
}

// districtRange adds the condition "the resident's district lies in
// region code" as a range of r.district_code, which the residents_district
// index serves on both back ends (a LIKE prefix is served by neither:
// SQLite's LIKE is case-insensitive, PostgreSQL's collation not "C"). Codes
// are digits, so the range ends at the code plus one: "26" -> ["26", "27").
func districtRange(w *where, code string) (string, error) {
	n, err := strconv.ParseUint(code, 10, 64)
	if err != nil || (len(code) != 2 && len(code) != 5) {
		return "", invalid("region %q: want a 2-digit 시도 or 5-digit 시군구 code", code)
	}
	w.args = append(w.args, code)
	cond := fmt.Sprintf("(r.district_code >= $%d", len(w.args))
	if next := strconv.FormatUint(n+1, 10); len(next) == len(code) {
		w.args = append(w.args, next)
		cond += fmt.Sprintf(" AND r.district_code < $%d", len(w.args))
	} else {
		// "99" has no two-digit successor: every code from it on.
		cond += fmt.Sprintf(" AND r.district_code LIKE $%d", len(w.args)+1)
		w.args = append(w.args, code+"%")
	}
	return cond + ")", nil
}

// fleetLimit bounds a fleet page like every other list (1-1001: the API
// asks one more than its page).
func fleetLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1001:
		return 1001
	}
	return n
}

// fleetListSQL is the query of a fleet page.
func (s *database) fleetListSQL(q console.FleetQuery) (string, []any, error) {
	w, err := s.fleetWhere(q)
	if err != nil {
		return "", nil, err
	}
	w.add("h.id > ?", q.After)
	return `SELECT h.id, h.resident_id, coalesce(r.district_code, ''), h.model, h.firmware,
		h.installed_us, h.end_of_life_us, hh.hub_id IS NOT NULL, coalesce(hh.data, '{}')` + fleetFrom + w.sql() +
		fmt.Sprintf(` ORDER BY h.id LIMIT %d`, fleetLimit(q.Limit)), w.args, nil
}

// FleetHubs returns a page of the fleet in hub id order (console.FleetReader).
func (s State) FleetHubs(ctx context.Context, q console.FleetQuery) ([]console.FleetHub, error) {
	query, args, err := s.fleetListSQL(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.query(ctx, query, args...)
	type fleetRow struct {
		hub    console.FleetHub
		health devices.HubHealthRecord
	}
	page, err := collect(rows, err, "fleet", func(sc row) (fleetRow, error) {
		var fr fleetRow
		var id, resident, data string
		var installed, eol int64
		var known bool
		if err := sc.Scan(&id, &resident, &fr.hub.District, &fr.hub.Model, &fr.hub.Firmware, &installed, &eol, &known, &data); err != nil {
			return fr, err
		}
		fr.hub.Hub, fr.hub.Resident = devices.HubID(id), devices.ResidentID(resident)
		fr.hub.Installed, fr.hub.EndOfLife = fromUS(installed), fromUS(eol)
		fr.hub.Battery = -1
		if !known {
			return fr, nil
		}
		h, err := decodeHealth(data)
		if err != nil {
			return fr, fmt.Errorf("health of hub %s: %w", id, err)
		}
		fr.health = h
		fr.hub.Online, fr.hub.LastSeen, fr.hub.PowerKnown, fr.hub.OnMains, fr.hub.Battery = h.Online, h.LastSeen, h.PowerKnown, h.OnMains, h.Battery
		fr.hub.Firmware = reportedFirmware(fr.hub.Firmware, h)
		fr.hub.FirmwareReported = h.FirmwareReported
		return fr, nil
	})
	if err != nil || len(page) == 0 {
		return nil, err
	}
	ids := make([]devices.HubID, len(page))
	index := make(map[devices.HubID]int, len(page))
	for i := range page {
		ids[i], index[page[i].hub.Hub] = page[i].hub.Hub, i
	}
	err = s.byHubs(ids, func(inList string, args []any) error {
		srows, err := s.be.query(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE NOT disabled AND hub_id IN `+inList+` ORDER BY hub_id, id`, args...)
		sensors, err := collect(srows, err, "fleet sensors", scanSensor)
		for _, sn := range sensors {
			fr := &page[index[sn.Hub]]
			fs := console.FleetSensor{Sensor: sn.ID, Kind: sn.Kind, Location: sn.Location, Installed: sn.InstalledAt, Battery: -1}
			for _, sh := range fr.health.Sensors {
				if sh.Sensor == sn.ID {
					fs.Battery, fs.LastSeen = sh.Battery, sh.LastSeen
				}
			}
			fr.hub.Sensors = append(fr.hub.Sensors, fs)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: fleet sensors: %w", err)
	}
	out := make([]console.FleetHub, len(page))
	for i := range page {
		out[i] = page[i].hub
	}
	return out, nil
}

// FleetGroups counts the matching hubs per 시군구, model and firmware in one
// aggregate query (console.FleetReader): the rows are bounded by districts
// times models times firmwares, never by hubs.
func (s State) FleetGroups(ctx context.Context, q console.FleetQuery) ([]console.FleetGroup, error) {
	query, args, err := s.fleetGroupsSQL(q)
	if err != nil {
		return nil, err
	}
	rows, err := s.st.query(ctx, query, args...)
	return collect(rows, err, "fleet counts", func(sc row) (console.FleetGroup, error) {
		var g console.FleetGroup
		var hubs, online, lowN, past int64
		err := sc.Scan(&g.District, &g.Model, &g.Firmware, &hubs, &online, &lowN, &past)
		g.Hubs, g.Online, g.LowBattery, g.PastEndOfLife = int(hubs), int(online), int(lowN), int(past)
		return g, err
	})
}

// fleetGroupsSQL is the aggregate query of FleetGroups.
func (s *database) fleetGroupsSQL(q console.FleetQuery) (string, []any, error) {
	w, err := s.fleetWhere(q)
	if err != nil {
		return "", nil, err
	}
	f := s.fleetSQL()
	w.args = append(w.args, float64(console.FleetLowBattery), toUS(q.Now))
	low, now := len(w.args)-1, len(w.args)
	return fmt.Sprintf(`SELECT coalesce(r.district_code, ''), h.model, %[1]s, count(*),
		sum(CASE WHEN %[2]s THEN 1 ELSE 0 END),
		sum(CASE WHEN %[3]s >= 0 AND %[3]s < $%[4]d THEN 1 ELSE 0 END),
		sum(CASE WHEN h.end_of_life_us < $%[5]d THEN 1 ELSE 0 END)`, f.firmware, f.online, f.battery, low, now) +
		fleetFrom + w.sql() + ` GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, w.args, nil
}
