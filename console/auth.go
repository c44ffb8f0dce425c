package console

// Sign-in: password check, sessions in cookies, CSRF tokens, login rate
// limits, and the middleware that gives every page its account and rights.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

const (
	sessionCookie    = "dolbom_session"
	loginCSRFCookie  = "dolbom_login"
	langCookie       = "dolbom_lang"
	csrfField        = "csrf"
	csrfHeader       = "X-CSRF-Token"
	touchEvery       = time.Minute // a session's expiry moves at most this often (one write)
	maxFormBodyBytes = 64 << 10
)

// reqCtx is what a signed-in request knows about its person.
type reqCtx struct {
	account Account
	session Session
	lang    string
	remote  string
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux (Go >= 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashToken is what the database keeps of a session token: SHA-256 is
// enough for a 256-bit random value (no guessing to slow down).
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func equalTokens(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// HashPassword hashes a person's password with argon2id at
// PasswordParams.
func HashPassword(password string) string { return devices.HashSecret(password, PasswordParams) }

// checkPassword verifies a password with at most cap(hashSlots) hashes
// running at once.
func (w *web) checkPassword(ctx context.Context, hash, password string) bool {
	select {
	case w.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-w.hashSlots }()
	ok, err := devices.VerifySecret(hash, password)
	return err == nil && ok
}

func (w *web) cookie(name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: w.cfg.SecureCookies, SameSite: http.SameSiteStrictMode}
}

// session returns the signed-in person of r, or ok false.
func (w *web) session(r *http.Request) (rc *reqCtx, ok bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 100 {
		return nil, false
	}
	ctx := r.Context()
	th := hashToken(c.Value)
	s, err := w.deps.Accounts.GetSession(ctx, th)
	if err != nil {
		if !isNotFound(err) {
			w.log.Error().Err(err).Msg("session look-up failed")
		}
		return nil, false
	}
	now := w.cfg.Now()
	if !now.Before(s.ExpiresAt) {
		_ = w.deps.Accounts.DeleteSession(ctx, th)
		return nil, false
	}
	a, err := w.deps.Accounts.GetAccount(ctx, s.AccountID)
	if err != nil || a.Disabled {
		return nil, false
	}
	if now.Sub(s.LastSeen) >= touchEvery {
		expires := now.Add(w.cfg.SessionIdle)
		if limit := s.CreatedAt.Add(w.cfg.SessionMax); expires.After(limit) {
			expires = limit
		}
		if err := w.deps.Accounts.TouchSession(ctx, th, now, expires); err == nil {
			s.LastSeen, s.ExpiresAt = now, expires
		}
	}
	return &reqCtx{account: a, session: s, remote: remoteHost(r)}, true
}

func hasRole(role Role, roles []Role) bool {
	for _, r := range roles {
		if r == role {
			return true
		}
	}
	return false
}

// csrfOK checks the session's CSRF token in the form field or the header.
func csrfOK(r *http.Request, rc *reqCtx) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	token := r.Header.Get(csrfHeader)
	if token == "" {
		token = r.PostFormValue(csrfField)
	}
	return equalTokens(token, rc.session.CSRFToken)
}

type pageHandler func(rw http.ResponseWriter, r *http.Request, rc *reqCtx)

// signedIn wraps a page: without a session it sends the person to the
// login page; with a role not in roles the page does not exist for them
// (404, the same as a resident who is not theirs); a state-changing
// request without the session's CSRF token is refused (403).
func (w *web) signedIn(h pageHandler, roles ...Role) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		lang := w.language(rw, r)
		rc, ok := w.session(r)
		if !ok {
			if r.Method == http.MethodGet {
				http.Redirect(rw, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			w.errorPage(rw, r, &reqCtx{lang: lang}, http.StatusForbidden)
			return
		}
		rc.lang = lang
		if !hasRole(rc.account.Role, roles) {
			w.errorPage(rw, r, rc, http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(rw, r.Body, maxFormBodyBytes)
			if !csrfOK(r, rc) {
				w.log.Warn().Str("account_id", rc.account.ID).Str("path", r.URL.Path).Msg("csrf token missing or wrong")
				w.errorPage(rw, r, rc, http.StatusForbidden)
				return
			}
		}
		h(rw, r, rc)
	}
}

// signedInAPI is signedIn for the JSON API: 401 without a session, 404 for
// a role not allowed, 403 without the X-CSRF-Token header on writes.
func (w *web) signedInAPI(h pageHandler, roles ...Role) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rc, ok := w.session(r)
		if !ok {
			writeError(rw, &apiError{status: http.StatusUnauthorized, Msg: "sign in first"})
			return
		}
		rc.lang = "en"
		if !hasRole(rc.account.Role, roles) {
			writeError(rw, &apiError{status: http.StatusNotFound, Msg: "not found"})
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(rw, r.Body, maxFormBodyBytes)
			if !equalTokens(r.Header.Get(csrfHeader), rc.session.CSRFToken) {
				writeError(rw, &apiError{status: http.StatusForbidden, Msg: "missing or wrong " + csrfHeader + " header"})
				return
			}
		}
		h(rw, r, rc)
	}
}

