// Package web is the web console: server-rendered pages for social
// workers, dispatchers and admins, and the browser's JSON API under
// /console/api/ behind the same sign-in and rights (docs/console.md). Mount
// New at "/"; the bearer-token APIs are console/api's.
//
// Sign-in lives here, not in console: sessions, CSRF tokens, the login
// limits, the refused-login audit and the client address serve only the
// browser (the APIs of console/api take a bearer token). What the store
// keeps of them (Account, Session, AuditEntry) is console's.
package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/defaults"
)

//go:embed templates/*.html static/*
var webFiles embed.FS

// Deps are the ports of the web console. Accounts, Audit, Residents
// are required; a nil incident port shows empty lists (and never reveals
// medical details to a dispatcher); a nil Health, Wellbeing or Visits hides
// that part of the pages.
type Deps struct {
	Accounts     console.AccountStore
	Audit        AuditLog
	Residents    ResidentReader
	Visits       VisitLog
	Caseload     CaseloadReader // Today's ranking and the caseload report; nil: neither uses incidents or visits of a period
	Wellbeing    Wellbeing
	Health       console.HealthReader
	Incidents    IncidentLister
	History      IncidentHistory
	OpenIncident OpenIncidentChecker
	// The dispatcher's console and the reports (dispatch.go,
	// reports.go): a nil Desk hides the queue and incident pages, a nil
	// Evidence draws no evidence chart, a nil Reports shows no reports.
	Desk     Desk
	Evidence EvidenceReader
	Reports  ReportSource
	// api.Registry, when set, lets admins create and edit residents, hubs and
	// sensors in the pages (registry.go), through the same checks as
	// the admin API; nil: the registry is edited through the API only.
	Registry api.Registry
	// Hubs, when set with api.Registry, lets the pages disable a hub and
	// replace its secret (each ends the hub's live session).
	Hubs console.HubControl
	// Routes, when set, serves the admin's regions and routes page
	// (regions.go); nil hides it.
	Routes api.RouteAdmin
	// NoRoutes lists the incidents whose 119 message has no route (the
	// queue's "119 경로 없음" banner); nil shows none.
	NoRoutes NoRouteList
	// IncidentRegions tells the 시도 an incident's 119 Alert went to (the
	// region a dispatcher's scope is checked against; scope.go); nil: the
	// resident's district alone.
	IncidentRegions IncidentRegions
	// Fleet, when set, serves the fleet page and its JSON and CSV
	// (fleet.go) to admins, within their regions; nil hides them.
	Fleet *api.Fleet
	// WorkOrders, when set, serves the admin's work orders page and the
	// maintenance history on residents' pages (workorders.go), through
	// the admin API's port.
	WorkOrders api.WorkOrders
	// Rollouts, when set, serves the firmware rollouts pages to national
	// admins (rollouts.go), read from the store; RolloutControl (the
	// gateway's ota engine) halts and rolls back from them, nil: the
	// pages only show.
	Rollouts       RolloutReader
	RolloutControl RolloutControl
}

