package web_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/web"
)

// Sign-in under attack: the lockout, the per-source limit behind a proxy,
// the audit rows refused sign-ins write, the login form's CSRF token and
// the redirect after sign-in (issue 12, "Faults and hostile input" 1, 2, 8).

// behindProxy makes the test server's own address (127.0.0.1, where every
// test request comes from) a trusted proxy, so that X-Forwarded-For names
// the browser.
func behindProxy(extra ...string) func(*web.Config) {
	return func(c *web.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		for _, p := range extra {
			c.TrustedProxies = append(c.TrustedProxies, netip.MustParsePrefix(p))
		}
	}
}

func (e *env) clientFrom(forwardedFor string) *client {
	c := e.client()
	c.forwardedFor = forwardedFor
	return c
}

// counter reads a counter of the console's registry (0 when absent).
func (e *env) counter(name string, labels ...string) float64 {
	e.t.Helper()
	families, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestLoginLockoutIsNotAWeapon(t *testing.T) {
	e := newEnv(t, behindProxy())
	attacker := e.clientFrom("203.0.113.7")
	for i := range 8 {
		want := http.StatusUnauthorized
		if i >= 5 {
			want = http.StatusTooManyRequests
		}
		if status := attacker.login("sw-kim", fmt.Sprintf("guess number %d", i)); status != want {
			t.Fatalf("attacker's guess %d: %d, want %d", i+1, status, want)
		}
	}
	// The account is under attack; its owner, elsewhere, still signs in,
	// and may mistype once first.
	if status := e.clientFrom("198.51.100.20").login("sw-kim", password); status != http.StatusSeeOther {
		t.Errorf("the owner from another address during the attack: %d, want 303", status)
	}
	owner := e.clientFrom("198.51.100.21")
	if status := owner.login("sw-kim", "a typo in it"); status != http.StatusUnauthorized {
		t.Errorf("the owner's typo: %d, want 401", status)
	}
	if status := owner.login("sw-kim", password); status != http.StatusSeeOther {
		t.Errorf("the owner after one typo: %d, want 303", status)
	}
	// The attacker is over its own limit: even the right password is not
	// checked for it, so it learns nothing.
	if status := attacker.login("sw-kim", password); status != http.StatusTooManyRequests {
		t.Errorf("the attacker with the right password: %d, want 429", status)
	}
	// A botnet gets two guesses per address at an account under attack.
	bot := e.clientFrom("192.0.2.50")
	for i, want := range []int{401, 401, 429} {
		if status := bot.login("sw-kim", fmt.Sprintf("bot guess %d", i)); status != want {
			t.Errorf("botnet address, guess %d: %d, want %d", i+1, status, want)
		}
	}
	// The owner's success did not reset the account's count: the attack
	// goes on, and the attacker's next fresh address still gets only two.
	bot2 := e.clientFrom("192.0.2.51")
	for i, want := range []int{401, 401, 429} {
		if status := bot2.login("sw-kim", fmt.Sprintf("bot guess %d", i)); status != want {
			t.Errorf("second botnet address, guess %d: %d, want %d", i+1, status, want)
		}
	}
	if got := e.counter("dolbom_console_login_refused_total", "reason", "account_limited"); got != 6 {
		t.Errorf("refusals counted as account_limited: %v, want 6", got)
	}
	e.advance(16 * time.Minute)
	if status := attacker.login("sw-kim", password); status != http.StatusSeeOther {
		t.Errorf("after the window: %d, want 303", status)
	}
}

func TestLoginSourceLimit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tune    []func(*web.Config)
		failing func(i int) string // X-Forwarded-For of the i-th failure
		refused []string           // later sources refused (429) with the right password
		allowed []string           // later sources that sign in
	}{
		{
			name:    "IPv6 grouped by /64",
			tune:    []func(*web.Config){behindProxy()},
			failing: func(i int) string { return fmt.Sprintf("2001:db8:1:2::%x", i+1) },
			refused: []string{"2001:db8:1:2:ffff:ffff:ffff:ffff"},
			allowed: []string{"2001:db8:1:3::1", "203.0.113.7"},
		},
		{
			name:    "IPv4 by address",
			tune:    []func(*web.Config){behindProxy()},
			failing: func(int) string { return "203.0.113.7" },
			refused: []string{"203.0.113.7", "::ffff:203.0.113.7"},
			allowed: []string{"203.0.113.8"},
		},
		{
			name:    "forwarded address from an untrusted peer is ignored",
			failing: func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) },
			refused: []string{"198.51.100.200", "203.0.113.7"},
		},
		{
			name:    "right-most untrusted hop: what the client wrote itself does not count",
			tune:    []func(*web.Config){behindProxy()},
			failing: func(i int) string { return fmt.Sprintf("10.9.9.%d, 203.0.113.7", i) },
			refused: []string{"192.0.2.1, 203.0.113.7"},
			allowed: []string{"203.0.113.7, 198.51.100.1"},
		},
		{
			name:    "a chain of trusted proxies",
			tune:    []func(*web.Config){behindProxy("10.0.0.0/8")},
			failing: func(int) string { return "203.0.113.7, 10.0.0.2" },
			refused: []string{"203.0.113.7, 10.9.9.9"},
			allowed: []string{"198.51.100.1, 10.0.0.2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Five failures per address (the default is 20) keep the test
			// short: each costs a password hash.
			e := newEnv(t, append(tc.tune, func(c *web.Config) { c.AddressFailures = 5 })...)
			for i := range 5 {
				if status := e.clientFrom(tc.failing(i)).login(fmt.Sprintf("guess-%d", i), "not the password"); status != http.StatusUnauthorized {
					t.Fatalf("failure %d: %d, want 401", i+1, status)
				}
			}
			for _, from := range tc.refused {
				if status := e.clientFrom(from).login("d-park", password); status != http.StatusTooManyRequests {
					t.Errorf("from %q after 5 failures: %d, want 429", from, status)
				}
			}
			for _, from := range tc.allowed {
				if status := e.clientFrom(from).login("d-park", password); status != http.StatusSeeOther {
					t.Errorf("from %q: %d, want 303", from, status)
				}
			}
		})
	}
}

