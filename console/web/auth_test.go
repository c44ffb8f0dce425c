package web

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

func TestLoginLimiter(t *testing.T) {
	type step struct {
		at              time.Duration
		account, source string
		op              string // "fail", "ok" (succeed), or "check"
		want            limitVerdict
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"an account under attack still lets another address in", []step{
			{0, "kim", "a", "fail", 0}, {0, "kim", "a", "fail", 0}, {0, "kim", "a", "fail", 0},
			{0, "kim", "a", "check", limitAccount},
			{0, "kim", "b", "check", limitNone},
			{0, "kim", "b", "fail", 0}, {0, "kim", "b", "check", limitNone},
			{0, "kim", "b", "fail", 0}, {0, "kim", "b", "check", limitAccount},
			{0, "lee", "a", "check", limitNone},
		}},
		{"a success clears its address's failures, not the account's", []step{
			{0, "kim", "a", "fail", 0}, {0, "kim", "a", "fail", 0}, {0, "kim", "b", "fail", 0},
			{0, "kim", "b", "ok", 0},
			{0, "kim", "a", "check", limitAccount},
			{0, "kim", "b", "check", limitNone},
		}},
		{"an address over its limit is refused on every account", []step{
			{0, "p", "a", "fail", 0}, {0, "q", "a", "fail", 0}, {0, "r", "a", "fail", 0}, {0, "s", "a", "fail", 0}, {0, "t", "a", "fail", 0},
			{0, "u", "a", "check", limitAddress},
			{0, "u", "b", "check", limitNone},
		}},
		{"windows end", []step{
			{0, "kim", "a", "fail", 0}, {0, "kim", "a", "fail", 0}, {0, "kim", "a", "fail", 0},
			{59 * time.Second, "kim", "a", "check", limitAccount},
			{time.Minute, "kim", "a", "check", limitNone},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoginLimiter(3, 5, time.Minute)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "fail":
					l.fail(s.account, s.source, now)
				case "ok":
					l.succeed(s.account, s.source)
				default:
					if got, _ := l.check(s.account, s.source, now); got != s.want {
						t.Errorf("step %d: check(%s, %s) = %d, want %d", i, s.account, s.source, got, s.want)
					}
				}
			}
		})
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	l := newLoginLimiter(1, 5, 15*time.Minute)
	l.fail("kim", "a", t0)
	l.fail("kim", "a", t0.Add(time.Minute))
	if v, retry := l.check("kim", "a", t0.Add(5*time.Minute)); v != limitAccount || retry != 10*time.Minute {
		t.Errorf("check = %d, retry after %s; want account limited for 10m", v, retry)
	}
}

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // prefixes joined by " ", or an error's text
	}{
		{"", ""},
		{"10.0.0.0/8, 192.168.1.7 fd00::/8", "10.0.0.0/8 192.168.1.7/32 fd00::/8"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"2001:db8::1", "2001:db8::1/128"},
		{"proxy.example", `"proxy.example": want an address or a CIDR prefix`},
		{"10.0.0.0/33", `"10.0.0.0/33": want an address`},
		{"fe80::1%eth0", `"fe80::1%eth0": want an address`},
		{"0.0.0.0/0", `"0.0.0.0/0" trusts every address`},
		{"::/0", `"::/0" trusts every address`},
	} {
		got, err := ParseTrustedProxies(tc.in)
		var text []string
		for _, p := range got {
			text = append(text, p.String())
		}
		s := strings.Join(text, " ")
		if err != nil {
			s = err.Error()
		}
		if !strings.Contains(s, tc.want) || (tc.want == "" && s != "") {
			t.Errorf("ParseTrustedProxies(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

func TestResolveClient(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	many := strings.TrimSuffix(strings.Repeat("10.0.0.1, ", 20), ", ")
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
		bad, ok    bool
	}{
		{"no proxy", "198.51.100.7:4242", nil, "198.51.100.7", false, true},
		{"untrusted peer: its header is ignored", "198.51.100.7:4242", []string{"203.0.113.1"}, "198.51.100.7", false, true},
		{"trusted peer", "10.0.0.5:80", []string{"203.0.113.1"}, "203.0.113.1", false, true},
		{"trusted peer, no header", "10.0.0.5:80", nil, "10.0.0.5", false, true},
		{"right-most untrusted hop", "10.0.0.5:80", []string{"1.1.1.1, 203.0.113.1, 10.0.0.9"}, "203.0.113.1", false, true},
		{"several header lines", "10.0.0.5:80", []string{"1.1.1.1", "203.0.113.1, 10.0.0.9"}, "203.0.113.1", false, true},
		{"garbage left of the proxy's entry is not read", "10.0.0.5:80", []string{"not an address, 203.0.113.1"}, "203.0.113.1", false, true},
		{"garbage from a misconfigured proxy", "10.0.0.5:80", []string{"203.0.113.1, unknown"}, "10.0.0.5", true, true},
		{"only trusted hops", "10.0.0.5:80", []string{"10.0.0.7, 10.0.0.9"}, "10.0.0.7", false, true},
		{"too many trusted hops", "10.0.0.5:80", []string{many}, "10.0.0.1", true, true},
		{"IPv6 peer and hop with port", "[2001:db8:ffff::1]:80", []string{"[2001:db8:1::5]:5555"}, "2001:db8:1::5", false, true},
		{"IPv4-mapped peer", "[::ffff:10.0.0.5]:80", []string{"::ffff:203.0.113.1"}, "203.0.113.1", false, true},
		{"zone dropped", "[fe80::1%eth0]:80", nil, "fe80::1", false, true},
		{"not a TCP peer", "pipe", []string{"203.0.113.1"}, "invalid IP", false, false},
	} {
		got, bad, ok := resolveClient(tc.peer, tc.xff, trusted)
		if got.String() != tc.want || bad != tc.bad || ok != tc.ok {
			t.Errorf("%s: %s bad=%v ok=%v, want %s bad=%v ok=%v", tc.name, got, bad, ok, tc.want, tc.bad, tc.ok)
		}
	}
}

func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":                             "203.0.113.7",
		"2001:db8:1:2::1":                         "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff:ffff:ffff":        "2001:db8:1:2::/64",
		"2001:db8:1:3::1":                         "2001:db8:1:3::/64",
		"fe80::1234:5678:9abc:def0":               "fe80::/64",
		"2001:0db8:0000:0000:0000:0000:0000:0001": "2001:db8::/64",
	} {
		if got := sourceKey(netip.MustParseAddr(in)); got != want {
			t.Errorf("sourceKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestLoginToken(t *testing.T) {
	w := &web{loginKey: deriveKey([]byte("secret"), "login")}
	other := &web{loginKey: deriveKey([]byte("another secret"), "login")}
	token := w.loginToken("pre-session", t0)
	for _, tc := range []struct {
		name              string
		w                 *web
		preSession, token string
		at                time.Duration
		want              bool
	}{
		{"as issued", w, "pre-session", token, 0, true},
		{"59 minutes later", w, "pre-session", token, 59 * time.Minute, true},
		{"an hour and a second later", w, "pre-session", token, time.Hour + time.Second, false},
		{"from the future", w, "pre-session", token, -2 * time.Minute, false},
		{"another pre-session", w, "pre-session2", token, 0, false},
		{"another key", other, "pre-session", token, 0, false},
		{"equal made-up values", w, "x", "x", 0, false},
		{"time moved", w, "pre-session", strconv.FormatInt(t0.Unix()+60, 10) + token[strings.IndexByte(token, '.'):], 0, false},
		{"leading zero", w, "pre-session", "0" + token, 0, false},
		{"empty", w, "", "", 0, false},
	} {
		if got := tc.w.loginTokenOK(tc.preSession, tc.token, t0.Add(tc.at)); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

var countRe = regexp.MustCompile(`\bcount=(\d+)`)

// TestLoginAudit drives the audit planner minute by minute: rows per clock
// minute stay within the bound, and their counts add up to every refusal.
func TestLoginAudit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		perSec   int                 // refusals per second, for 5 minutes
		key      func(i int) refusal // the i-th refusal's
		wantRows int                 // at most, in all
	}{
		{"one account from one address", 5, func(int) refusal { return refusal{"login.limited", "kim", "203.0.113.7"} }, 7},
		{"two actions", 1, func(i int) refusal {
			return refusal{[]string{"login.failed", "login.limited"}[i%2], "kim", "203.0.113.7"}
		}, 14},
		{"a new account each time", 5, func(i int) refusal { return refusal{"login.limited", fmt.Sprint("guess-", i), "203.0.113.7"} },
			6*LoginAuditRowsPerMinute + 1},
		{"more keys than are tracked", 100, func(i int) refusal { return refusal{"login.failed", fmt.Sprint("guess-", i), "203.0.113.7"} },
			6*LoginAuditRowsPerMinute + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newLoginAudit()
			var rows []auditRow
			n := 0
			for s := range 300 {
				now := t0.Add(time.Duration(s) * time.Second)
				for range tc.perSec {
					rows = append(rows, a.refused(tc.key(n), now)...)
					n++
				}
				if s%5 == 0 {
					rows = append(rows, a.tick(now)...)
				}
			}
			rows = append(rows, a.final(t0.Add(299*time.Second))...)
			perMinute := map[time.Time]int{}
			total := 0
			for _, r := range rows {
				perMinute[r.At.Truncate(time.Minute)]++
				m := countRe.FindStringSubmatch(r.Detail)
				if m == nil {
					t.Fatalf("row without a count: %+v", r)
				}
				c, _ := strconv.Atoi(m[1])
				total += c
			}
			for minute, k := range perMinute {
				// The final flush may add one row to the last minute.
				if k > LoginAuditRowsPerMinute+1 || (k > LoginAuditRowsPerMinute && !minute.Equal(t0.Add(4*time.Minute))) {
					t.Errorf("%d rows in the minute from %s", k, minute.Format("15:04"))
				}
			}
			if total != n {
				t.Errorf("rows count %d refusals, want %d", total, n)
			}
			if len(rows) > tc.wantRows {
				t.Errorf("%d rows, want at most %d", len(rows), tc.wantRows)
			}
			if len(a.tallies) > loginAuditKeys {
				t.Errorf("%d keys tallied, bound %d", len(a.tallies), loginAuditKeys)
			}
		})
	}
}

func TestLoginAuditRows(t *testing.T) {
	a := newLoginAudit()
	k := refusal{"login.failed", "kim", "203.0.113.7"}
	first := a.refused(k, t0.Add(time.Second))
	a.refused(k, t0.Add(2*time.Second))
	a.refused(k, t0.Add(30*time.Second))
	if len(first) != 1 || first[0].Detail != "count=1" || first[0].Remote != "203.0.113.7" || first[0].kind != auditFirst {
		t.Errorf("first refusal: %+v", first)
	}
	summary := a.tick(t0.Add(61 * time.Second))
	want := "count=2 first=2026-05-04T10:00:02Z last=2026-05-04T10:00:30Z"
	if len(summary) != 1 || summary[0].Detail != want || summary[0].Action != "login.failed" || summary[0].kind != auditSummary {
		t.Errorf("summary: %+v, want one row %q", summary, want)
	}
	if rows := a.tick(t0.Add(62 * time.Second)); rows != nil {
		t.Errorf("a second tick in the same minute wrote %+v", rows)
	}
	// A quiet minute forgets the key: its next refusal is written at once.
	a.tick(t0.Add(2 * time.Minute))
	if rows := a.refused(k, t0.Add(3*time.Minute)); len(rows) != 1 || rows[0].kind != auditFirst {
		t.Errorf("after a quiet minute: %+v", rows)
	}
}