// Config configures the web console. Zero values take the defaults
// noted.
type Config struct {
	Logger zerolog.Logger
	// SecureCookies sets the Secure flag on cookies: on whenever the pages
	// are served over TLS (directly or behind a TLS proxy).
	SecureCookies bool
	// SessionIdle ends a session after this long without a request
	// (default 8h: a shift); SessionMax ends it in any case (default 12h).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// PasswordParams hash new passwords (default PasswordParams).
	PasswordParams devices.SecretParams
	// AddressFailures failed sign-ins from one client address (an IPv4
	// address or an IPv6 /64) within LoginWindow refuse that address (429)
	// until its window passes, without checking passwords. AccountFailures
	// on one account put it under attack until its window passes: each
	// address may then fail on it twice, and the right password from an
	// address that has not still signs in (defaults 20, 5 and 15 minutes).
	AccountFailures int
	AddressFailures int
	LoginWindow     time.Duration
	// TrustedProxies are the reverse proxies in front of the console
	// (ParseTrustedProxies). Only when the peer is one of them is
	// X-Forwarded-For read: the client is the right-most address there
	// that is not a trusted proxy. Empty: the peer is the client and
	// X-Forwarded-For is ignored (any client can write it).
	TrustedProxies []netip.Prefix
	// SigningKey is the secret the console derives its signing keys from
	// (the login form's token). Gateways behind one address must share it;
	// empty: a random key per process (a restart expires open login
	// forms).
	SigningKey []byte
	// Registerer receives the console's metrics when non-nil.
	Registerer prometheus.Registerer
	// Location is the time zone of dates on the pages (default Asia/Seoul).
	Location *time.Location
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	defaults.Set(&c.SessionIdle, 8*time.Hour)
	defaults.Set(&c.SessionMax, 12*time.Hour)
	if c.PasswordParams == (devices.SecretParams{}) {
		c.PasswordParams = console.PasswordParams
	}
	defaults.Set(&c.AccountFailures, 5)
	defaults.Set(&c.AddressFailures, 20)
	defaults.Set(&c.LoginWindow, 15*time.Minute)
	if c.Location == nil {
		loc, err := time.LoadLocation("Asia/Seoul")
		if err != nil { // no tzdata on the host: Korea has no daylight saving
			loc = time.FixedZone("KST", 9*3600)
		}
		c.Location = loc
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

type web struct {
	cfg      Config
	deps     Deps
	log      zerolog.Logger
	pages    map[string]*template.Template
	static   http.Handler
	metrics  *webMetrics
	limiter  *loginLimiter
	refusals *loginAudit
	loginKey []byte // signs login form tokens
	// hashSlots bounds concurrent password hashes: each takes 19 MiB, and a
	// flood of logins must not exhaust memory.
	hashSlots chan struct{}
	dummyHash string
	mux       *routeMux
}

// Console is the web console: mount it at "/" and run Run while it serves.
type Console struct {
	w       *web
	handler http.Handler
}

func (h *Console) ServeHTTP(rw http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(rw, r) }

// Routes lists the console's route patterns ("GET /queue", ...), in the
// order they were registered: the scoping test walks every one of them, so
// that a route added without the region check fails it.
func (h *Console) Routes() []string { return slices.Clone(h.w.mux.patterns) }

// routeMux is the console's ServeMux, keeping the patterns it was given.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// auditTick is how often Run looks for refused sign-ins to summarise; the
// rows are due once a minute.
const auditTick = 5 * time.Second

// Run writes the audit rows of refused sign-ins that are summed per
// minute (LoginAuditRowsPerMinute), and what is left when ctx ends.
func (h *Console) Run(ctx context.Context) error {
	t := time.NewTicker(auditTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.w.writeAuditRows(context.Background(), h.w.refusals.final(h.w.cfg.Now()))
			return nil
		case <-t.C:
			h.w.writeAuditRows(ctx, h.w.refusals.tick(h.w.cfg.Now()))
		}
	}
}

// New returns the web console, to mount at "/". Its routes: /login,
// /logout, /today, /residents, /residents/{id}, /reports, /admin/accounts,
// /admin/audit, /static/, and the JSON API under /console/api/
// (docs/console.md).
func New(cfg Config, deps Deps) (*Console, error) {
	cfg.setDefaults()
	if deps.Accounts == nil || deps.Audit == nil || deps.Residents == nil {
		return nil, errors.New("console: web: Accounts, Audit and Residents are required")
	}
	secret := cfg.SigningKey
	if len(secret) == 0 {
		secret = make([]byte, 32)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails on Linux (Go >= 1.24)
	}
	w := &web{
		cfg:       cfg,
		deps:      deps,
		log:       cfg.Logger.With().Str("component", "web").Logger(),
		metrics:   newWebMetrics(cfg.Registerer),
		limiter:   newLoginLimiter(cfg.AccountFailures, cfg.AddressFailures, cfg.LoginWindow),
		refusals:  newLoginAudit(),
		loginKey:  deriveKey(secret, "dolbom console: login form token v1"),
		hashSlots: make(chan struct{}, 2),
		mux:       &routeMux{ServeMux: http.NewServeMux()},
	}
	// Unknown accounts are checked against this hash so that a failed login
	// takes as long whether or not the account exists.
	w.dummyHash = devices.HashSecret(devices.NewSecret(), cfg.PasswordParams)
	var err error
	if w.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(webFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("console: web: %w", err)
	}
	w.static = http.StripPrefix("/static/", http.FileServerFS(static))
	w.routes()
	return &Console{w: w, handler: securityHeaders(w.mux)}, nil
}

// deriveKey gives each use of the signing key its own key, so that one
// secret (the gateway's) can serve several purposes without a signature
// made for one being valid for another.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func (w *web) routes() {
	m := w.mux
	m.Handle("GET /static/", cacheStatic(w.static))
	m.HandleFunc("GET /login", w.loginPage)
	m.HandleFunc("POST /login", w.login)
	m.HandleFunc("POST /logout", w.signedIn(w.logout, console.RoleDispatcher, console.RoleSocialWorker, console.RoleAdmin))
	m.HandleFunc("GET /{$}", w.signedIn(w.home, console.RoleDispatcher, console.RoleSocialWorker, console.RoleAdmin))

	m.HandleFunc("GET /today", w.signedIn(w.today, console.RoleSocialWorker))
	m.HandleFunc("GET /residents", w.signedIn(w.residentList, console.RoleSocialWorker, console.RoleDispatcher, console.RoleAdmin))
	m.HandleFunc("GET /residents/{id}", w.signedIn(w.residentPage, console.RoleSocialWorker, console.RoleDispatcher, console.RoleAdmin))
	m.HandleFunc("POST /residents/{id}/visits", w.signedIn(w.addVisit, console.RoleSocialWorker))
	w.dispatchRoutes()
	w.reportRoutes()
	w.registryRoutes()
	w.regionRoutes()
	w.fleetRoutes()
	w.workOrderRoutes()
	w.rolloutRoutes()

	m.HandleFunc("GET /admin/accounts", w.signedIn(w.accountsPage, console.RoleAdmin))
	m.HandleFunc("POST /admin/accounts", w.signedIn(w.createAccountForm, console.RoleAdmin))
	m.HandleFunc("POST /admin/accounts/{id}/disabled", w.signedIn(w.setDisabledForm, console.RoleAdmin))
	m.HandleFunc("POST /admin/accounts/{id}/password", w.signedIn(w.resetPasswordForm, console.RoleAdmin))
	m.HandleFunc("POST /admin/accounts/{id}/regions", w.signedIn(w.setRegionsForm, console.RoleAdmin))
	m.HandleFunc("GET /admin/audit", w.signedIn(w.auditPage, console.RoleAdmin))

	const api = "/console/api"
	all := []console.Role{console.RoleDispatcher, console.RoleSocialWorker, console.RoleAdmin}
	m.HandleFunc("GET "+api+"/me", w.signedInAPI(w.apiMe, all...))
	m.HandleFunc("GET "+api+"/residents", w.signedInAPI(w.apiResidents, all...))
	m.HandleFunc("GET "+api+"/residents/{id}", w.signedInAPI(w.apiResident, all...))
	m.HandleFunc("GET "+api+"/residents/{id}/visits", w.signedInAPI(w.apiVisits, console.RoleSocialWorker))
	m.HandleFunc("POST "+api+"/residents/{id}/visits", w.signedInAPI(w.apiAddVisit, console.RoleSocialWorker))
	m.HandleFunc("GET "+api+"/accounts", w.signedInAPI(w.apiAccounts, console.RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts", w.signedInAPI(w.apiCreateAccount, console.RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts/{id}/disabled", w.signedInAPI(w.apiSetDisabled, console.RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts/{id}/password", w.signedInAPI(w.apiResetPassword, console.RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts/{id}/regions", w.signedInAPI(w.apiSetRegions, console.RoleAdmin))
	m.HandleFunc("GET "+api+"/audit", w.signedInAPI(w.apiAudit, console.RoleAdmin))
}

// securityHeaders sets what every answer carries. The CSP allows no inline
// script or style: the pages' JS and CSS are static files, and charts are
// SVG drawn with presentation attributes.
func securityHeaders(next http.Handler) http.Handler {
	const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := rw.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.URL.Path != "/" && len(r.URL.Path) > 8 && r.URL.Path[:8] == "/static/" {
			next.ServeHTTP(rw, r)
			return
		}
		// Pages show personal data: never keep them in a shared cache.
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(rw, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(rw, r)
	})
}

// audit appends to the audit log. Views of a resident's record are written
// before the page is sent and the page is refused when the entry cannot be
// written (an unrecorded view must not happen); for actions already done, a
// failure is logged.
func (w *web) audit(ctx context.Context, rc *reqCtx, action string, resident devices.ResidentID, incident, detail string) error {
	e := console.AuditEntry{At: w.cfg.Now().UTC(), Action: action, ResidentID: string(resident), IncidentID: incident, Detail: detail}
	if rc != nil {
		e.AccountID, e.Remote = rc.account.ID, rc.remote
	}
	// Written even when the client has gone: what was shown or done must
	// be on record.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := w.deps.Audit.AppendAudit(actx, e); err != nil {
		w.log.Error().Err(err).Str("action", action).Str("account_id", e.AccountID).Msg("audit entry not written")
		return fmt.Errorf("console: audit: %w", err)
	}
	return nil
}
