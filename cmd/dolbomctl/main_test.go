package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/devices"
)

const testToken = "ctl-test-token-0123456789"

type gateway struct {
	srv  *httptest.Server
	reg  *consoletest.Registry
	hubs *consoletest.Hubs
	env  map[string]string
}

// newGateway serves the real admin API, mounted as cmd/dolbomd mounts it.
func newGateway(t *testing.T) *gateway {
	t.Helper()
	g := &gateway{reg: consoletest.NewRegistry(), hubs: &consoletest.Hubs{ConnectedHubs: 3}}
	g.reg.AddSocialWorker("sw-1") // the social worker the tests assign
	mux := http.NewServeMux()
	mux.Handle(api.APIPrefix, api.NewAdminAPI(api.AdminConfig{Token: testToken}, g.reg, consoletest.Health{}, g.hubs, zerolog.Nop()))
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	g.env = map[string]string{"DOLBOM_SERVER": g.srv.URL, "DOLBOM_ADMIN_TOKEN": testToken, "DOLBOM_DATA_DIR": t.TempDir()}
	return g
}

type result struct {
	code           int
	stdout, stderr string
}

func (g *gateway) ctl(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, func(k string) string { return g.env[k] }, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// ok runs dolbomctl, requires success and decodes its output into a map.
func (g *gateway) ok(t *testing.T, args ...string) map[string]any {
	t.Helper()
	r := g.ctl(t, args...)
	if r.code != 0 {
		t.Fatalf("dolbomctl %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("dolbomctl %s: output is not a JSON object: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return m
}

func items(t *testing.T, m map[string]any) []any {
	t.Helper()
	list, ok := m["items"].([]any)
	if !ok {
		t.Fatalf("no items in %v", m)
	}
	return list
}

func TestResidentCommands(t *testing.T) {
	g := newGateway(t)
	res := g.ok(t, "resident", "add", "--name", "김영희", "--phone", "010-1234-5678", "--address", "서울 종로구 세종대로 175",
		"--floor", "3", "--unit", "301", "--lat", "37.57", "--lon", "126.97", "--birth-date", "1941-03-05",
		"--guardian", "이철수:010-9876-5432:son", "--guardian", "Jane Lee:+14155550100:daughter:en",
		"--medication", "amlodipine", "--medication", "metformin", "--door-code", "1234", "--consent-notify-guardians")
	id, _ := res["id"].(string)
	if id == "" || res["phone"] != "+821012345678" {
		t.Fatalf("resident add printed %v", res)
	}
	stored, err := g.reg.GetResident(t.Context(), devices.ResidentID(id))
	if err != nil || len(stored.Guardians) != 2 || stored.Guardians[1].Language != "en" || stored.Guardians[0].Relation != "son" ||
		stored.Address.Lat != 37.57 || len(stored.Medications) != 2 || !stored.Consent.NotifyGuardians || stored.Access.DoorCode != "1234" {
		t.Fatalf("stored %+v, %v", stored, err)
	}

	got := g.ok(t, "resident", "get", id)
	if got["access"].(map[string]any)["door_code"] != "****" {
		t.Errorf("get shows the door code: %v", got["access"])
	}
	got = g.ok(t, "resident", "get", id, "--reveal-access")
	if got["access"].(map[string]any)["door_code"] != "1234" {
		t.Errorf("get --reveal-access: %v", got["access"])
	}

	upd := g.ok(t, "resident", "update", id, "--unit", "302", "--social-worker", "sw-1")
	if upd["address"].(map[string]any)["unit"] != "302" || upd["address"].(map[string]any)["floor"] != "3" || upd["social_worker_id"] != "sw-1" {
		t.Errorf("update printed %v", upd)
	}

	g.ok(t, "resident", "add", "--id", "r-2", "--name", "박민수")
	if n := len(items(t, g.ok(t, "resident", "list"))); n != 2 {
		t.Errorf("list: %d residents", n)
	}
	if list := items(t, g.ok(t, "resident", "list", "--social-worker", "sw-1")); len(list) != 1 {
		t.Errorf("list --social-worker: %v", list)
	}
	if list := items(t, g.ok(t, "resident", "list", "--limit", "1", "--all")); len(list) != 2 {
		t.Errorf("list --limit 1 --all: %d residents", len(list))
	}
	if d := g.ok(t, "resident", "disable", "r-2"); d["disabled"] != true {
		t.Errorf("disable printed %v", d)
	}
	if n := len(items(t, g.ok(t, "resident", "list", "--include-disabled"))); n != 2 {
		t.Errorf("list --include-disabled: %d", n)
	}
	if d := g.ok(t, "resident", "enable", "r-2"); d["disabled"] != nil {
		t.Errorf("enable printed %v", d)
	}
}

func TestHubAndSensorCommands(t *testing.T) {
	g := newGateway(t)
	g.ok(t, "resident", "add", "--id", "r-1", "--name", "김영희")

	hub := g.ok(t, "hub", "add", "--resident", "r-1", "--id", "hub-0001", "--model", "DB-100", "--installed-at", "2025-03-01")
	secret, _ := hub["secret"].(string)
	if hub["hub_id"] != "hub-0001" || len(secret) != 43 {
		t.Fatalf("hub add printed %v", hub)
	}
	stored, _ := g.reg.GetHub(t.Context(), "hub-0001")
	if ok, _ := devices.VerifySecret(stored.SecretHash, secret); !ok {
		t.Fatal("the printed secret does not match the stored hash")
	}
	if want := time.Date(2025, 3, 1, 0, 0, 0, 0, time.FixedZone("KST", 9*3600)); !stored.InstalledAt.Equal(want) {
		t.Errorf("installed_at %v", stored.InstalledAt)
	}

	if got := g.ok(t, "hub", "get", "hub-0001"); got["secret"] != nil || got["model"] != "DB-100" {
		t.Errorf("hub get: %v", got)
	}
	if got := g.ok(t, "hub", "update", "hub-0001", "--firmware", "2.0.1"); got["firmware"] != "2.0.1" {
		t.Errorf("hub update: %v", got)
	}
	if list := items(t, g.ok(t, "hub", "list", "--resident", "r-1")); len(list) != 1 {
		t.Errorf("hub list: %v", list)
	}
	rotated := g.ok(t, "hub", "rotate-secret", "hub-0001")
	if rotated["secret"] == secret || len(rotated["secret"].(string)) != 43 {
		t.Errorf("rotate-secret: %v", rotated)
	}
	if h := g.ok(t, "hub", "health", "hub-0001"); h["online"] != false {
		t.Errorf("health: %v", h)
	}
	g.ok(t, "hub", "disable", "hub-0001")
	g.ok(t, "hub", "enable", "hub-0001")
	if revoked := g.hubs.Revoked(); len(revoked) != 2 {
		t.Errorf("revoked %v, want rotation and disable", revoked)
	}

	s := g.ok(t, "sensor", "add", "--hub", "hub-0001", "--id", "kitchen-smoke", "--kind", "smoke", "--location", "kitchen", "--interval", "10m")
	if s["report_interval_s"] != float64(600) || s["hub_id"] != "hub-0001" {
		t.Errorf("sensor add: %v", s)
	}
	g.ok(t, "sensor", "add", "--hub", "hub-0001", "pendant", "--kind", "sos_button", "--location", "worn")
	if list := items(t, g.ok(t, "sensor", "list", "--hub", "hub-0001")); len(list) != 2 {
		t.Errorf("sensor list: %v", list)
	}
	if got := g.ok(t, "sensor", "get", "--hub", "hub-0001", "pendant"); got["kind"] != "sos_button" {
		t.Errorf("sensor get: %v", got)
	}
	if got := g.ok(t, "sensor", "update", "--hub", "hub-0001", "kitchen-smoke", "--interval", "120"); got["report_interval_s"] != float64(120) {
		t.Errorf("sensor update: %v", got)
	}
	if got := g.ok(t, "sensor", "disable", "--hub", "hub-0001", "--id", "pendant"); got["disabled"] != true {
		t.Errorf("sensor disable: %v", got)
	}
	g.ok(t, "sensor", "enable", "--hub", "hub-0001", "pendant")

	if st := g.ok(t, "status"); st["hubs_connected"] != float64(3) {
		t.Errorf("status: %v", st)
	}
}

func TestImportCommand(t *testing.T) {
	g := newGateway(t)
	file := filepath.Join(t.TempDir(), "residents.csv")
	csv := "name,phone,guardian1_name,guardian1_phone\n김영희,010-1234-5678,이철수,010-9876-5432\n박민수,12345,,\n최순자,,,\n"
	if err := os.WriteFile(file, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}

	r := g.ctl(t, "import", "--dry-run", file)
	if r.code != 1 || !strings.Contains(r.stderr, "2 would be created, 0 would be updated, 1 refused") {
		t.Fatalf("import --dry-run: exit %d, stderr %q", r.code, r.stderr)
	}
	r = g.ctl(t, "import", file)
	if r.code != 1 || !strings.Contains(r.stderr, "2 created, 0 updated, 1 refused") {
		t.Fatalf("import: exit %d, stderr %q", r.code, r.stderr)
	}
	var answer struct {
		Errors []struct {
			Line   int
			Column string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &answer); err != nil || len(answer.Errors) != 1 || answer.Errors[0].Line != 3 || answer.Errors[0].Column != "phone" {
		t.Fatalf("import output %s (%v)", r.stdout, err)
	}
	if n := len(items(t, g.ok(t, "resident", "list"))); n != 2 {
		t.Errorf("%d residents after import, want 2", n)
	}

	good := filepath.Join(t.TempDir(), "good.csv")
	os.WriteFile(good, []byte("name\n정숙\n"), 0o600)
	if r := g.ctl(t, "import", good); r.code != 0 {
		t.Errorf("clean import: exit %d, %s", r.code, r.stderr)
	}
}

// TestImportUpdateCommand: a re-import refuses existing ids (exit 1) unless
// --update, which updates them and says how many.
func TestImportUpdateCommand(t *testing.T) {
	g := newGateway(t)
	file := filepath.Join(t.TempDir(), "residents.csv")
	os.WriteFile(file, []byte("id,name,unit,social_worker_id\nr-1,김영희,301,sw-1\n"), 0o600)
	if r := g.ctl(t, "import", file); r.code != 0 || !strings.Contains(r.stderr, "1 created, 0 updated, 0 refused") {
		t.Fatalf("first import: exit %d, %s", r.code, r.stderr)
	}
	os.WriteFile(file, []byte("id,name,unit\nr-1,김영희,1502호\nr-2,박민수,\n"), 0o600)
	r := g.ctl(t, "import", file)
	if r.code != 1 || !strings.Contains(r.stderr, "1 created, 0 updated, 1 refused") || !strings.Contains(r.stdout, "--update") {
		t.Fatalf("re-import: exit %d, %s\n%s", r.code, r.stderr, r.stdout)
	}
	os.WriteFile(file, []byte("id,name,unit\nr-1,김영희,1502호\nr-2,박민수,\nr-3,최순자,\n"), 0o600)
	if r := g.ctl(t, "import", "--update", file); r.code != 0 || !strings.Contains(r.stderr, "1 created, 2 updated, 0 refused") {
		t.Fatalf("import --update: exit %d, %s", r.code, r.stderr)
	}
	r1 := g.ok(t, "resident", "get", "r-1")
	if r1["address"].(map[string]any)["unit"] != "1502호" || r1["social_worker_id"] != "sw-1" {
		t.Errorf("r-1 after --update: %v", r1)
	}
}

func TestFailures(t *testing.T) {
	g := newGateway(t)
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		stderr string
	}{
		{"server's not found", []string{"hub", "get", "nohub"}, nil, 1, `hub "nohub" not found (HTTP 404)`},
		{"server's validation", []string{"resident", "add", "--name", "a", "--phone", "12345"}, nil, 1, "phone: "},
		{"server's conflict", []string{"resident", "add", "--id", "r-1", "--name", "b"}, nil, 1, "already exists (HTTP 409)"},
		{"wrong token", []string{"resident", "list"}, map[string]string{"DOLBOM_ADMIN_TOKEN": "wrong-token-0123456789"}, 1, "HTTP 401"},
		{"unreachable", []string{"resident", "list", "--server", "http://127.0.0.1:1"}, nil, 1, "cannot reach the gateway"},
		{"unknown command", []string{"residnet", "list"}, nil, 2, "unknown command"},
		{"unknown verb", []string{"hub", "remove", "x"}, nil, 2, "one of add, disable"},
		{"missing name", []string{"resident", "add", "--phone", "010-1234-5678"}, nil, 2, "--name is required"},
		{"bad guardian", []string{"resident", "add", "--name", "a", "--guardian", "only-a-name"}, nil, 2, "name:phone"},
		{"bad lat", []string{"resident", "add", "--name", "a", "--lat", "north"}, nil, 2, "not a number"},
		{"missing id", []string{"hub", "get"}, nil, 2, "want ID"},
		{"extra argument", []string{"hub", "get", "a", "b"}, nil, 2, "want ID"},
		{"nothing to update", []string{"resident", "update", "r-1"}, nil, 2, "nothing to update"},
		{"sensor without hub", []string{"sensor", "get", "s1"}, nil, 2, "--hub is required"},
		{"bad interval", []string{"sensor", "add", "--hub", "h", "--id", "s", "--kind", "smoke", "--location", "kitchen", "--interval", "1.5s"}, nil, 2, "whole seconds"},
		{"unknown flag", []string{"hub", "list", "--colour"}, nil, 2, "colour"},
		{"no token for a remote server", []string{"status", "--server", "http://gateway.example:8080"}, map[string]string{"DOLBOM_ADMIN_TOKEN": ""}, 2, "no admin token"},
		{"bad server URL", []string{"status", "--server", "127.0.0.1:8080"}, nil, 2, "want a URL"},
	}
	g.ok(t, "resident", "add", "--id", "r-1", "--name", "a")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			saved := g.env
			g.env = map[string]string{}
			for k, v := range saved {
				g.env[k] = v
			}
			for k, v := range tc.env {
				g.env[k] = v
			}
			defer func() { g.env = saved }()
			r := g.ctl(t, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("exit %d, stderr %q; want exit %d, stderr containing %q", r.code, r.stderr, tc.code, tc.stderr)
			}
		})
	}
}