// language is "ko" unless ?lang=en or the language cookie says otherwise;
// ?lang= also sets the cookie.
func (w *web) language(rw http.ResponseWriter, r *http.Request) string {
	if q := r.URL.Query().Get("lang"); q == "ko" || q == "en" {
		c := w.cookie(langCookie, q, 365*24*3600)
		c.HttpOnly = false
		http.SetCookie(rw, c)
		return q
	}
	if c, err := r.Cookie(langCookie); err == nil && c.Value == "en" {
		return "en"
	}
	return "ko"
}

func (w *web) loginPage(rw http.ResponseWriter, r *http.Request) {
	lang := w.language(rw, r)
	if _, ok := w.session(r); ok {
		http.Redirect(rw, r, "/", http.StatusSeeOther)
		return
	}
	w.renderLogin(rw, r, lang, http.StatusOK, "", r.URL.Query().Get("next"))
}

// renderLogin shows the form with a fresh login CSRF token, sent both in a
// cookie and in the form (double submit): a cross-site page cannot read
// the cookie to forge the field, so it cannot sign a victim in as someone
// else.
func (w *web) renderLogin(rw http.ResponseWriter, r *http.Request, lang string, status int, msg, next string) {
	token := randomToken()
	http.SetCookie(rw, w.cookie(loginCSRFCookie, token, 3600))
	w.render(rw, r, "login", status, &reqCtx{lang: lang}, map[string]any{"CSRF": token, "Error": msg, "Next": safeNext(next)})
}

// safeNext keeps a redirect after login on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return ""
	}
	return next
}

