package api_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// TestAdminAPIFleet: the admin token's fleet is national, paged with a
// cursor, counted per 시도 and 시군구, exported as CSV; bad filters are a
// 400 naming the parameter.
func TestAdminAPIFleet(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	now := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for i, district := range []string{"11110", "26350", "26350"} {
		r, err := st.Registry().CreateResident(ctx, devices.Resident{Name: "주민", DistrictCode: district})
		if err != nil {
			t.Fatal(err)
		}
		hub := devices.HubID("hub-" + string(rune('a'+i)))
		if _, err := st.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: r.ID, Model: "DG-100", InstalledAt: now.AddDate(-1, 0, 0)}); err != nil {
			t.Fatal(err)
		}
		if err := st.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{Hub: hub, Online: i != 2, LastSeen: now, Battery: float64(10 + 40*i), Firmware: "1.0"}}}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(api.NewAdminAPI(api.AdminConfig{Token: "tok", Fleet: api.NewFleet(st.State(), func() time.Time { return now }, nil)}, nil, nil, nil, zerolog.Nop()))
	t.Cleanup(srv.Close)
	get := func(path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := get("/api/v1/fleet", ""); status != http.StatusUnauthorized {
		t.Errorf("no token: %d", status)
	}
	type fleetPage struct {
		Hubs []struct {
			HubID string `json:"hub_id"`
		} `json:"items"`
		Next string `json:"next_after"`
	}
	var ids []string
	for after, n := "", 0; n < 5; n++ {
		var page fleetPage
		status, body := get("/api/v1/fleet?limit=2&after="+after, "tok")
		if status != http.StatusOK || json.Unmarshal([]byte(body), &page) != nil {
			t.Fatalf("page: %d %s", status, body)
		}
		for _, h := range page.Hubs {
			ids = append(ids, h.HubID)
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if strings.Join(ids, ",") != "hub-a,hub-b,hub-c" {
		t.Errorf("pages = %v", ids)
	}
	status, body := get("/api/v1/fleet/counts?region=부산", "tok")
	var counts api.FleetCounts
	if status != http.StatusOK || json.Unmarshal([]byte(body), &counts) != nil {
		t.Fatalf("counts: %d %s", status, body)
	}
	if counts.Total.Hubs != 2 || counts.Total.Online != 1 || len(counts.BySido) != 1 || counts.BySido[0].Name != "부산광역시" ||
		len(counts.BySigungu) != 1 || counts.BySigungu[0].Key != "26350" {
		t.Errorf("Busan counts = %+v", counts)
	}
	if status, body := get("/api/v1/fleet.csv?battery_below=20", "tok"); status != http.StatusOK || !strings.HasPrefix(body, "\uFEFFhub_id,") || strings.Count(body, "\n") != 2 || !strings.Contains(body, "hub-a,") {
		t.Errorf("CSV battery_below=20: %d %q", status, body)
	}
	for _, bad := range []string{"limit=0", "limit=1001", "battery_below=0", "offline_days=x", "eol_within_days=99999", "region=Atlantis", "batery_below=20"} {
		param, _, _ := strings.Cut(bad, "=")
		status, body := get("/api/v1/fleet?"+bad, "tok")
		if status != http.StatusBadRequest || !strings.Contains(body, `"field": "`+param+`"`) {
			t.Errorf("%s: %d %s; want 400 naming %s", bad, status, body, param)
		}
	}
}