// TestLoginAuditsTheClientAddress: the session and the audit log keep the
// browser's address as the trusted proxy reported it.
func TestLoginAuditsTheClientAddress(t *testing.T) {
	e := newEnv(t, behindProxy())
	e.clientFrom("192.0.2.9, 2001:db8::7").login("sw-kim", password)
	rows := e.audit(console.AuditQuery{AccountID: "sw-kim"})
	if len(rows) != 1 || rows[0].Action != "login" || rows[0].Remote != "2001:db8::7" {
		t.Errorf("audit = %+v, want one login from 2001:db8::7", rows)
	}
}

var auditCount = regexp.MustCompile(`(?:^|\s)count=(\d+)(?:\s|$)`)

// TestRefusedLoginsWriteBoundedAudit posts 300 refused sign-ins over five
// minutes: the audit log gets a bounded number of rows per minute, and
// their counts add up to every refusal.
func TestRefusedLoginsWriteBoundedAudit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    func(i int) string
		account func(i int) string
		maxRows int // in all
	}{
		{"one account from one address", func(int) string { return "203.0.113.7" }, func(int) string { return "sw-kim" }, 12},
		// Every post a new account: no two refusals share a row's key. Six
		// clock minutes see rows (10:00 to 10:05, then the final flush).
		{"made-up accounts from one address", func(int) string { return "203.0.113.7" }, func(i int) string { return fmt.Sprintf("guess-%d", i) }, 6*web.LoginAuditRowsPerMinute + 1},
		{"made-up accounts from three addresses", func(i int) string { return fmt.Sprintf("198.51.100.%d", i%3) }, func(i int) string { return fmt.Sprintf("guess-%d", i) }, 6*web.LoginAuditRowsPerMinute + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, behindProxy())
			start := e.clock()
			for i := range 300 {
				e.advance(time.Second)
				status := e.clientFrom(tc.from(i)).login(tc.account(i), "not the password")
				if status != http.StatusUnauthorized && status != http.StatusTooManyRequests {
					t.Fatalf("post %d: %d", i+1, status)
				}
			}
			e.stopWeb() // the last counts are written when the console stops
			rows := e.audit(console.AuditQuery{Limit: 1000})
			perMinute := map[time.Time]int{}
			total := 0
			uncounted := 0
			for _, r := range rows {
				if !strings.HasPrefix(r.Action, "login.") || r.At.Before(start) {
					t.Errorf("unexpected audit row %+v", r)
					continue
				}
				perMinute[r.At.Truncate(time.Minute)]++
				m := auditCount.FindStringSubmatch(r.Detail)
				if m == nil {
					uncounted++
					continue
				}
				n, _ := strconv.Atoi(m[1])
				total += n
			}
			if uncounted > 0 {
				t.Errorf("%d audit rows without a count", uncounted)
			}
			for minute, n := range perMinute {
				if n > web.LoginAuditRowsPerMinute+1 {
					t.Errorf("%d refused-login rows in the minute from %s, want at most %d", n, minute.Format("15:04"), web.LoginAuditRowsPerMinute+1)
				}
			}
			if len(rows) > tc.maxRows {
				t.Errorf("%d rows for 300 refused sign-ins, want at most %d", len(rows), tc.maxRows)
			}
			if total != 300 {
				t.Errorf("the rows count %d refusals, want 300", total)
			}
		})
	}
}

