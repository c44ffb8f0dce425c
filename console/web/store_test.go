package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/web"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

const password = "correct horse battery"

// env is a web console over a real SQLite store, with a movable clock.
type env struct {
	t    *testing.T
	st   *store.Store
	srv  *httptest.Server
	reg  *prometheus.Registry
	mu   sync.Mutex
	now  time.Time
	open map[devices.ResidentID]bool // the fake open-incident port
	// stopWeb stops the console's Run (its final audit flush) and waits.
	stopWeb func()
}

func (e *env) clock() time.Time { e.mu.Lock(); defer e.mu.Unlock(); return e.now }
func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

type openIncidents struct{ e *env }

func (o openIncidents) OpenIncident(_ context.Context, id devices.ResidentID) bool {
	o.e.mu.Lock()
	defer o.e.mu.Unlock()
	return o.e.open[id]
}

// newStoreWeb is the console over a real store, which serves its ports
// itself as the gateway wires it (cmd/internal/gateway), with device health
// as the monitor last saved it; extra adds the other ports.
func newStoreWeb(cfg web.Config, st *store.Store, extra web.Deps, log zerolog.Logger) (*web.Console, error) {
	deps := extra
	deps.Accounts, deps.Audit, deps.Residents, deps.Visits, deps.Caseload, deps.Wellbeing = st.Accounts(), st.Accounts(), st.Registry(), st.Casework(), st.Casework(), st.Casework()
	deps.Health = storeHealth{st}
	deps.Fleet = api.NewFleet(st.State(), cfg.Now, cfg.Registerer)
	deps.WorkOrders = st.WorkOrders()
	deps.Rollouts = st.Rollouts()
	cfg.Logger = log
	return web.New(cfg, deps)
}

// dispatchDeps are the incident ports over a running dispatcher and its
// store, as the gateway wires them.
func dispatchDeps(d *dispatch.Dispatcher, st *store.Store) web.Deps {
	desk := web.DeskIncidents{Desk: d}
	return web.Deps{Incidents: desk, History: st.Casework(), OpenIncident: desk, Desk: d, Evidence: st.Journal(), Reports: st.Casework()}
}

// storeHealth reads device health from what the monitor last saved (no
// live monitor runs in these tests).
type storeHealth struct{ st *store.Store }

func (h storeHealth) HubHealth(ctx context.Context, hub devices.HubID) (devices.HubHealth, error) {
	rec, err := h.st.State().GetHubHealth(ctx, hub)
	return rec.HubHealth, err
}

// newEnv starts the console over a fresh store; tune adjusts its
// configuration.
func newEnv(t *testing.T, tune ...func(*web.Config)) *env {
	t.Helper()
	return newEnvDeps(t, web.Deps{}, tune...)
}

// newEnvDeps is newEnv with extra ports (the admin pages' Registry).
func newEnvDeps(t *testing.T, deps web.Deps, tune ...func(*web.Config)) *env {
	t.Helper()
	e := &env{t: t, now: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC), open: map[devices.ResidentID]bool{}, reg: prometheus.NewRegistry()}
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = st.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	e.st = st
	cfg := web.Config{Now: e.clock, SessionIdle: time.Hour, SessionMax: 4 * time.Hour, Registerer: e.reg}
	for _, f := range tune {
		f(&cfg)
	}
	deps.OpenIncident = openIncidents{e}
	h, err := newStoreWeb(cfg, st, deps, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	if err != nil {
		t.Fatal(err)
	}
	webCtx, stopWeb := context.WithCancel(ctx)
	webDone := make(chan struct{})
	go func() { _ = h.Run(webCtx); close(webDone) }()
	e.stopWeb = func() { stopWeb(); <-webDone }
	t.Cleanup(e.stopWeb) // before the store closes (cleanups run last in, first out)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	createAccounts(t, st)
	return e
}

