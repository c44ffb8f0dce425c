package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
)

// 펌웨어 배포 is for national admins, as the admin API's rollout routes: a
// Busan admin has no menu entry and gets 403, saying why, on the pages and
// on the forms (with a valid CSRF token). The browser test
// (cmd/internal/e2e, TestRolloutsPageInBrowser) covers the pages with
// rollouts in them.
func TestRolloutsPageNationalOnly(t *testing.T) {
	e := newEnv(t)
	a := console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}, PasswordHash: console.HashPassword(password)}
	if err := e.st.Accounts().CreateAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	root := e.client()
	root.login("root", password)
	status, page := root.get("/admin/rollouts?lang=ko")
	if status != http.StatusOK || !strings.Contains(page, "펌웨어 배포") || !strings.Contains(page, "배포 기록이 없습니다") || !strings.Contains(page, `href="/admin/rollouts"`) {
		t.Fatalf("a national admin's rollouts page: %d\n%s", status, page)
	}
	if status, _ := root.get("/admin/rollouts/7"); status != http.StatusNotFound {
		t.Errorf("a rollout that does not exist: %d, want 404", status)
	}
	if status, _ := root.get("/admin/rollouts/x"); status != http.StatusNotFound {
		t.Errorf("a rollout id that is no number: %d, want 404", status)
	}

	busan := e.client()
	busan.login("a-busan", password)
	if _, page := busan.get("/admin/workorders"); strings.Contains(page, `href="/admin/rollouts"`) {
		t.Errorf("a Busan admin's menu offers 펌웨어 배포")
	}
	for _, p := range []string{"/admin/rollouts", "/admin/rollouts/1"} {
		if status, page := busan.get(p); status != http.StatusForbidden || !strings.Contains(page, "전국 관리자만") {
			t.Errorf("a Busan admin's GET %s: %d, want 403 saying why", p, status)
		}
	}
	for _, p := range []string{"/admin/rollouts/1/halt", "/admin/rollouts/1/rollback"} {
		if s := busan.post(p, url.Values{"csrf": {busan.csrf}}); s != http.StatusForbidden {
			t.Errorf("a Busan admin's POST %s: %d, want 403", p, s)
		}
	}
}

// The work orders page's filter refuses a status it does not know, saying
// which it knows.
func TestWorkOrdersFilterStatus(t *testing.T) {
	e := newEnv(t)
	root := e.client()
	root.login("root", password)
	if status, page := root.get("/admin/workorders?status=done&lang=ko"); status != http.StatusBadRequest || !strings.Contains(page, "진행 중(open) 또는 종결(closed)") {
		t.Errorf("status=done: %d\n%s", status, page)
	}
	if status, _ := root.get("/admin/workorders?status=closed"); status != http.StatusOK {
		t.Errorf("status=closed: %d", status)
	}
}