func (w *web) login(rw http.ResponseWriter, r *http.Request) {
	lang := w.language(rw, r)
	r.Body = http.MaxBytesReader(rw, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		w.renderLogin(rw, r, lang, http.StatusBadRequest, "login.failed", "")
		return
	}
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !equalTokens(r.PostFormValue(csrfField), c.Value) {
		w.renderLogin(rw, r, lang, http.StatusForbidden, "login.expired", r.PostFormValue("next"))
		return
	}
	id := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	password := r.PostFormValue("password")
	next := r.PostFormValue("next")
	addr := remoteHost(r)
	now := w.cfg.Now()
	if len(id) > devices.MaxIDLen || len(password) > 1024 {
		w.renderLogin(rw, r, lang, http.StatusUnauthorized, "login.failed", next)
		return
	}
	if !w.limiter.allowed(id, addr, now) {
		w.log.Warn().Str("account_id", id).Str("remote", addr).Msg("login refused: too many failures")
		_ = w.audit(r.Context(), &reqCtx{account: Account{ID: orUnknown(id)}, remote: addr}, "login.limited", "", "", "")
		w.renderLogin(rw, r, lang, http.StatusTooManyRequests, "login.limited", next)
		return
	}
	a, err := w.deps.Accounts.GetAccount(r.Context(), id)
	hash := a.PasswordHash
	if err != nil || a.Disabled {
		hash = w.dummyHash
	}
	if !w.checkPassword(r.Context(), hash, password) || err != nil || a.Disabled {
		w.limiter.fail(id, addr, now)
		_ = w.audit(r.Context(), &reqCtx{account: Account{ID: orUnknown(id)}, remote: addr}, "login.failed", "", "", "")
		w.renderLogin(rw, r, lang, http.StatusUnauthorized, "login.failed", next)
		return
	}
	w.limiter.succeed(id)
	token := randomToken()
	s := Session{TokenHash: hashToken(token), AccountID: a.ID, CSRFToken: randomToken(), Remote: addr,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(min(w.cfg.SessionIdle, w.cfg.SessionMax))}
	if err := w.deps.Accounts.CreateSession(r.Context(), s); err != nil {
		w.log.Error().Err(err).Msg("create session")
		w.errorPage(rw, r, &reqCtx{lang: lang}, http.StatusInternalServerError)
		return
	}
	rc := &reqCtx{account: a, session: s, remote: addr, lang: lang}
	_ = w.audit(r.Context(), rc, "login", "", "", "")
	http.SetCookie(rw, w.cookie(sessionCookie, token, 0))
	http.SetCookie(rw, w.cookie(loginCSRFCookie, "", -1))
	if next = safeNext(next); next == "" {
		next = "/"
	}
	http.Redirect(rw, r, next, http.StatusSeeOther)
}

func orUnknown(id string) string {
	if id == "" {
		return "(empty)"
	}
	return id
}

func (w *web) logout(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if err := w.deps.Accounts.DeleteSession(r.Context(), rc.session.TokenHash); err != nil {
		w.log.Error().Err(err).Msg("delete session")
		w.errorPage(rw, r, rc, http.StatusInternalServerError)
		return
	}
	_ = w.audit(r.Context(), rc, "logout", "", "", "")
	http.SetCookie(rw, w.cookie(sessionCookie, "", -1))
	http.Redirect(rw, r, "/login", http.StatusSeeOther)
}

// loginLimiter counts failed logins per account and per client address in
// fixed windows. It lives in memory: a restart forgets the counts, which
// costs an attacker at most one more window of guesses per restart.
type loginLimiter struct {
	mu                  sync.Mutex
	perAccount, perAddr int
	window              time.Duration
	failures            map[string]*failureWindow
	lastPrune           time.Time
}

type failureWindow struct {
	start time.Time
	count int
}

func newLoginLimiter(perAccount, perAddr int, window time.Duration) *loginLimiter {
	return &loginLimiter{perAccount: perAccount, perAddr: perAddr, window: window, failures: map[string]*failureWindow{}}
}

func (l *loginLimiter) count(key string, now time.Time) int {
	f := l.failures[key]
	if f == nil || now.Sub(f.start) >= l.window {
		return 0
	}
	return f.count
}

func (l *loginLimiter) allowed(account, addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count("a:"+account, now) < l.perAccount && l.count("ip:"+addr, now) < l.perAddr
}

func (l *loginLimiter) fail(account, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range []string{"a:" + account, "ip:" + addr} {
		f := l.failures[key]
		if f == nil || now.Sub(f.start) >= l.window {
			f = &failureWindow{start: now}
			l.failures[key] = f
		}
		f.count++
	}
	// Forget finished windows now and then, so that a spray of made-up
	// account names cannot grow the map for ever.
	if now.Sub(l.lastPrune) >= l.window {
		for k, f := range l.failures {
			if now.Sub(f.start) >= l.window {
				delete(l.failures, k)
			}
		}
		l.lastPrune = now
	}
}

// succeed clears the account's failures; the address's stay, so that one
// valid account does not reset a spray across many accounts.
func (l *loginLimiter) succeed(account string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, "a:"+account)
}
