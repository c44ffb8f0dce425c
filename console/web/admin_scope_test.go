package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
)

// Accounts get their regions in the console: a national admin sets them
// (an unknown one is refused with the choices); a regional admin makes and
// edits accounts of their own regions only, and sees no others.
func TestAccountRegionsInConsole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := console.Account{ID: "a-busan", Name: "부산관리", Role: console.RoleAdmin, Regions: []string{"26"}, PasswordHash: console.HashPassword(password)}
	if err := e.st.Accounts().CreateAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	root := e.client()
	root.login("root", password)
	status, body := root.postJSON("/console/api/accounts/d-park/regions", `{"regions": ["부산", "대구"]}`, true)
	if got, _ := e.st.Accounts().GetAccount(ctx, "d-park"); status != http.StatusOK || strings.Join(got.Regions, ",") != "26,27" {
		t.Fatalf("set d-park's regions: %d %s", status, body)
	}
	status, body = root.postJSON("/console/api/accounts/d-park/regions", `{"regions": ["Busan"]}`, true)
	if status != http.StatusBadRequest || !strings.Contains(body, "부산광역시 (26)") {
		t.Errorf("unknown region: %d %s; want 400 with the 시도", status, body)
	}
	if _, page := root.get("/admin/accounts"); !strings.Contains(page, "부산광역시 (26), 대구광역시 (27)") || !strings.Contains(page, "전국") {
		t.Errorf("the accounts page shows neither the regions nor 전국 (national)")
	}

	busan := e.client()
	busan.login("a-busan", password)
	if _, page := busan.get("/admin/accounts"); strings.Contains(page, "sw-kim") || strings.Contains(page, "root") {
		t.Errorf("a Busan admin sees national accounts")
	}
	form := url.Values{"csrf": {busan.csrf}, "id": {"d-haeundae"}, "name": {"해운대 상황"}, "role": {"dispatcher"}, "password": {"long-enough-password"}, "regions": {"26"}}
	if s := busan.post("/admin/accounts", form); s != http.StatusSeeOther {
		t.Errorf("a Busan admin makes a Busan dispatcher: %d", s)
	}
	form.Set("id", "d-seoul")
	form.Set("regions", "11")
	if s := busan.post("/admin/accounts", form); s != http.StatusForbidden {
		t.Errorf("a Busan admin makes a Seoul dispatcher: %d, want 403", s)
	}
	form.Set("id", "d-national")
	form.Set("regions", "")
	if s := busan.post("/admin/accounts", form); s != http.StatusForbidden {
		t.Errorf("a Busan admin makes a national dispatcher: %d, want 403", s)
	}
	if got, err := e.st.Accounts().GetAccount(ctx, "d-haeundae"); err != nil || len(got.Regions) != 1 || got.Regions[0] != "26" {
		t.Errorf("the Busan dispatcher: %+v, %v", got, err)
	}
}
