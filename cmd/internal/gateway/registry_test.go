package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/store"
	"github.com/dolbom/dolbom/store/storetest"
)

// TestRegistryChecksSocialWorkersInTheStore: the admin API over the real
// store refuses a social_worker_id until that social worker's account
// exists (a typo no longer orphans the resident).
func TestRegistryChecksSocialWorkersInTheStore(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	const token = "adapter-test-token-0123456789"
	api := api.NewAdminAPI(api.AdminConfig{Token: token}, registry{Registry: st.Registry(), Accounts: st.Accounts()}, consoletest.Health{}, &consoletest.Hubs{}, zerolog.Nop())
	post := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/v1/residents", strings.NewReader(`{"name": "김영희", "social_worker_id": "sw-park"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		return rec
	}
	if rec := post(); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `no account \"sw-park\"`) {
		t.Fatalf("unknown social worker: %d %s", rec.Code, rec.Body)
	}
	if err := st.Accounts().CreateAccount(ctx, console.Account{ID: "sw-park", Name: "박복지", Role: console.RoleSocialWorker, PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	if rec := post(); rec.Code != http.StatusCreated {
		t.Fatalf("known social worker: %d %s", rec.Code, rec.Body)
	}
}
