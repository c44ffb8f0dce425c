package api

// Accounts' regions through the admin API (docs/operations.md): GET
// /api/v1/accounts lists the console's accounts with their regions, PUT
// /api/v1/accounts/{id}/regions sets them (dolbomctl account), and
// /api/v1/accounts/{id}/tokens gives an account a bearer token of its own
// (scope.go). A regional admin's token lists and changes only the accounts
// within its regions (console.Account.CoversAccount), as on the pages.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
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
	return unserved(w, a.cfg.Accounts == nil, "this gateway serves no accounts")
}

// unserved answers 501 with msg when off: a part the gateway was built
// without.
func unserved(w http.ResponseWriter, off bool, msg string) bool {
	if off {
		WriteError(w, &Error{Status: http.StatusNotImplemented, Msg: msg})
	}
	return off
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
	caller := accountOf(r.Context())
	list = slices.DeleteFunc(list, func(b console.Account) bool { return !caller.CoversAccount(b) })
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
	acct, err := a.accountInScope(r, id)
	if err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	regions, err := console.NormalizeRegions(acct.Role, body.Regions)
	if err != nil {
		a.fail(w, r, MarkInvalid(err, "regions"), "")
		return
	}
	if caller := accountOf(r.Context()); !caller.CoversAccount(console.Account{Regions: regions}) {
		a.fail(w, r, MarkInvalid(fmt.Errorf("관리 지역 밖입니다 (regions %s are not all within your regions %s)",
			strings.Join(regions, ", "), strings.Join(caller.Regions, ", ")), "regions"), "")
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

// accountInScope reads the account the path names; one outside the
// caller's regions is not found.
func (a *adminAPI) accountInScope(r *http.Request, id string) (console.Account, error) {
	acct, err := a.cfg.Accounts.GetAccount(r.Context(), id)
	if err != nil {
		return acct, err
	}
	if !accountOf(r.Context()).CoversAccount(acct) {
		return console.Account{}, outOfScope("account " + id)
	}
	return acct, nil
}

// tokensOff answers when the gateway keeps no accounts' tokens.
func (a *adminAPI) tokensOff(w http.ResponseWriter) bool {
	return unserved(w, a.cfg.Tokens == nil || a.cfg.Accounts == nil, "this gateway issues no account tokens")
}

// createToken gives an admin or dispatcher account a new bearer token,
// shown once: only its hash is kept. Social workers work on the pages.
func (a *adminAPI) createToken(w http.ResponseWriter, r *http.Request) {
	if a.tokensOff(w) {
		return
	}
	id := strings.TrimSpace(r.PathValue("id"))
	acct, err := a.accountInScope(r, id)
	if err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	if acct.Role != console.RoleAdmin && acct.Role != console.RoleDispatcher {
		a.fail(w, r, BadRequest("id", "account %s is a %s: API tokens are for admins and dispatchers", id, acct.Role), "")
		return
	}
	if acct.Disabled {
		a.fail(w, r, MarkConflict(fmt.Errorf("account %s is disabled", id)), "")
		return
	}
	token := console.RandomToken()
	if err := a.cfg.Tokens.CreateAPIToken(r.Context(), console.HashToken(token), id); err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	a.log.Info().Str("account_id", id).Str("by", accountOf(r.Context()).ID).Msg("api token created")
	if acct.Regions == nil {
		acct.Regions = []string{}
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"account": acct, "token": token})
}

// revokeTokens ends every token of the account.
func (a *adminAPI) revokeTokens(w http.ResponseWriter, r *http.Request) {
	if a.tokensOff(w) {
		return
	}
	id := strings.TrimSpace(r.PathValue("id"))
	if _, err := a.accountInScope(r, id); err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	n, err := a.cfg.Tokens.DeleteAPITokens(r.Context(), id)
	if err != nil {
		a.fail(w, r, err, "account "+id)
		return
	}
	a.log.Info().Str("account_id", id).Int64("tokens", n).Str("by", accountOf(r.Context()).ID).Msg("api tokens revoked")
	WriteJSON(w, http.StatusOK, map[string]any{"revoked": n})
}