// createAccounts makes the console's accounts of the tests: two social
// workers, a dispatcher and an admin, all with password.
func createAccounts(t *testing.T, st *store.Store) {
	t.Helper()
	for _, a := range []console.Account{
		{ID: "sw-kim", Name: "김복지", Role: console.RoleSocialWorker},
		{ID: "sw-lee", Name: "이복지", Role: console.RoleSocialWorker},
		{ID: "d-park", Name: "박상황", Role: console.RoleDispatcher},
		{ID: "root", Name: "관리자", Role: console.RoleAdmin},
	} {
		a.PasswordHash = console.HashPassword(password)
		if err := st.Accounts().CreateAccount(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *env) resident(name, worker string, priority bool) devices.Resident {
	e.t.Helper()
	r, err := e.st.Registry().CreateResident(context.Background(), devices.Resident{
		Name: name, BirthDate: "1940-02-03", Phone: "+821012345678", Language: "ko",
		Address:      devices.Address{Line1: "서울특별시 종로구 세종대로 209", Unit: "302", Floor: "3"},
		MedicalNotes: "심방세동", Medications: []string{"와파린"}, Access: devices.Access{DoorCode: "*8812#"},
		SocialWorkerID: worker, Priority: priority,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// client is one browser: a cookie jar and the session's CSRF token.
type client struct {
	e    *env
	http *http.Client
	csrf string
	// forwardedFor, when set, is sent as X-Forwarded-For: the browser seen
	// through a proxy at 127.0.0.1 (which the console trusts or not).
	forwardedFor string
}

// signedIn is a new client signed in as account id (with the tests'
// password).
func (e *env) signedIn(id string) *client {
	e.t.Helper()
	c := e.client()
	c.login(id, password)
	return c
}

func (e *env) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(method, path string, form url.Values, header map[string]string) (int, string, http.Header) {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.e.srv.URL+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", c.forwardedFor)
	}
	for k, v := range header {
		req.Header.Set(k, v)
		if k == "Content-Type" {
			req.Body = io.NopCloser(strings.NewReader(header["Body"]))
		}
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (c *client) get(path string) (int, string) {
	status, body, _ := c.do("GET", path, nil, nil)
	return status, body
}

// login signs in and keeps the session's CSRF token; it returns the status
// of the POST /login.
func (c *client) login(id, pw string) int {
	c.e.t.Helper()
	_, page := c.get("/login")
	m := csrfInput.FindStringSubmatch(page)
	if m == nil {
		c.e.t.Fatalf("no csrf field on the login page")
	}
	status, _, _ := c.do("POST", "/login", url.Values{"csrf": {m[1]}, "username": {id}, "password": {pw}}, nil)
	if status == http.StatusSeeOther {
		_, body := c.get("/reports")
		if m := csrfInput.FindStringSubmatch(body); m != nil {
			c.csrf = m[1]
		}
	}
	return status
}

func (c *client) post(path string, form url.Values) int {
	c.e.t.Helper()
	status, _, _ := c.do("POST", path, form, nil)
	return status
}

func (c *client) postJSON(path, body string, withCSRF bool) (int, string) {
	h := map[string]string{"Content-Type": "application/json", "Body": body}
	if withCSRF {
		h["X-CSRF-Token"] = c.csrf
	}
	status, b, _ := c.do("POST", path, nil, h)
	return status, b
}

func (e *env) audit(q console.AuditQuery) []console.AuditEntry {
	e.t.Helper()
	list, err := e.st.Accounts().ListAudit(context.Background(), q)
	if err != nil {
		e.t.Fatal(err)
	}
	return list
}

func TestLoginLogout(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	if status := c.login("sw-kim", "wrong password!"); status != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", status)
	}
	if status := c.login("nobody", password); status != http.StatusUnauthorized {
		t.Errorf("unknown account: %d, want 401", status)
	}
	if status := c.login("SW-Kim ", password); status != http.StatusSeeOther {
		t.Fatalf("login: %d, want 303", status)
	}
	status, body := c.get("/today")
	if status != http.StatusOK || !strings.Contains(body, "오늘 확인할 일") {
		t.Fatalf("GET /today after login: %d", status)
	}
	if status := c.post("/logout", url.Values{}); status != http.StatusForbidden {
		t.Errorf("logout without csrf: %d, want 403", status)
	}
	if status := c.post("/logout", url.Values{"csrf": {c.csrf}}); status != http.StatusSeeOther {
		t.Errorf("logout: %d, want 303", status)
	}
	if status, _ := c.get("/today"); status != http.StatusSeeOther {
		t.Errorf("GET /today after logout: %d, want a redirect to /login", status)
	}
	var actions []string
	for _, a := range e.audit(console.AuditQuery{}) {
		actions = append(actions, a.AccountID+" "+a.Action)
	}
	want := "sw-kim logout|sw-kim login|nobody login.failed|sw-kim login.failed"
	if got := strings.Join(actions, "|"); got != want {
		t.Errorf("audit = %s, want %s", got, want)
	}
}

func TestLoginPageCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	c.get("/login")
	status, _, _ := c.do("POST", "/login", url.Values{"csrf": {"forged"}, "username": {"sw-kim"}, "password": {password}}, nil)
	if status != http.StatusForbidden {
		t.Errorf("login with a forged csrf field: %d, want 403", status)
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	for range 5 {
		c.login("sw-kim", "wrong password!")
	}
	if status := c.login("sw-kim", password); status != http.StatusTooManyRequests {
		t.Errorf("6th attempt with the right password: %d, want 429", status)
	}
	if status := e.client().login("sw-lee", password); status != http.StatusSeeOther {
		t.Errorf("another account from the same address: %d, want 303", status)
	}
	e.advance(16 * time.Minute)
	if status := e.client().login("sw-kim", password); status != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", status)
	}
	// Per address: 20 failures spread over many accounts.
	for i := range 20 {
		c.login("guess-"+string(rune('a'+i)), "x")
	}
	if status := c.login("d-park", password); status != http.StatusTooManyRequests {
		t.Errorf("after 20 failures from one address: %d, want 429", status)
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.signedIn("sw-kim")
	e.advance(50 * time.Minute)
	if status, _ := c.get("/today"); status != http.StatusOK {
		t.Fatalf("within the idle time: %d", status)
	}
	// Activity moved the expiry: 50 more minutes are still within an hour
	// of the last request.
	e.advance(50 * time.Minute)
	if status, _ := c.get("/today"); status != http.StatusOK {
		t.Fatalf("active session: %d", status)
	}
	e.advance(61 * time.Minute)
	if status, _ := c.get("/today"); status != http.StatusSeeOther {
		t.Errorf("idle for 61 minutes: %d, want a redirect to /login", status)
	}
	// The absolute limit holds however active the session is.
	c2 := e.signedIn("sw-kim")
	for range 8 {
		e.advance(30 * time.Minute)
		c2.get("/today")
	}
	if status, _ := c2.get("/today"); status != http.StatusSeeOther {
		t.Errorf("after SessionMax: %d, want a redirect", status)
	}
}

func TestSocialWorkerSeesOnlyTheirResidents(t *testing.T) {
	e := newEnv(t)
	mine := e.resident("김영희", "sw-kim", true)
	theirs := e.resident("박철수", "sw-lee", false)
	c := e.signedIn("sw-kim")
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/residents/" + string(mine.ID), 200},
		{"/residents/" + string(theirs.ID), 404},
		{"/residents/res-missing", 404},
		{"/console/api/residents/" + string(mine.ID), 200},
		{"/console/api/residents/" + string(theirs.ID), 404},
		{"/console/api/residents/" + string(theirs.ID) + "/visits", 404},
		{"/admin/accounts", 404},
		{"/console/api/accounts", 404},
		{"/queue", 404},
	} {
		if status, _ := c.get(tc.path); status != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, status, tc.want)
		}
	}
	_, list := c.get("/residents")
	if !strings.Contains(list, "김영희") || strings.Contains(list, "박철수") {
		t.Errorf("resident list shows another worker's resident or misses one's own")
	}
	_, api := c.get("/console/api/residents")
	if !strings.Contains(api, string(mine.ID)) || strings.Contains(api, string(theirs.ID)) || strings.Contains(api, "8812") {
		t.Errorf("API resident list: %s", api)
	}
	if status := c.post("/residents/"+string(theirs.ID)+"/visits", url.Values{"csrf": {c.csrf}, "kind": {"visit"}, "date": {"2026-05-04"}}); status != 404 {
		t.Errorf("visit for another worker's resident: %d, want 404", status)
	}
	_, page := c.get("/residents/" + string(mine.ID))
	if !strings.Contains(page, "심방세동") || !strings.Contains(page, "*8812#") {
		t.Errorf("a social worker should see their own resident's medical and access details")
	}
	// The address to the unit and the phone written the Korean way, as on
	// the dispatcher's pages.
	if !strings.Contains(page, "3층 302호") || !strings.Contains(page, "010-1234-5678") || strings.Contains(page, "+821012345678") {
		t.Errorf("resident page: address or phone not written the Korean way")
	}
}

func TestAuditOnView(t *testing.T) {
	e := newEnv(t)
	r := e.resident("김영희", "sw-kim", false)
	c := e.signedIn("sw-kim")
	c.get("/residents/" + string(r.ID))
	c.get("/console/api/residents/" + string(r.ID))
	views := e.audit(console.AuditQuery{ResidentID: string(r.ID)})
	if len(views) != 2 {
		t.Fatalf("audit of resident %s: %+v, want 2 views", r.ID, views)
	}
	for _, v := range views {
		if v.Action != "resident.view" || v.AccountID != "sw-kim" || v.Remote != "127.0.0.1" || !v.At.Equal(e.clock()) {
			t.Errorf("audit entry %+v", v)
		}
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	r := e.resident("김영희", "sw-kim", false)
	c := e.signedIn("sw-kim")
	path := "/residents/" + string(r.ID) + "/visits"
	form := func(csrf string) url.Values {
		v := url.Values{"kind": {"call"}, "date": {"2026-05-03"}, "notes": {"안부 확인"}, "next": {"2026-06-03"}}
		if csrf != "" {
			v.Set("csrf", csrf)
		}
		return v
	}
	// A token one character off (never the token itself: it may begin
	// with an x).
	wrong := "x" + c.csrf[1:]
	if c.csrf[0] == 'x' {
		wrong = "y" + c.csrf[1:]
	}
	for _, tc := range []struct {
		name, csrf string
		want       int
	}{
		{"missing", "", 403},
		{"wrong", wrong, 403},
		{"right", c.csrf, 303},
	} {
		if status := c.post(path, form(tc.csrf)); status != tc.want {
			t.Errorf("%s csrf: %d, want %d", tc.name, status, tc.want)
		}
	}
	visits, _ := e.st.Casework().ListVisits(context.Background(), r.ID, 10)
	if len(visits) != 1 || visits[0].Kind != "call" || visits[0].Notes != "안부 확인" {
		t.Errorf("visits = %+v, want the one call", visits)
	}
	api := "/console/api/residents/" + string(r.ID) + "/visits"
	body := `{"kind":"visit","date":"2026-05-04","notes":"방문"}`
	if status, _ := c.postJSON(api, body, false); status != 403 {
		t.Errorf("API without X-CSRF-Token: %d, want 403", status)
	}
	if status, b := c.postJSON(api, body, true); status != 201 {
		t.Errorf("API with X-CSRF-Token: %d %s", status, b)
	}
	if n := len(e.audit(console.AuditQuery{ResidentID: string(r.ID)})); n != 2 {
		t.Errorf("visit.add audit entries: %d, want 2", n)
	}
}

func TestDispatcherSeesMedicalOnlyDuringIncident(t *testing.T) {
	e := newEnv(t)
	r := e.resident("김영희", "sw-kim", false)
	c := e.signedIn("d-park")
	_, page := c.get("/residents/" + string(r.ID))
	if strings.Contains(page, "심방세동") || strings.Contains(page, "8812") {
		t.Errorf("dispatcher sees medical details without an open incident")
	}
	_, api := c.get("/console/api/residents/" + string(r.ID))
	if strings.Contains(api, "8812") || !strings.Contains(api, `"sensitive_shown": false`) {
		t.Errorf("API shows access codes without an open incident: %s", api)
	}
	e.mu.Lock()
	e.open[r.ID] = true
	e.mu.Unlock()
	_, page = c.get("/residents/" + string(r.ID))
	if !strings.Contains(page, "심방세동") || !strings.Contains(page, "*8812#") {
		t.Errorf("dispatcher does not see medical details during an open incident")
	}
	c2 := e.signedIn("root")
	if _, page := c2.get("/residents/" + string(r.ID)); strings.Contains(page, "심방세동") {
		t.Errorf("admin sees medical details")
	}
}

func TestAdminManagesAccounts(t *testing.T) {
	e := newEnv(t)
	admin := e.signedIn("root")
	worker := e.signedIn("sw-kim")

	if status := admin.post("/admin/accounts", url.Values{"csrf": {admin.csrf}, "id": {"sw-new"}, "name": {"새직원"}, "role": {"social_worker"}, "password": {"short"}}); status != 400 {
		t.Errorf("short password: %d, want 400", status)
	}
	if status := admin.post("/admin/accounts", url.Values{"csrf": {admin.csrf}, "id": {"sw-new"}, "name": {"새직원"}, "role": {"social_worker"}, "password": {password}}); status != 303 {
		t.Errorf("create account: %d, want 303", status)
	}
	if status, b := admin.postJSON("/console/api/accounts", `{"id":"sw-new","name":"x","role":"admin","password":"`+password+`"}`, true); status != 409 {
		t.Errorf("API duplicate: %d %s", status, b)
	}
	if status, b := admin.postJSON("/console/api/accounts", `{"id":"d-new","name":"x","role":"dispatcher","password":"`+password+`"}`, true); status != 201 || strings.Contains(b, "argon2") {
		t.Errorf("API create: %d %s", status, b)
	}
	if status := e.client().login("sw-new", password); status != 303 {
		t.Errorf("new account cannot sign in: %d", status)
	}
	// Disabling ends the account's sessions at once.
	if status := admin.post("/admin/accounts/sw-kim/disabled", url.Values{"csrf": {admin.csrf}, "disabled": {"true"}}); status != 303 {
		t.Errorf("disable: %d", status)
	}
	if status, _ := worker.get("/today"); status != http.StatusSeeOther {
		t.Errorf("disabled account still signed in: %d", status)
	}
	if status := e.client().login("sw-kim", password); status != 401 {
		t.Errorf("disabled account signs in: %d", status)
	}
	// A reset password signs the account out and only the new one works.
	lee := e.signedIn("sw-lee")
	if status, b := admin.postJSON("/console/api/accounts/sw-lee/password", `{"password":"a brand new passphrase"}`, true); status != 200 {
		t.Errorf("reset password: %d %s", status, b)
	}
	if status, _ := lee.get("/today"); status != http.StatusSeeOther {
		t.Errorf("session survived a password reset: %d", status)
	}
	if status := e.client().login("sw-lee", "a brand new passphrase"); status != 303 {
		t.Errorf("new password: %d", status)
	}
	if status, _ := admin.postJSON("/console/api/accounts/root/disabled", `{"disabled":true}`, true); status != 400 {
		t.Errorf("admin disabling themselves: %d, want 400", status)
	}
	status, body := admin.get("/admin/audit")
	if status != 200 || !strings.Contains(body, "account.disable") || !strings.Contains(body, "account.password_reset") {
		t.Errorf("audit page: %d, missing account actions", status)
	}
	if status, _ := admin.get("/console/api/audit?account=root"); status != 200 {
		t.Errorf("audit API: %d", status)
	}
}

func TestSecurityHeadersAndCookies(t *testing.T) {
	e := newEnv(t)
	c := e.client()
	_, _, h := c.do("GET", "/login", nil, nil)
	for k, want := range map[string]string{
		"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP = %q", csp)
	}
	_, page := c.get("/login")
	m := csrfInput.FindStringSubmatch(page)
	_, _, h = c.do("POST", "/login", url.Values{"csrf": {m[1]}, "username": {"sw-kim"}, "password": {password}}, nil)
	cookie := h.Get("Set-Cookie")
	if !strings.Contains(cookie, "dolbom_session=") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
		t.Errorf("session cookie: %q", cookie)
	}
	if _, body := c.get("/today"); strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Errorf("inline script or style on a page (the CSP forbids them)")
	}
}

