package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/devices"
)

// adminEnv is the console with the admin pages of the registry, over the
// in-memory registry (the gateway passes its registry over the store; the browser
// test in cmd/internal/e2e covers that path).
func adminEnv(t *testing.T) (*env, *consoletest.Registry, *client) {
	e, reg, _, admin := adminEnvHubs(t)
	return e, reg, admin
}

// adminEnvHubs is adminEnv with the broker's hub control (a recorder).
func adminEnvHubs(t *testing.T) (*env, *consoletest.Registry, *consoletest.Hubs, *client) {
	reg := consoletest.NewRegistry()
	reg.AddSocialWorker("sw-kim")
	reg.AddAccount(console.Account{ID: "d-park", Name: "박상황", Role: console.RoleDispatcher})
	hubs := &consoletest.Hubs{}
	e := newEnvDeps(t, web.Deps{Registry: reg, Hubs: hubs})
	admin := e.client()
	if status := admin.login("root", password); status != http.StatusSeeOther {
		t.Fatalf("admin login: %d", status)
	}
	return e, reg, hubs, admin
}

func residentForm(c *client, kv ...string) url.Values {
	f := url.Values{"csrf": {c.csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

var alertText = regexp.MustCompile(`(?s)<p class="alert" role="alert" id="problem">(.*?)</p>`)

func TestAdminCreatesAndEditsResident(t *testing.T) {
	e, reg, admin := adminEnv(t)

	status, body := admin.get("/admin/residents/new")
	if status != 200 || !strings.Contains(body, `name="social_worker_id"`) || !strings.Contains(body, `value="sw-kim"`) {
		t.Fatalf("new resident page: %d", status)
	}
	form := residentForm(admin, "id", "r-form", "name", "김영희", "birth_date", "1941-03-05", "phone", "010-3333-4444",
		"line1", "서울특별시 노원구 동일로 1414", "building", "103동", "floor", "15", "unit", "1502", "social_worker_id", "sw-kim",
		"priority", "on", "consent_notify_guardians", "on", "medical_notes", "고혈압", "medications", "와파린; 메트포르민",
		"door_code", "*8812#", "guardian1_name", "이철수", "guardian1_phone", "010-7777-8888", "guardian1_relation", "아들")
	status, _, h := admin.do("POST", "/admin/residents", form, nil)
	if status != http.StatusSeeOther || h.Get("Location") != "/admin/residents/r-form?done=created" {
		t.Fatalf("create: %d -> %s", status, h.Get("Location"))
	}
	r, err := reg.GetResident(t.Context(), "r-form")
	if err != nil || r.Phone != "+821033334444" || r.Address.Building != "103동" || r.SocialWorkerID != "sw-kim" || !r.Priority ||
		r.MedicalNotes != "고혈압" || len(r.Medications) != 2 || r.Access.DoorCode != "*8812#" || len(r.Guardians) != 1 ||
		r.Guardians[0].Phone != "+821077778888" || !r.Consent.NotifyGuardians || r.Consent.ShareMedicalWith119 {
		t.Fatalf("stored: %+v (%v)", r, err)
	}

	// The edit page shows what an admin may see, never the medical or
	// access details it took.
	status, body = admin.get("/admin/residents/r-form")
	if status != 200 || !strings.Contains(body, `value="010-3333-4444"`) || !strings.Contains(body, "103동") {
		t.Fatalf("edit page: %d", status)
	}
	for _, secret := range []string{"고혈압", "와파린", "8812", "이철수", "7777"} {
		if strings.Contains(body, secret) {
			t.Errorf("edit page shows %q to an admin", secret)
		}
	}
	// Edit: a new unit and another worker; sensitive fields left empty keep
	// their values.
	form = residentForm(admin, "name", "김영희", "phone", "010-3333-4444", "line1", "서울특별시 노원구 동일로 1414",
		"building", "103동", "unit", "1503", "social_worker_id", "", "consent_notify_guardians", "on")
	if status := admin.post("/admin/residents/r-form", form); status != http.StatusSeeOther {
		t.Fatalf("update: %d", status)
	}
	r, _ = reg.GetResident(t.Context(), "r-form")
	if r.Address.Unit != "1503" || r.SocialWorkerID != "" || r.Priority || r.MedicalNotes != "고혈압" || r.Access.DoorCode != "*8812#" || len(r.Guardians) != 1 {
		t.Errorf("after update: %+v", r)
	}

	var actions []string
	for _, a := range e.audit(console.AuditQuery{AccountID: "root"}) {
		if a.ResidentID == "r-form" {
			actions = append(actions, a.Action)
		}
	}
	if strings.Join(actions, " ") != "resident.update resident.create" {
		t.Errorf("audit of r-form: %v", actions)
	}
}

// TestAdminResidentFormRefusals: each mistake comes back as the form,
// with the field named and marked, in Korean by default and in English.
func TestAdminResidentFormRefusals(t *testing.T) {
	_, reg, admin := adminEnv(t)
	tests := []struct {
		kv       []string
		field    string
		ko, en   string
		attrName string
	}{
		{[]string{"name", "김영희", "social_worker_id", "sw-typo"}, "social_worker_id", "등록되지 않았거나 사용 중지된 응급관리요원", `no account &#34;sw-typo&#34;`, "social_worker_id"},
		{[]string{"name", "김영희", "social_worker_id", "d-park"}, "social_worker_id", "응급관리요원 계정을 먼저", "not a social worker", "social_worker_id"},
		{[]string{"name", "김영희", "phone", "12345"}, "phone", "010-1234-5678 또는", "write it in E.164", "phone"},
		{[]string{"name", " "}, "name", "이름을 입력하세요", "the name is required", "name"},
		{[]string{"name", "김영희", "birth_date", "2999-01-01"}, "birth_date", "생년월일은", "in the future", "birth_date"},
		{[]string{"name", "김영희", "lat", "north"}, "address.lat", "위도·경도", "not a number", "lat"},
		{[]string{"name", "김영희", "guardian1_name", "이철수"}, "guardians.phone", "보호자마다 전화번호", "needs a phone", "guardian1_phone"},
	}
	for _, tc := range tests {
		for _, lang := range []string{"ko", "en"} {
			status, body, _ := admin.do("POST", "/admin/residents?lang="+lang, residentForm(admin, tc.kv...), nil)
			m := alertText.FindStringSubmatch(body)
			want := tc.ko
			if lang == "en" {
				want = tc.en
			}
			if status != http.StatusBadRequest || m == nil || !strings.Contains(m[1], want) {
				t.Errorf("%v (%s): %d, alert %q, want %q", tc.kv, lang, status, m, want)
				continue
			}
			if !regexp.MustCompile(`name="` + tc.attrName + `"[^>]*aria-invalid="true"`).MatchString(body) {
				t.Errorf("%v (%s): field %s not marked", tc.kv, lang, tc.attrName)
			}
			if lang == "ko" && strings.Contains(m[1], "write it") {
				t.Errorf("%v: English internals on a Korean page: %q", tc.kv, m[1])
			}
		}
	}
	if list, _ := reg.ListResidents(t.Context(), console.ListQuery{Limit: 10}); len(list) != 0 {
		t.Errorf("refused forms created %d residents", len(list))
	}
	// The form keeps what was typed.
	_, body, _ := admin.do("POST", "/admin/residents", residentForm(admin, "name", "김영희", "phone", "12345", "building", "103동"), nil)
	if !strings.Contains(body, `value="103동"`) || !strings.Contains(body, `value="김영희"`) {
		t.Errorf("the refused form lost what was typed")
	}
}

func TestAdminHubsAndSensors(t *testing.T) {
	e, reg, admin := adminEnv(t)
	res := devices.Resident{ID: "r-1", Name: "김영희"}
	if err := reg.CreateResident(t.Context(), &res); err != nil {
		t.Fatal(err)
	}
	status, body, _ := admin.do("POST", "/admin/hubs", residentForm(admin, "resident_id", "r-1", "id", "hub-form", "model", "DH-200",
		"installed_at", "2026-05-01"), nil)
	secret := regexp.MustCompile(`<code id="hub-secret">([^<]+)</code>`).FindStringSubmatch(body)
	if status != http.StatusCreated || secret == nil {
		t.Fatalf("create hub: %d, secret shown: %v", status, secret != nil)
	}
	h, err := reg.GetHub(t.Context(), "hub-form")
	if ok, _ := devices.VerifySecret(h.SecretHash, secret[1]); err != nil || h.ResidentID != "r-1" || h.Model != "DH-200" || !ok {
		t.Fatalf("stored hub %+v (%v)", h, err)
	}
	if _, body := admin.get("/admin/hubs/hub-form"); strings.Contains(body, secret[1]) {
		t.Errorf("the secret is shown again")
	}
	// A hub for nobody is refused on the resident's page.
	if status := admin.post("/admin/hubs", residentForm(admin, "resident_id", "r-none")); status != http.StatusNotFound {
		t.Errorf("hub for a missing resident: %d", status)
	}
	status, body, _ = admin.do("POST", "/admin/hubs", residentForm(admin, "resident_id", "r-1", "id", "hub-form"), nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "이미 사용 중인 아이디") {
		t.Errorf("duplicate hub: %d", status)
	}

	if status := admin.post("/admin/hubs/hub-form/sensors", residentForm(admin, "sensor_id", "kitchen-smoke", "kind", "smoke",
		"location", "kitchen", "report_minutes", "10")); status != http.StatusSeeOther {
		t.Fatalf("add sensor: %d", status)
	}
	s, err := reg.GetSensor(t.Context(), "hub-form", "kitchen-smoke")
	if err != nil || s.Kind != devices.SensorSmoke || s.Location != devices.LocKitchen || s.ReportSeconds != 600 {
		t.Fatalf("sensor %+v (%v)", s, err)
	}
	status, body, _ = admin.do("POST", "/admin/hubs/hub-form/sensors", residentForm(admin, "sensor_id", "x", "kind", "toaster", "location", "kitchen"), nil)
	if status != http.StatusBadRequest || !strings.Contains(body, "센서 종류") {
		t.Errorf("unknown kind: %d", status)
	}
	if status := admin.post("/admin/hubs/hub-form/sensors/kitchen-smoke", residentForm(admin, "kind", "heat", "location", "living_room", "report_minutes", "5")); status != http.StatusSeeOther {
		t.Fatalf("edit sensor: %d", status)
	}
	if s, _ = reg.GetSensor(t.Context(), "hub-form", "kitchen-smoke"); s.Kind != devices.SensorHeat || s.Location != devices.LocLivingRoom || s.ReportSeconds != 300 {
		t.Errorf("sensor after edit %+v", s)
	}
	if status := admin.post("/admin/hubs/hub-form", residentForm(admin, "resident_id", "r-1", "model", "DH-300", "firmware", "2.0",
		"end_of_life", "2031-05-01")); status != http.StatusSeeOther {
		t.Fatalf("edit hub: %d", status)
	}
	if h, _ = reg.GetHub(t.Context(), "hub-form"); h.Model != "DH-300" || h.Firmware != "2.0" || h.EndOfLife.Year() != 2031 {
		t.Errorf("hub after edit %+v", h)
	}
	_, body = admin.get("/admin/hubs/hub-form?lang=ko")
	if !strings.Contains(body, "거실") || !strings.Contains(body, "열 감지기") {
		t.Errorf("the hub page does not name the sensor's kind and room in Korean")
	}

	var actions []string
	for _, a := range e.audit(console.AuditQuery{AccountID: "root"}) {
		if strings.HasPrefix(a.Action, "hub.") || strings.HasPrefix(a.Action, "sensor.") {
			actions = append(actions, a.Action)
		}
	}
	if strings.Join(actions, " ") != "hub.update sensor.update sensor.create hub.create" {
		t.Errorf("audit: %v", actions)
	}
}

// TestAdminPagesRights: only admins, and only with the session's CSRF
// token.
func TestAdminPagesRights(t *testing.T) {
	e, reg, admin := adminEnv(t)
	for _, who := range []string{"sw-kim", "d-park"} {
		c := e.client()
		c.login(who, password)
		if status, _ := c.get("/admin/residents/new"); status != http.StatusNotFound {
			t.Errorf("%s GET the admin form: %d", who, status)
		}
		if status := c.post("/admin/residents", residentForm(c, "name", "김영희")); status != http.StatusNotFound {
			t.Errorf("%s POST a resident: %d", who, status)
		}
	}
	form := residentForm(admin, "name", "김영희")
	form.Set("csrf", "forged")
	if status := admin.post("/admin/residents", form); status != http.StatusForbidden {
		t.Errorf("forged CSRF: %d", status)
	}
	if list, _ := reg.ListResidents(t.Context(), console.ListQuery{Limit: 10}); len(list) != 0 {
		t.Errorf("refused requests created %d residents", len(list))
	}
}

var untranslatedAdmin = regexp.MustCompile(`>[^<]*\b(adm|form|nav|res|accounts)\.[a-z_.]+[^<]*<`)

func TestAdminPagesTranslated(t *testing.T) {
	_, reg, admin := adminEnv(t)
	res := devices.Resident{ID: "r-1", Name: "김영희", SocialWorkerID: "sw-gone"} // a worker whose account went
	h := devices.Hub{ID: "hub-1", ResidentID: "r-1"}
	s := devices.Sensor{Hub: "hub-1", ID: "door", Kind: devices.SensorDoor, Location: devices.LocEntrance, ReportSeconds: 300}
	if reg.CreateResident(t.Context(), &res) != nil || reg.CreateHub(t.Context(), &h) != nil || reg.CreateSensor(t.Context(), &s) != nil {
		t.Fatal("seeding the registry failed")
	}
	for _, p := range []string{"/admin/residents/new", "/admin/residents/r-1", "/admin/hubs/hub-1", "/residents"} {
		for _, lang := range []string{"ko", "en"} {
			status, body := admin.get(p + "?lang=" + lang)
			if status != 200 {
				t.Errorf("GET %s (%s): %d", p, lang, status)
			}
			if m := untranslatedAdmin.FindString(body); m != "" {
				t.Errorf("GET %s (%s): untranslated %s", p, lang, m)
			}
		}
	}
	if _, body := admin.get("/admin/residents/r-1?lang=ko"); !strings.Contains(body, "sw-gone · 계정 없음") {
		t.Errorf("a resident's missing social worker is not said")
	}
}

// TestAdminDisablesAndReplacesSecrets: a hub disabled or given a new secret
// loses its live session at once; residents and sensors are disabled and
// enabled again; each is audited.
func TestAdminDisablesAndReplacesSecrets(t *testing.T) {
	e, reg, hubs, admin := adminEnvHubs(t)
	res := devices.Resident{ID: "r-1", Name: "김영희"}
	h := devices.Hub{ID: "hub-1", ResidentID: "r-1", SecretHash: devices.HashHubSecret("old-secret")}
	s := devices.Sensor{Hub: "hub-1", ID: "door", Kind: devices.SensorDoor, Location: devices.LocEntrance, ReportSeconds: 300}
	if reg.CreateResident(t.Context(), &res) != nil || reg.CreateHub(t.Context(), &h) != nil || reg.CreateSensor(t.Context(), &s) != nil {
		t.Fatal("seeding the registry failed")
	}
	status, body, _ := admin.do("POST", "/admin/hubs/hub-1/secret", residentForm(admin), nil)
	secret := regexp.MustCompile(`<code id="hub-secret">([^<]+)</code>`).FindStringSubmatch(body)
	if status != 200 || secret == nil {
		t.Fatalf("new secret: %d", status)
	}
	h, _ = reg.GetHub(t.Context(), "hub-1")
	if ok, _ := devices.VerifySecret(h.SecretHash, secret[1]); !ok {
		t.Errorf("the new secret does not open the hub")
	}
	if ok, _ := devices.VerifySecret(h.SecretHash, "old-secret"); ok {
		t.Errorf("the old secret still opens the hub")
	}
	for _, step := range []struct{ path, disabled string }{
		{"/admin/hubs/hub-1/disabled", "true"}, {"/admin/hubs/hub-1/disabled", "false"},
		{"/admin/hubs/hub-1/sensors/door/disabled", "true"}, {"/admin/residents/r-1/disabled", "true"},
	} {
		if status := admin.post(step.path, residentForm(admin, "disabled", step.disabled)); status != http.StatusSeeOther {
			t.Errorf("POST %s disabled=%s: %d", step.path, step.disabled, status)
		}
	}
	if got := hubs.Revoked(); len(got) != 2 || got[0] != "hub-1" || got[1] != "hub-1" {
		t.Errorf("live sessions ended: %v, want hub-1 at the new secret and at disabling", got)
	}
	h, _ = reg.GetHub(t.Context(), "hub-1")
	s, _ = reg.GetSensor(t.Context(), "hub-1", "door")
	res, _ = reg.GetResident(t.Context(), "r-1")
	if h.Disabled || !s.Disabled || !res.Disabled {
		t.Errorf("after the steps: hub disabled %v (want enabled again), sensor %v, resident %v", h.Disabled, s.Disabled, res.Disabled)
	}
	var actions []string
	for _, a := range e.audit(console.AuditQuery{AccountID: "root"}) {
		actions = append(actions, a.Action)
	}
	if got := strings.Join(actions, " "); !strings.HasPrefix(got, "resident.disable sensor.disable hub.enable hub.disable hub.secret_rotate") {
		t.Errorf("audit: %s", got)
	}
}
