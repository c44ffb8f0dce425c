package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// noAccounts knows no one: every sign-in is refused.
type noAccounts struct{ console.AccountStore }

func (noAccounts) GetAccount(context.Context, string) (console.Account, error) {
	return console.Account{}, devices.ErrNotFound
}

type noResidents struct{ ResidentReader }

// memAudit keeps the audit log in memory.
type memAudit struct {
	mu      sync.Mutex
	entries []console.AuditEntry
}

func (m *memAudit) AppendAudit(_ context.Context, e console.AuditEntry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries = append(m.entries, e)
	return nil
}

func (m *memAudit) ListAudit(context.Context, console.AuditQuery) ([]console.AuditEntry, error) {
	return nil, nil
}

func (m *memAudit) details() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, e := range m.entries {
		out = append(out, e.Action+" "+e.Detail)
	}
	return out
}

var csrfValue = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestRunWritesRefusalsEachMinute: the refusals after the first reach the
// audit log through Run's minute, with no further request to carry them,
// and what is left is written when Run stops.
func TestRunWritesRefusalsEachMinute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		audit := &memAudit{}
		web, err := New(Config{Logger: zerolog.Nop(), PasswordParams: devices.SecretParams{Time: 1, Memory: 64, Threads: 1}},
			Deps{Accounts: noAccounts{}, Audit: audit, Residents: noResidents{}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { _ = web.Run(ctx); close(done) }()
		refuse := func() {
			page := httptest.NewRecorder()
			web.ServeHTTP(page, httptest.NewRequest("GET", "/login", nil))
			m := csrfValue.FindStringSubmatch(page.Body.String())
			if m == nil {
				t.Fatal("no login token")
			}
			req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"csrf": {m[1]}, "username": {"kim"}, "password": {"wrong"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, c := range page.Result().Cookies() {
				req.AddCookie(c)
			}
			rec := httptest.NewRecorder()
			web.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Fatalf("refused sign-in: %d", rec.Code)
			}
		}
		for range 3 {
			refuse()
		}
		if got := strings.Join(audit.details(), "|"); got != "login.failed count=1" {
			t.Fatalf("after three refusals: %s, want the first one alone", got)
		}
		time.Sleep(time.Minute + auditTick)
		synctest.Wait()
		if got := audit.details(); len(got) != 2 || !strings.HasPrefix(got[1], "login.failed count=2 ") {
			t.Fatalf("a minute later: %q, want the other two summed", got)
		}
		refuse()
		stop()
		<-done
		if got := audit.details(); len(got) != 3 || !strings.HasPrefix(got[2], "login.failed count=1 first=") {
			t.Errorf("after Run stopped: %q, want the last refusal written", got)
		}
	})
}