var loginCookie = regexp.MustCompile(`dolbom_login=([^;]+)`)

func TestLoginCSRFMustBeIssued(t *testing.T) {
	e := newEnv(t)
	// issued returns a login cookie and form token the server handed out.
	issued := func() (cookie, token string) {
		t.Helper()
		_, page, h := e.client().do("GET", "/login", nil, nil)
		m, c := csrfInput.FindStringSubmatch(page), loginCookie.FindStringSubmatch(h.Get("Set-Cookie"))
		if m == nil || c == nil {
			t.Fatalf("no login token in the page or cookie")
		}
		return c[1], m[1]
	}
	c1, t1 := issued()
	c2, _ := issued()
	for _, tc := range []struct {
		name          string
		cookie, token string
		after         time.Duration
		want          int
	}{
		{"made-up pair", "made-up", "made-up", 0, http.StatusForbidden},
		{"made-up long pair", strings.Repeat("A", 43), strings.Repeat("A", 43), 0, http.StatusForbidden},
		{"cookie copied into the form", c1, c1, 0, http.StatusForbidden},
		{"issued token with another browser's cookie", c2, t1, 0, http.StatusForbidden},
		{"issued token without its cookie", "", t1, 0, http.StatusForbidden},
		{"issued pair two hours later", c1, t1, 2 * time.Hour, http.StatusForbidden},
		{"issued pair", c1, t1, 0, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.after > 0 {
				e.advance(tc.after)
				defer e.advance(-tc.after)
			}
			header := map[string]string{}
			if tc.cookie != "" {
				header["Cookie"] = "dolbom_login=" + tc.cookie
			}
			status, _, _ := e.client().do("POST", "/login", url.Values{"csrf": {tc.token}, "username": {"sw-kim"}, "password": {password}}, header)
			if status != tc.want {
				t.Errorf("%d, want %d", status, tc.want)
			}
		})
	}
	if got := e.counter("dolbom_console_login_refused_total", "reason", "csrf"); got != 6 {
		t.Errorf("refusals counted as csrf: %v, want 6", got)
	}
}

func TestLoginRedirectStaysOnSite(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ next, want string }{
		{"/today", "/today"},
		{"/residents?q=%EA%B9%80&lang=en", "/residents?q=%EA%B9%80&lang=en"},
		{"", "/"},
		{"/\t/evil.example", "/"},
		{"/%09/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"//evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/today/..//evil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"http:/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{" /today", "/"},
		{"/today\r\nSet-Cookie: x=1", "/"},
		{"today", "/"},
	} {
		t.Run(fmt.Sprintf("%q", tc.next), func(t *testing.T) {
			c := e.client()
			// The victim follows a link to the login page; the form carries
			// next on to the POST.
			_, page := c.get("/login?next=" + url.QueryEscape(tc.next))
			m := csrfInput.FindStringSubmatch(page)
			if m == nil {
				t.Fatal("no csrf field")
			}
			if tc.want == "/" && tc.next != "" && strings.Contains(page, `name="next" value="`+attrEscaped(tc.next)) {
				t.Errorf("the login page carries the unsafe next %q", tc.next)
			}
			// Sent by the transport itself: http.Client fails on a Location
			// it cannot parse, and that Location is what is checked here.
			form := url.Values{"csrf": {m[1]}, "username": {"sw-kim"}, "password": {password}, "next": {tc.next}}
			req, _ := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range c.http.Jar.Cookies(req.URL) {
				req.AddCookie(ck)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != tc.want {
				t.Errorf("next=%q: %d Location %q, want 303 %q", tc.next, resp.StatusCode, resp.Header.Get("Location"), tc.want)
			}
		})
	}
	// Each unsafe next is refused twice: on the login page and at the POST.
	if got := e.counter("dolbom_console_bad_redirect_total"); got != 2*14 {
		t.Errorf("refused redirects counted: %v, want %d", got, 2*14)
	}
}

// attrEscaped is how html/template writes s into an attribute, near enough
// for the checks above (they only use characters it leaves alone or the
// ones it escapes here).
func attrEscaped(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;").Replace(s)
}
