package web

// Sign-in: password check, sessions in cookies, CSRF tokens, login rate
// limits, and the middleware that gives every page its account and rights.

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
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
	maxPasswordLen   = 1024
)

// reqCtx is what a signed-in request knows about its person.
type reqCtx struct {
	account console.Account
	session console.Session
	lang    string
	remote  string
}

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
	th := console.HashToken(c.Value)
	s, err := w.deps.Accounts.GetSession(ctx, th)
	if err != nil {
		if !errors.Is(err, devices.ErrNotFound) {
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
	remote, _ := w.clientOf(r)
	return &reqCtx{account: a, session: s, remote: remote}, true
}

func hasRole(role console.Role, roles []console.Role) bool {
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
	return console.EqualTokens(token, rc.session.CSRFToken)
}

type pageHandler func(rw http.ResponseWriter, r *http.Request, rc *reqCtx)

// signedIn wraps a page: without a session it sends the person to the
// login page; with a role not in roles the page does not exist for them
// (404, the same as a resident who is not theirs); a state-changing
// request without the session's CSRF token is refused (403).
func (w *web) signedIn(h pageHandler, roles ...console.Role) http.HandlerFunc {
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
func (w *web) signedInAPI(h pageHandler, roles ...console.Role) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rc, ok := w.session(r)
		if !ok {
			api.WriteError(rw, &api.Error{Status: http.StatusUnauthorized, Msg: "sign in first"})
			return
		}
		rc.lang = "en"
		if !hasRole(rc.account.Role, roles) {
			api.WriteError(rw, &api.Error{Status: http.StatusNotFound, Msg: "not found"})
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(rw, r.Body, maxFormBodyBytes)
			if !console.EqualTokens(r.Header.Get(csrfHeader), rc.session.CSRFToken) {
				api.WriteError(rw, &api.Error{Status: http.StatusForbidden, Msg: "missing or wrong " + csrfHeader + " header"})
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

// loginFormLife is how long a login form's token is accepted.
const loginFormLife = time.Hour

// renderLogin shows the form with a fresh login CSRF token. The cookie
// holds a random pre-session id; the form holds the time and an HMAC of
// both under the console's key. A cross-site page can neither read the
// cookie nor make up a pair the server accepts (a double submit of any
// equal values would be), so it cannot sign a victim in as someone else.
func (w *web) renderLogin(rw http.ResponseWriter, r *http.Request, lang string, status int, msg, next string) {
	preSession := console.RandomToken()
	http.SetCookie(rw, w.cookie(loginCSRFCookie, preSession, int(loginFormLife/time.Second)))
	token := w.loginToken(preSession, w.cfg.Now())
	w.render(rw, r, "login", status, &reqCtx{lang: lang}, map[string]any{"CSRF": token, "Error": msg, "Next": w.safeNext(next)})
}

// loginToken is "<unix seconds>.<HMAC-SHA256 of the pre-session and the
// seconds>".
func (w *web) loginToken(preSession string, issued time.Time) string {
	ts := strconv.FormatInt(issued.Unix(), 10)
	m := hmac.New(sha256.New, w.loginKey)
	m.Write([]byte(preSession))
	m.Write([]byte{0})
	m.Write([]byte(ts))
	return ts + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// loginTokenOK tells whether token was issued by this console (or one
// sharing its key) with preSession, within loginFormLife of now.
func (w *web) loginTokenOK(preSession, token string, now time.Time) bool {
	if preSession == "" || len(preSession) > 100 || len(token) > 100 {
		return false
	}
	ts, _, _ := strings.Cut(token, ".")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	issued := time.Unix(sec, 0)
	// A minute of slack for gateways whose clocks differ a little.
	if age := now.Sub(issued); age < -time.Minute || age > loginFormLife {
		return false
	}
	return hmac.Equal([]byte(token), []byte(w.loginToken(preSession, issued)))
}

// maxNextLen bounds the page to return to after signing in.
const maxNextLen = 1024

// safeNext returns next when it is a plain absolute path on this site, or
// "". Browsers repair URLs: they drop tabs and newlines, read a backslash
// as a slash and "//host" as another site, so "/\t/evil.example" leaves
// the site. Anything unusual is refused rather than repaired: control or
// invisible characters, backslashes, "//" (also percent-encoded), a
// scheme, a host.
func safeNext(next string) string {
	if next == "" || len(next) > maxNextLen || next[0] != '/' || !utf8.ValidString(next) ||
		strings.Contains(next, "//") || strings.IndexFunc(next, unsafeInURL) >= 0 {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.Contains(u.Path, "//") || strings.IndexFunc(u.Path, unsafeInURL) >= 0 {
		return ""
	}
	return next
}

func unsafeInURL(r rune) bool { return r == '\\' || r == ' ' || !unicode.IsPrint(r) }

// safeNext is safeNext, counting what it refuses.
func (w *web) safeNext(next string) string {
	safe := safeNext(next)
	if safe == "" && next != "" {
		w.metrics.badRedirect.Inc()
	}
	return safe
}

// login checks a sign-in. Refusals cost the server a counter and, within
// LoginAuditRowsPerMinute, an audit row; only a request that passes the
// form token and the limits costs a password hash.
func (w *web) login(rw http.ResponseWriter, r *http.Request) {
	lang := w.language(rw, r)
	r.Body = http.MaxBytesReader(rw, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		w.metrics.loginRefused.WithLabelValues(refusedBadForm).Inc()
		w.renderLogin(rw, r, lang, http.StatusBadRequest, "login.bad_form", "")
		return
	}
	next := r.PostFormValue("next")
	now := w.cfg.Now()
	c, err := r.Cookie(loginCSRFCookie)
	if err != nil || !w.loginTokenOK(c.Value, r.PostFormValue(csrfField), now) {
		w.metrics.loginRefused.WithLabelValues(refusedCSRF).Inc()
		w.renderLogin(rw, r, lang, http.StatusForbidden, "login.expired", next)
		return
	}
	id := strings.ToLower(strings.TrimSpace(r.PostFormValue("username")))
	password := r.PostFormValue("password")
	remote, source := w.clientOf(r)
	if len(id) > devices.MaxIDLen || len(password) > maxPasswordLen {
		w.metrics.loginRefused.WithLabelValues(refusedTooLong).Inc()
		w.renderLogin(rw, r, lang, http.StatusBadRequest, "login.too_long", next)
		return
	}
	if verdict, retry := w.limiter.check(id, source, now); verdict != limitNone {
		reason, msg := refusedAddressLimited, "login.limited"
		if verdict == limitAccount {
			reason, msg = refusedAccountLimited, "login.account_limited"
		}
		w.metrics.loginRefused.WithLabelValues(reason).Inc()
		w.log.Debug().Str("account_id", id).Str("remote", remote).Str("reason", reason).Msg("login refused")
		w.writeAuditRows(r.Context(), w.refusals.refused(refusal{"login.limited", orUnknown(id), source}, now))
		rw.Header().Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		w.renderLogin(rw, r, lang, http.StatusTooManyRequests, msg, next)
		return
	}
	a, err := w.deps.Accounts.GetAccount(r.Context(), id)
	hash := a.PasswordHash
	if err != nil || a.Disabled {
		hash = w.dummyHash
	}
	if !w.checkPassword(r.Context(), hash, password) || err != nil || a.Disabled {
		w.limiter.fail(id, source, now)
		w.metrics.loginRefused.WithLabelValues(refusedWrongPassword).Inc()
		w.writeAuditRows(r.Context(), w.refusals.refused(refusal{"login.failed", orUnknown(id), source}, now))
		w.renderLogin(rw, r, lang, http.StatusUnauthorized, "login.failed", next)
		return
	}
	w.limiter.succeed(id, source)
	token := console.RandomToken()
	s := console.Session{TokenHash: console.HashToken(token), AccountID: a.ID, CSRFToken: console.RandomToken(), Remote: remote,
		CreatedAt: now, LastSeen: now, ExpiresAt: now.Add(min(w.cfg.SessionIdle, w.cfg.SessionMax))}
	if err := w.deps.Accounts.CreateSession(r.Context(), s); err != nil {
		w.log.Error().Err(err).Msg("create session")
		w.errorPage(rw, r, &reqCtx{lang: lang}, http.StatusInternalServerError)
		return
	}
	rc := &reqCtx{account: a, session: s, remote: remote, lang: lang}
	_ = w.audit(r.Context(), rc, "login", "", "", "")
	http.SetCookie(rw, w.cookie(sessionCookie, token, 0))
	http.SetCookie(rw, w.cookie(loginCSRFCookie, "", -1))
	if next = w.safeNext(next); next == "" {
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

// throttledGuesses is how many wrong passwords one client address may
// try on an account under attack within the window. A person mistypes once
// or twice; a botnet gets two guesses per address instead of as many as
// it likes, and the account's owner is never locked out by someone else.
const throttledGuesses = 2

// limitVerdict is what loginLimiter says of an attempt.
type limitVerdict int

const (
	limitNone    limitVerdict = iota
	limitAddress              // the client's address is over its own limit
	limitAccount              // the account is under attack and this address has had its guesses
)

// loginLimiter counts failed logins per client source (an IPv4 address or
// an IPv6 /64), per account, and per account and source, in fixed windows
// that start at a key's first failure. A source over its limit is refused
// outright. An account over its limit is "under attack": each source may
// then fail on it throttledGuesses times per window, and a source that has
// not is still checked, so the right password gets in. It lives in memory:
// a restart forgets the counts, which costs an attacker at most one more
// window of guesses per restart. Entries are added only after a password
// hash (at most two at a time), which bounds the map by the hash rate.
type loginLimiter struct {
	mu                    sync.Mutex
	perAccount, perSource int
	window                time.Duration
	failures              map[limitKey]*failureWindow
	lastPrune             time.Time
}

// limitKey is an account (source empty), a source (account empty), or
// both.
type limitKey struct{ account, source string }

type failureWindow struct {
	start time.Time
	count int
}

func newLoginLimiter(perAccount, perSource int, window time.Duration) *loginLimiter {
	return &loginLimiter{perAccount: perAccount, perSource: perSource, window: window, failures: map[limitKey]*failureWindow{}}
}

// count returns the failures of key in its current window and when that
// window ends.
func (l *loginLimiter) count(key limitKey, now time.Time) (int, time.Time) {
	f := l.failures[key]
	if f == nil || now.Sub(f.start) >= l.window {
		return 0, now
	}
	return f.count, f.start.Add(l.window)
}

// check tells whether an attempt on account from source may have its
// password checked, and if not, how long until it may.
func (l *loginLimiter) check(account, source string, now time.Time) (limitVerdict, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n, end := l.count(limitKey{source: source}, now); n >= l.perSource {
		return limitAddress, end.Sub(now)
	}
	if n, _ := l.count(limitKey{account: account}, now); n < l.perAccount {
		return limitNone, 0
	}
	if n, end := l.count(limitKey{account, source}, now); n >= throttledGuesses {
		return limitAccount, end.Sub(now)
	}
	return limitNone, 0
}

func (l *loginLimiter) fail(account, source string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, key := range []limitKey{{account: account}, {source: source}, {account, source}} {
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

// succeed clears the failures of the source on the account. The account's
// count stays, or the owner signing in would give an attacker a fresh set
// of guesses; the source's stays, so that one valid account does not reset
// a spray across many.
func (l *loginLimiter) succeed(account, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, limitKey{account, source})
}
