package api

// Accounts' regions through the admin API (docs/operations.md): GET
// /api/v1/accounts lists the console's accounts with their regions, PUT
// /api/v1/accounts/{id}/regions sets them (dolbomctl account). The admin
// token is national; the pages' regional admins set regions in the
// console.

import (
	"context"
	"net/http"
	"strings"

	"github.com/dolbom/dolbom/console"
)

// AccountRegions is the account store as the admin API uses it.
type AccountRegions interface {
	ListAccounts(ctx context.Context) ([]console.Account, error)
	GetAccount(ctx context.Context, id string) (console.Account, error)
	// SetAccountRegions replaces the regions (normalized: none is
	// national).
	SetAccountRegions(ctx context.Context, id string, regions []string) error
}

func (a *adminAPI) accountsOff(w http.ResponseWriter) bool {
	if a.cfg.Accounts == nil {
		WriteError(w, &Error{Status: http.StatusNotImplemented, Msg: "this gateway serves no accounts"})
		return true
	}
	return false
}

func (a *adminAPI) listAccounts(w http.ResponseWriter, r *http.Request) {
	if a.accountsOff(w) {
		return
	}
	list, err := a.cfg.Accounts.ListAccounts(r.Context())
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	for i := range list {
		if list[i].Regions == nil {
			list[i].Regions = []string{} // national: an empty list, never null
		}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"accounts": list})
}

// regionsBody is what PUT /api/v1/accounts/{id}/regions takes.
type regionsBody struct {
	Regions []string `json:"regions"`
}

func (a *adminAPI) setAccountRegions(w http.ResponseWriter, r *http.Request) {
	if a.accountsOff(w) {
		return
	}
	var body regionsBody
	if err := a.decodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err, "")
		return
	}
	id := strings.TrimSpace(r.PathValue("id"))
	acct, err := a.cfg.Accounts.GetAccount(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	regions, err := console.NormalizeRegions(acct.Role, body.Regions)
	if err != nil {
		a.fail(w, r, MarkInvalid(err, "regions"), "")
		return
	}
	if err := a.cfg.Accounts.SetAccountRegions(r.Context(), id, regions); err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	a.log.Info().Str("account_id", id).Strs("regions", regions).Msg("account regions set")
	acct.Regions = regions
	if acct.Regions == nil {
		acct.Regions = []string{}
	}
	WriteJSON(w, http.StatusOK, acct)
}