var untranslated = regexp.MustCompile(`>\s*(nav|wo|today|res|visit|fault|dev|reports|caseload|targets|queue|accounts|audit|error|login|role)\.[a-z.0-9]+\s*<`)

func TestEveryPageRendersInBothLanguages(t *testing.T) {
	e := newEnv(t)
	r := e.resident("김영희", "sw-kim", true)
	pages := map[string][]string{
		"sw-kim": {"/today", "/residents", "/residents/" + string(r.ID), "/reports", "/reports/caseload"},
		"d-park": {"/queue", "/residents", "/residents/" + string(r.ID), "/reports"},
		"root":   {"/admin/accounts", "/admin/audit", "/admin/fleet", "/admin/workorders", "/residents", "/reports"},
	}
	for who, paths := range pages {
		c := e.client()
		c.login(who, password)
		for _, lang := range []string{"en", "ko"} {
			for _, p := range paths {
				status, body := c.get(p + "?lang=" + lang)
				if status != 200 {
					t.Errorf("%s GET %s (%s): %d", who, p, lang, status)
				}
				if m := untranslated.FindString(body); m != "" {
					t.Errorf("%s GET %s (%s): untranslated %s", who, p, lang, m)
				}
			}
		}
		if status, _ := c.get("/"); status != http.StatusSeeOther {
			t.Errorf("%s GET /: %d, want a redirect to their home", who, status)
		}
	}
}