func TestTokenAndServerSources(t *testing.T) {
	g := newGateway(t)
	dataDir := t.TempDir()
	token, _, err := api.LoadOrCreateAdminToken(dataDir, "")
	if err != nil {
		t.Fatal(err)
	}
	api := api.NewAdminAPI(api.AdminConfig{Token: token}, g.reg, consoletest.Health{}, g.hubs, zerolog.Nop())
	local := httptest.NewServer(api)
	defer local.Close()

	// No token given: a local gateway's token file is read.
	g.env = map[string]string{"DOLBOM_SERVER": local.URL, "DOLBOM_DATA_DIR": dataDir}
	if r := g.ctl(t, "status"); r.code != 0 {
		t.Fatalf("token from the data folder: exit %d, %s", r.code, r.stderr)
	}
	if r := g.ctl(t, "--data-dir", t.TempDir(), "status"); r.code != 2 || !strings.Contains(r.stderr, "no admin token") {
		t.Errorf("empty data folder: exit %d, %s", r.code, r.stderr)
	}
	// Flags win over the environment, before or after the command.
	g.env = map[string]string{"DOLBOM_SERVER": "http://127.0.0.1:1", "DOLBOM_ADMIN_TOKEN": "wrong-token-0123456789"}
	if r := g.ctl(t, "--server", local.URL, "--token", token, "status"); r.code != 0 {
		t.Errorf("flags before the command: exit %d, %s", r.code, r.stderr)
	}
	if r := g.ctl(t, "status", "--server", local.URL, "--token", token); r.code != 0 {
		t.Errorf("flags after the command: exit %d, %s", r.code, r.stderr)
	}
	// A container's secret: the file DOLBOM_ADMIN_TOKEN_FILE names.
	secret := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(secret, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.env = map[string]string{"DOLBOM_SERVER": local.URL, "DOLBOM_ADMIN_TOKEN_FILE": secret, "DOLBOM_DATA_DIR": t.TempDir()}
	if r := g.ctl(t, "status"); r.code != 0 {
		t.Errorf("token from DOLBOM_ADMIN_TOKEN_FILE: exit %d, %s", r.code, r.stderr)
	}
}

func TestHelp(t *testing.T) {
	g := newGateway(t)
	if r := g.ctl(t, "help"); r.code != 0 || !strings.Contains(r.stdout, "resident add") {
		t.Errorf("help: exit %d", r.code)
	}
	if r := g.ctl(t); r.code != 2 {
		t.Errorf("no arguments: exit %d, want 2", r.code)
	}
	if r := g.ctl(t, "resident", "add", "-h"); r.code != 0 || !strings.Contains(r.stderr, "-guardian") {
		t.Errorf("resident add -h: exit %d, %s", r.code, r.stderr)
	}
}

// The admin token is a secret: no help text shows it, whether it came from
// DOLBOM_ADMIN_TOKEN or from --token (help goes to terminals, logs and
// screenshots).
func TestHelpNeverPrintsTheAdminToken(t *testing.T) {
	g := newGateway(t)
	const flagToken = "flag-token-abcdef0123456789"
	for _, args := range [][]string{
		{"--help"},
		{"-h"},
		{"hub", "list", "-h"},
		{"resident", "add", "--help"},
		{"--token", flagToken, "hub", "get", "-h"},
		{"status", "--token", flagToken, "-h"},
	} {
		r := g.ctl(t, args...)
		out := r.stdout + r.stderr
		if strings.Contains(out, testToken) || strings.Contains(out, flagToken) {
			t.Errorf("dolbomctl %s prints the admin token:\n%s", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, "(from DOLBOM_ADMIN_TOKEN)") {
			t.Errorf("dolbomctl %s: the help does not say where the token comes from:\n%s", strings.Join(args, " "), out)
		}
	}
}
