package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// fleetSeed registers a Seoul (종로구) and a Busan (해운대구) resident with
// one hub each and the hubs' saved health; the Seoul hub's model needs CSV
// quoting and its firmware would be a spreadsheet formula.
func fleetSeed(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	reg := e.st.Registry()
	for _, h := range []struct {
		district, line1 string
		hub             devices.Hub
		health          devices.HubHealth
	}{
		{"11110", "서울특별시 종로구 세종대로 209", devices.Hub{ID: "hub-seoul-1", Model: `DG "100", 서울형`, Firmware: "1.0"},
			devices.HubHealth{Hub: "hub-seoul-1", Online: true, LastSeen: e.now, PowerKnown: true, OnMains: true, Battery: 90, Firmware: "=1+1", FirmwareReported: e.now}},
		{"26350", "부산광역시 해운대구 중동 1", devices.Hub{ID: "hub-busan-1", Model: "DG-200", Firmware: "2.0"},
			devices.HubHealth{Hub: "hub-busan-1", LastSeen: e.now.AddDate(0, 0, -3), PowerKnown: true, Battery: 12}},
	} {
		r, err := reg.CreateResident(ctx, devices.Resident{Name: "주민", Address: devices.Address{Line1: h.line1}, DistrictCode: h.district})
		if err != nil {
			t.Fatal(err)
		}
		h.hub.ResidentID = r.ID
		if _, err := reg.CreateHub(ctx, h.hub); err != nil {
			t.Fatal(err)
		}
		if err := e.st.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: h.health}}); err != nil {
			t.Fatal(err)
		}
	}
	a := console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}, PasswordHash: console.HashPassword(password)}
	if err := e.st.Accounts().CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
}

// fleetCSV reads a fleet export: a UTF-8 byte order mark, then CSV.
func fleetCSV(t *testing.T, body string) [][]string {
	t.Helper()
	rest, ok := bytes.CutPrefix([]byte(body), []byte("\uFEFF"))
	if !ok {
		t.Fatalf("the CSV does not start with a UTF-8 byte order mark: %q", body[:min(len(body), 20)])
	}
	rows, err := csv.NewReader(bytes.NewReader(rest)).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v\n%s", err, rest)
	}
	return rows
}

// TestFleetScopedToRegion: a national admin's fleet holds both hubs (the
// CSV quoted, Korean names intact, formulas defused); a Busan admin's page,
// JSON, counts and CSV hold Busan's hub only, even when asking for Seoul.
func TestFleetScopedToRegion(t *testing.T) {
	e := newEnv(t)
	fleetSeed(t, e)

	root := e.client()
	root.login("root", password)
	status, body := root.get("/console/api/fleet")
	if status != http.StatusOK || !strings.Contains(body, "hub-seoul-1") || !strings.Contains(body, "hub-busan-1") {
		t.Fatalf("national fleet: %d %s", status, body)
	}
	status, body = root.get("/console/api/fleet.csv")
	rows := fleetCSV(t, body)
	if status != http.StatusOK || len(rows) != 3 || rows[0][0] != "hub_id" {
		t.Fatalf("national CSV: %d %q", status, rows)
	}
	seoul := rows[2] // hub-busan-1 sorts first
	if seoul[0] != "hub-seoul-1" || seoul[2] != "서울특별시" || seoul[3] != "서울특별시 종로구" || seoul[5] != `DG "100", 서울형` || seoul[6] != "'=1+1" || seoul[7] != "mains" || seoul[8] != "90" {
		t.Errorf("the Seoul row = %q", seoul)
	}
	// The CSV's last column is when the hub reported its firmware, empty
	// for hub-busan-1, whose firmware is the registry's declared one.
	if last := len(rows[0]) - 1; rows[0][last] != "firmware_reported" || seoul[last] == "" || rows[1][last] != "" {
		t.Errorf("firmware_reported column: header %q, Seoul %q, Busan %q", rows[0][last], seoul[last], rows[1][last])
	}

	busan := e.client()
	busan.login("a-busan", password)
	for _, path := range []string{"/console/api/fleet", "/console/api/fleet?region=11", "/console/api/fleet?region=서울", "/console/api/fleet/counts",
		"/console/api/fleet.csv", "/console/api/fleet.csv?region=11110", "/admin/fleet", "/admin/fleet?region=11"} {
		status, body := busan.get(path)
		if status != http.StatusOK {
			t.Errorf("Busan admin GET %s: %d %s", path, status, body)
		}
		if strings.Contains(body, "hub-seoul") || strings.Contains(body, "11110") || strings.Contains(body, "종로구") {
			t.Errorf("Busan admin GET %s shows Seoul's fleet:\n%s", path, body)
		}
	}
	_, body = busan.get("/console/api/fleet")
	var page struct {
		Hubs []console.FleetHub `json:"items"`
		Next string             `json:"next_after"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || len(page.Hubs) != 1 || page.Hubs[0].Hub != "hub-busan-1" || page.Hubs[0].Battery != 12 {
		t.Errorf("Busan fleet = %+v, %v", page, err)
	}
	if rows := fleetCSV(t, busanGet(t, busan, "/console/api/fleet.csv")); len(rows) != 2 || rows[1][0] != "hub-busan-1" {
		t.Errorf("Busan CSV = %q", rows)
	}
	if _, page := busan.get("/admin/fleet"); !strings.Contains(page, "hub-busan-1") || !strings.Contains(page, "기기 현황") || !strings.Contains(page, `href="/console/api/fleet.csv"`) {
		t.Errorf("the Busan admin's fleet page lacks their hub, its title or the CSV link")
	}
	if _, page := busan.get("/admin/fleet?battery_below=20&offline_days=2"); !strings.Contains(page, "hub-busan-1") || !strings.Contains(page, "fleet.csv?battery_below=20&amp;offline_days=2") {
		t.Errorf("the filtered page lacks the hub or a CSV link with the filters")
	}

	// Bad filters: a 400 naming the parameter, counted.
	status, body = root.get("/console/api/fleet?battery_below=lots")
	if status != http.StatusBadRequest || !strings.Contains(body, `"field": "battery_below"`) {
		t.Errorf("battery_below=lots: %d %s", status, body)
	}
	status, body = root.get("/console/api/fleet?region=Atlantis")
	if status != http.StatusBadRequest || !strings.Contains(body, "부산광역시 (26)") {
		t.Errorf("region=Atlantis: %d %s; want 400 with the choices", status, body)
	}
	if status, page := root.get("/admin/fleet?offline_days=-1"); status != http.StatusBadRequest || !strings.Contains(page, `id="fleet-problem"`) {
		t.Errorf("offline_days=-1 on the page: %d", status)
	}
	if n := e.counter("dolbom_console_fleet_bad_filter_total", "param", "battery_below"); n != 1 {
		t.Errorf("fleet_bad_filter_total{param=battery_below} = %v, want 1", n)
	}
	// Other roles see no fleet.
	if status, _ := e.signedIn("d-park").get("/console/api/fleet"); status != http.StatusNotFound {
		t.Errorf("a dispatcher GET /console/api/fleet: %d, want 404 (as every admin route)", status)
	}
}

func busanGet(t *testing.T, c *client, path string) string {
	t.Helper()
	status, body := c.get(path)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d", path, status)
	}
	return body
}