// TestToday seeds a caseload: one resident whose activity fell, one hub on
// battery, one resident never visited.
func TestToday(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	quiet := e.resident("조용한", "sw-kim", false)
	busy := e.resident("활발한", "sw-kim", false)
	now := e.clock()
	for _, res := range []devices.Resident{quiet, busy} {
		hub := devices.HubID("hub-" + string(res.ID)[4:])
		if _, err := e.st.Registry().CreateHub(ctx, devices.Hub{ID: hub, ResidentID: res.ID, InstalledAt: now.AddDate(-1, 0, 0), SecretHash: "$argon2id$x"}); err != nil {
			t.Fatal(err)
		}
		var rs []devices.Reading
		for h := 1; h <= 30*24; h++ {
			v := 10.0
			if res.ID == quiet.ID && h <= 48 {
				v = 2
			}
			rs = append(rs, devices.Reading{Sensor: "pir-1", Metric: devices.MetricMotion, At: now.Add(-time.Duration(h) * time.Hour), Value: v, Quality: -1})
		}
		if err := e.st.Journal().AppendReadings(ctx, &devices.ReadingBatch{Hub: hub, Readings: rs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.st.State().SaveHubHealth(ctx, []devices.HubHealthRecord{{HubHealth: devices.HubHealth{
		Hub: devices.HubID("hub-" + string(busy.ID)[4:]), Online: true, PowerKnown: true, Battery: 80, Faults: []devices.Fault{devices.FaultPowerLost}}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Casework().AddVisit(ctx, &console.Visit{ResidentID: busy.ID, Kind: "visit", At: now.AddDate(0, 0, -10), AccountID: "sw-kim"}); err != nil {
		t.Fatal(err)
	}
	c := e.signedIn("sw-kim")
	_, body := c.get("/today")
	if s := section(t, body, "activity"); !strings.Contains(s, "조용한") || strings.Contains(s, "활발한") || !strings.Contains(s, "20%") {
		t.Errorf("activity section: %s", s)
	}
	if s := section(t, body, "devices"); !strings.Contains(s, "활발한") || !strings.Contains(s, "정전") {
		t.Errorf("devices section: %s", s)
	}
	if s := section(t, body, "visits"); !strings.Contains(s, "조용한") || strings.Contains(s, "활발한") {
		t.Errorf("visits section (one never visited, one visited 10 days ago): %s", s)
	}
	_, page := c.get("/residents/" + string(quiet.ID))
	if strings.Count(page, "<rect") != 30*24 {
		t.Errorf("heatmap has %d cells, want 720", strings.Count(page, "<rect"))
	}
}

func TestBootstrapAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	// Accounts exist: nothing happens.
	if _, created, err := console.BootstrapAdmin(ctx, e.st.Accounts(), dir); err != nil || created {
		t.Fatalf("with accounts: created %v, %v", created, err)
	}
	st, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pw, created, err := console.BootstrapAdmin(ctx, st.Accounts(), dir)
	if err != nil || !created || len(pw) < 20 {
		t.Fatalf("first start: %q %v %v", pw, created, err)
	}
	fi, err := os.Stat(console.BootstrapPasswordFile(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("password file: %v %v", fi, err)
	}
	b, _ := os.ReadFile(console.BootstrapPasswordFile(dir))
	if strings.TrimSpace(string(b)) != pw {
		t.Errorf("file holds %q, want the password", b)
	}
	a, err := st.Accounts().GetAccount(ctx, console.BootstrapAdminID)
	if err != nil || a.Role != "admin" {
		t.Errorf("admin account: %+v %v", a, err)
	}
	if ok, _ := devices.VerifySecret(a.PasswordHash, pw); !ok {
		t.Errorf("the printed password does not match the stored hash")
	}
	if _, created, _ := console.BootstrapAdmin(ctx, st.Accounts(), dir); created {
		t.Errorf("second start created another admin")
	}
}
