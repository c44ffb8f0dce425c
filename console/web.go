package console

// The web console: server-rendered pages for social workers, dispatchers
// and admins, and the JSON API behind the same sign-in and rights. Mount
// NewWeb at "/"; the admin API (APIPrefix) keeps its own bearer token.

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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

//go:embed web/templates/*.html web/static/*
var webFiles embed.FS

// Role is what an account may do.
type Role string

const (
	// RoleDispatcher works the incident queue (119 and the monitoring
	// centre). Medical and access details are shown only while the
	// resident has an open incident.
	RoleDispatcher Role = "dispatcher"
	// RoleSocialWorker looks after the residents whose SocialWorkerID is
	// the account's id, and no one else.
	RoleSocialWorker Role = "social_worker"
	// RoleAdmin manages accounts and reads the audit log.
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleDispatcher || r == RoleSocialWorker || r == RoleAdmin }

// Account is a person who signs in. ID is the login name, and what
// devices.Resident.SocialWorkerID names.
type Account struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash string    `json:"-"`
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
}

// Session is one signed-in browser. Only a hash of the cookie's token is
// stored.
type Session struct {
	TokenHash string
	AccountID string
	CSRFToken string
	Remote    string
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
}

// AccountStore keeps accounts and sessions. Missing records wrap
// devices.ErrNotFound; a taken id wraps devices.ErrConflict.
type AccountStore interface {
	CreateAccount(ctx context.Context, a Account) error
	GetAccount(ctx context.Context, id string) (Account, error)
	ListAccounts(ctx context.Context) ([]Account, error)
	CountAccounts(ctx context.Context) (int, error)
	SetAccountDisabled(ctx context.Context, id string, disabled bool) error
	// SetAccountPassword also ends every session of the account.
	SetAccountPassword(ctx context.Context, id, hash string) error

	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session expired or not; the console checks
	// the expiry against its own clock.
	GetSession(ctx context.Context, tokenHash string) (Session, error)
	TouchSession(ctx context.Context, tokenHash string, lastSeen, expires time.Time) error
	DeleteSession(ctx context.Context, tokenHash string) error
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
	AccountID  string    `json:"account_id"`
	Action     string    `json:"action"`
	ResidentID string    `json:"resident_id,omitempty"`
	IncidentID string    `json:"incident_id,omitempty"`
	Remote     string    `json:"remote,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

// AuditQuery selects audit entries, newest first.
type AuditQuery struct {
	ResidentID string
	AccountID  string
	Before     int64 // entries with Seq below this; 0 for the newest
	Limit      int
}

// AuditLog is the append-only record of who saw or did what.
type AuditLog interface {
	AppendAudit(ctx context.Context, e AuditEntry) error
	ListAudit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
}

// VisitKind is a home visit or a phone call.
type VisitKind string

const (
	VisitHome VisitKind = "visit"
	VisitCall VisitKind = "call"
)

// Visit is one contact of a social worker with a resident.
type Visit struct {
	ID         string             `json:"id"`
	ResidentID devices.ResidentID `json:"resident_id"`
	Kind       VisitKind          `json:"kind"`
	At         time.Time          `json:"at"`
	AccountID  string             `json:"account_id"`
	Notes      string             `json:"notes,omitempty"`
	Next       time.Time          `json:"next,omitzero"` // the next contact scheduled
}

// VisitSummary is a resident's latest visit and call and the next contact
// scheduled; zero times mean never or none.
type VisitSummary struct {
	ResidentID devices.ResidentID
	LastVisit  time.Time
	LastCall   time.Time
	Next       time.Time
}

// VisitLog keeps the visits and calls.
type VisitLog interface {
	// AddVisit stores v, setting v.ID.
	AddVisit(ctx context.Context, v *Visit) error
	// ListVisits returns the latest first.
	ListVisits(ctx context.Context, resident devices.ResidentID, limit int) ([]Visit, error)
	// VisitSummaries covers every resident of the social worker who has any
	// visit or call on record.
	VisitSummaries(ctx context.Context, socialWorkerID string) ([]VisitSummary, error)
}

// ResidentReader is the part of Registry the pages read; the store (and so
// the gateway's registry over it) satisfies it.
type ResidentReader interface {
	GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error)
	ListResidents(ctx context.Context, q ListQuery) ([]devices.Resident, error)
	ListHubs(ctx context.Context, q ListQuery) ([]devices.Hub, error)
}

// HourlyPoint summarises one metric over every sensor of a resident's hubs
// for one hour.
type HourlyPoint struct {
	Hour               time.Time
	Count              int64
	Sum, Min, Max, Avg float64
}

// ActivityWindow is a resident's motion in the recent window and in the
// baseline before it, with the hours that had any data in each.
type ActivityWindow struct {
	ResidentID    devices.ResidentID
	RecentSum     float64
	RecentHours   int
	BaselineSum   float64
	BaselineHours int
}

// Wellbeing reads the hourly rollups of what the sensors measured.
type Wellbeing interface {
	ResidentHourly(ctx context.Context, resident devices.ResidentID, metric devices.Metric, from, to time.Time) ([]HourlyPoint, error)
	// CaseloadActivity covers every resident of the social worker with
	// motion data in [from, to), split into [from, split) and [split, to).
	CaseloadActivity(ctx context.Context, socialWorkerID string, from, split, to time.Time) ([]ActivityWindow, error)
}

// IncidentSummary is what the social worker's pages show of an incident.
// Dispatch fills it once wired.
type IncidentSummary struct {
	ID         string             `json:"id"`
	ResidentID devices.ResidentID `json:"resident_id"`
	Cause      string             `json:"cause"`
	Priority   int                `json:"priority"`
	State      string             `json:"state"`
	OpenedAt   time.Time          `json:"opened_at"`
	ClosedAt   time.Time          `json:"closed_at,omitzero"`
	Summary    string             `json:"summary,omitempty"` // one line, in the resident's language
}

// IncidentLister lists the open incidents of some residents (the "Today"
// page: ~360 residents at once).
type IncidentLister interface {
	OpenIncidentsForResidents(ctx context.Context, residents []devices.ResidentID) ([]IncidentSummary, error)
}

// IncidentHistory lists a resident's incidents, newest first.
type IncidentHistory interface {
	IncidentsOfResident(ctx context.Context, resident devices.ResidentID, limit int) ([]dispatch.Incident, error)
}

// OpenIncidentChecker tells whether a resident has an open incident now:
// only then does a dispatcher see their medical and access details.
type OpenIncidentChecker interface {
	OpenIncident(ctx context.Context, resident devices.ResidentID) bool
}

// WebDeps are the ports of the web console. Accounts, Audit, Residents
// are required; a nil incident port shows empty lists (and never reveals
// medical details to a dispatcher); a nil Health, Wellbeing or Visits hides
// that part of the pages.
type WebDeps struct {
	Accounts     AccountStore
	Audit        AuditLog
	Residents    ResidentReader
	Visits       VisitLog
	Caseload     CaseloadReader // Today's ranking and the caseload report; nil: neither uses incidents or visits of a period
	Wellbeing    Wellbeing
	Health       HealthReader
	Incidents    IncidentLister
	History      IncidentHistory
	OpenIncident OpenIncidentChecker
	// The dispatcher's console and the reports (web_dispatch.go,
	// web_reports.go): a nil Desk hides the queue and incident pages, a nil
	// Evidence draws no evidence chart, a nil Reports shows no reports.
	Desk     WebDesk
	Evidence EvidenceReader
	Reports  ReportSource
	// Registry, when set, lets admins create and edit residents, hubs and
	// sensors in the pages (web_registry.go), through the same checks as
	// the admin API; nil: the registry is edited through the API only.
	Registry Registry
	// Hubs, when set with Registry, lets the pages disable a hub and
	// replace its secret (each ends the hub's live session).
	Hubs HubControl
}

// WebConfig configures the web console. Zero values take the defaults
// noted.
type WebConfig struct {
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

// PasswordParams are argon2id parameters for people's passwords: OWASP's
// recommended minimum (19 MiB, 2 passes, 1 lane). Unlike hub secrets,
// passwords are chosen by people and guessable, so every stolen hash must
// cost an attacker real memory and time per guess.
var PasswordParams = devices.SecretParams{Time: 2, Memory: 19 * 1024, Threads: 1}

func (c *WebConfig) setDefaults() {
	if c.SessionIdle <= 0 {
		c.SessionIdle = 8 * time.Hour
	}
	if c.SessionMax <= 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.PasswordParams == (devices.SecretParams{}) {
		c.PasswordParams = PasswordParams
	}
	if c.AccountFailures <= 0 {
		c.AccountFailures = 5
	}
	if c.AddressFailures <= 0 {
		c.AddressFailures = 20
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = 15 * time.Minute
	}
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
	cfg      WebConfig
	deps     WebDeps
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
	mux       *http.ServeMux
}

// Web is the web console: mount it at "/" and run Run while it serves.
type Web struct {
	w       *web
	handler http.Handler
}

func (h *Web) ServeHTTP(rw http.ResponseWriter, r *http.Request) { h.handler.ServeHTTP(rw, r) }

// auditTick is how often Run looks for refused sign-ins to summarise; the
// rows are due once a minute.
const auditTick = 5 * time.Second

// Run writes the audit rows of refused sign-ins that are summed per
// minute (LoginAuditRowsPerMinute), and what is left when ctx ends.
func (h *Web) Run(ctx context.Context) error {
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

// NewWeb returns the web console, to mount at "/". Its routes: /login,
// /logout, /today, /residents, /residents/{id}, /reports, /admin/accounts,
// /admin/audit, /static/, and the JSON API under /console/api/
// (docs/console.md).
func NewWeb(cfg WebConfig, deps WebDeps) (*Web, error) {
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
		mux:       http.NewServeMux(),
	}
	// Unknown accounts are checked against this hash so that a failed login
	// takes as long whether or not the account exists.
	w.dummyHash = devices.HashSecret(devices.NewSecret(), cfg.PasswordParams)
	var err error
	if w.pages, err = parsePages(); err != nil {
		return nil, err
	}
	static, err := fs.Sub(webFiles, "web/static")
	if err != nil {
		return nil, fmt.Errorf("console: web: %w", err)
	}
	w.static = http.StripPrefix("/static/", http.FileServerFS(static))
	w.routes()
	return &Web{w: w, handler: securityHeaders(w.mux)}, nil
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
	m.HandleFunc("POST /logout", w.signedIn(w.logout, RoleDispatcher, RoleSocialWorker, RoleAdmin))
	m.HandleFunc("GET /{$}", w.signedIn(w.home, RoleDispatcher, RoleSocialWorker, RoleAdmin))

	m.HandleFunc("GET /today", w.signedIn(w.today, RoleSocialWorker))
	m.HandleFunc("GET /residents", w.signedIn(w.residentList, RoleSocialWorker, RoleDispatcher, RoleAdmin))
	m.HandleFunc("GET /residents/{id}", w.signedIn(w.residentPage, RoleSocialWorker, RoleDispatcher, RoleAdmin))
	m.HandleFunc("POST /residents/{id}/visits", w.signedIn(w.addVisit, RoleSocialWorker))
	w.dispatchRoutes()
	w.reportRoutes()
	w.registryRoutes()

	m.HandleFunc("GET /admin/accounts", w.signedIn(w.accountsPage, RoleAdmin))
	m.HandleFunc("POST /admin/accounts", w.signedIn(w.createAccountForm, RoleAdmin))
	m.HandleFunc("POST /admin/accounts/{id}/disabled", w.signedIn(w.setDisabledForm, RoleAdmin))
	m.HandleFunc("POST /admin/accounts/{id}/password", w.signedIn(w.resetPasswordForm, RoleAdmin))
	m.HandleFunc("GET /admin/audit", w.signedIn(w.auditPage, RoleAdmin))

	const api = "/console/api"
	all := []Role{RoleDispatcher, RoleSocialWorker, RoleAdmin}
	m.HandleFunc("GET "+api+"/me", w.signedInAPI(w.apiMe, all...))
	m.HandleFunc("GET "+api+"/residents", w.signedInAPI(w.apiResidents, all...))
	m.HandleFunc("GET "+api+"/residents/{id}", w.signedInAPI(w.apiResident, all...))
	m.HandleFunc("GET "+api+"/residents/{id}/visits", w.signedInAPI(w.apiVisits, RoleSocialWorker))
	m.HandleFunc("POST "+api+"/residents/{id}/visits", w.signedInAPI(w.apiAddVisit, RoleSocialWorker))
	m.HandleFunc("GET "+api+"/accounts", w.signedInAPI(w.apiAccounts, RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts", w.signedInAPI(w.apiCreateAccount, RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts/{id}/disabled", w.signedInAPI(w.apiSetDisabled, RoleAdmin))
	m.HandleFunc("POST "+api+"/accounts/{id}/password", w.signedInAPI(w.apiResetPassword, RoleAdmin))
	m.HandleFunc("GET "+api+"/audit", w.signedInAPI(w.apiAudit, RoleAdmin))
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
	e := AuditEntry{At: w.cfg.Now().UTC(), Action: action, ResidentID: string(resident), IncidentID: incident, Detail: detail}
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

func isNotFound(err error) bool { return errors.Is(err, devices.ErrNotFound) }

func isConflict(err error) bool { return errors.Is(err, devices.ErrConflict) }

func isInvalid(err error) bool { return errors.Is(err, devices.ErrInvalid) }
