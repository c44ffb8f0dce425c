package web

// Account management and the audit log, for admins: pages and JSON.

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

const minPasswordLen = 12

type accountInput struct {
	ID       string       `json:"id"`
	Name     string       `json:"name"`
	Role     console.Role `json:"role"`
	Password string       `json:"password"`
	// Regions scope the account (console/scope.go): codes or names of
	// 시도 or 시군구; none is national.
	Regions []string `json:"regions,omitempty"`
	// regionErr is why Regions were refused, with the valid choices.
	regionErr error
}

// validate returns the name of the first bad field, or "".
func (in *accountInput) validate() string {
	in.ID = strings.ToLower(strings.TrimSpace(in.ID))
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case in.ID == "" || len(in.ID) > devices.MaxIDLen:
		return "id"
	case in.Name == "" || len(in.Name) > 200:
		return "name"
	case !in.Role.Valid():
		return "role"
	case utf8.RuneCountInString(in.Password) < minPasswordLen || len(in.Password) > 1024:
		return "password"
	}
	regions, err := console.NormalizeRegions(in.Role, in.Regions)
	if err != nil {
		in.regionErr = err
		return "regions"
	}
	in.Regions = regions
	return ""
}

func (w *web) createAccount(r *http.Request, rc *reqCtx, in *accountInput) (status int, field string) {
	if f := in.validate(); f != "" {
		return http.StatusBadRequest, f
	}
	a := console.Account{ID: in.ID, Name: in.Name, Role: in.Role, Regions: in.Regions}
	if !rc.account.CoversAccount(a) {
		// A regional admin makes accounts of their regions only.
		in.regionErr = errOutsideRegions(rc.account)
		return http.StatusForbidden, "regions"
	}
	a.PasswordHash = devices.HashSecret(in.Password, w.cfg.PasswordParams)
	if err := w.deps.Accounts.CreateAccount(r.Context(), a); err != nil {
		switch {
		case errors.Is(err, devices.ErrConflict):
			return http.StatusConflict, "id"
		case errors.Is(err, devices.ErrInvalid):
			return http.StatusBadRequest, "id"
		}
		w.log.Error().Err(err).Msg("create account")
		return http.StatusInternalServerError, ""
	}
	_ = w.audit(r.Context(), rc, "account.create", "", "", a.ID+" "+string(a.Role)+regionsDetail(a.Regions))
	return http.StatusCreated, ""
}

func (w *web) setDisabled(r *http.Request, rc *reqCtx, id string, disabled bool) int {
	if id == rc.account.ID && disabled {
		return http.StatusBadRequest // an admin does not lock themselves out
	}
	if status := w.managedAccount(r, rc, id); status != http.StatusOK {
		return status
	}
	if err := w.deps.Accounts.SetAccountDisabled(r.Context(), id, disabled); err != nil {
		if errors.Is(err, devices.ErrNotFound) {
			return http.StatusNotFound
		}
		w.log.Error().Err(err).Msg("disable account")
		return http.StatusInternalServerError
	}
	action := "account.enable"
	if disabled {
		action = "account.disable"
	}
	_ = w.audit(r.Context(), rc, action, "", "", id)
	return http.StatusOK
}

func (w *web) resetPassword(r *http.Request, rc *reqCtx, id, password string) int {
	if utf8.RuneCountInString(password) < minPasswordLen || len(password) > 1024 {
		return http.StatusBadRequest
	}
	if status := w.managedAccount(r, rc, id); status != http.StatusOK {
		return status
	}
	if err := w.deps.Accounts.SetAccountPassword(r.Context(), id, devices.HashSecret(password, w.cfg.PasswordParams)); err != nil {
		if errors.Is(err, devices.ErrNotFound) {
			return http.StatusNotFound
		}
		w.log.Error().Err(err).Msg("reset password")
		return http.StatusInternalServerError
	}
	_ = w.audit(r.Context(), rc, "account.password_reset", "", "", id)
	return http.StatusOK
}

// ---- pages ----

func (w *web) accountsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	w.renderAccounts(rw, r, rc, http.StatusOK, r.URL.Query().Get("done") == "1", "")
}

func (w *web) renderAccounts(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, done bool, badField string) {
	w.renderAccountsPage(rw, r, rc, status, done, badField, "")
}

// renderAccountsProblem shows the page again with why a field was refused.
func (w *web) renderAccountsProblem(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, field string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	w.renderAccountsPage(rw, r, rc, status, false, field, msg)
}

func (w *web) renderAccountsPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx, status int, done bool, badField, problem string) {
	list, err := w.managedAccounts(r, rc)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.render(rw, r, "accounts", status, rc, map[string]any{"Accounts": list, "Done": done, "Bad": badField, "Problem": problem,
		"Sidos": region.Sidos(), "Roles": []console.Role{console.RoleSocialWorker, console.RoleDispatcher, console.RoleAdmin}})
}

func (w *web) createAccountForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	in := accountInput{ID: r.PostFormValue("id"), Name: r.PostFormValue("name"), Role: console.Role(r.PostFormValue("role")), Password: r.PostFormValue("password"),
		Regions: splitRegions(r.PostForm["regions"])}
	status, field := w.createAccount(r, rc, &in)
	if status != http.StatusCreated {
		w.renderAccountsProblem(rw, r, rc, status, field, in.regionErr)
		return
	}
	http.Redirect(rw, r, "/admin/accounts?done=1", http.StatusSeeOther)
}

func (w *web) setDisabledForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if status := w.setDisabled(r, rc, r.PathValue("id"), r.PostFormValue("disabled") == "true"); status != http.StatusOK {
		w.errorPage(rw, r, rc, status)
		return
	}
	http.Redirect(rw, r, "/admin/accounts?done=1", http.StatusSeeOther)
}

func (w *web) resetPasswordForm(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	if status := w.resetPassword(r, rc, r.PathValue("id"), r.PostFormValue("password")); status != http.StatusOK {
		if status == http.StatusBadRequest {
			w.renderAccounts(rw, r, rc, status, false, "password")
			return
		}
		w.errorPage(rw, r, rc, status)
		return
	}
	http.Redirect(rw, r, "/admin/accounts?done=1", http.StatusSeeOther)
}

func auditQuery(r *http.Request) console.AuditQuery {
	q := r.URL.Query()
	before, _ := strconv.ParseInt(q.Get("before"), 10, 64)
	return console.AuditQuery{ResidentID: q.Get("resident"), AccountID: q.Get("account"), Before: before, Limit: 100}
}

func (w *web) auditPage(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	aq := auditQuery(r)
	list, err := w.deps.Audit.ListAudit(r.Context(), aq)
	if err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	var older int64
	if len(list) == aq.Limit {
		older = list[len(list)-1].Seq
	}
	if list, err = w.auditInScope(r.Context(), rc, list); err != nil {
		w.fail(rw, r, rc, err)
		return
	}
	w.render(rw, r, "audit", http.StatusOK, rc, map[string]any{"Entries": list, "Query": aq, "Older": older})
}

// ---- JSON ----

func decodeBody(r *http.Request, dst any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	return dec.Decode(dst) == nil
}

func (w *web) apiMe(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	api.WriteJSON(rw, http.StatusOK, map[string]any{"account": rc.account, "csrf_token": rc.session.CSRFToken, "expires_at": rc.session.ExpiresAt})
}

func (w *web) apiAccounts(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	list, err := w.managedAccounts(r, rc)
	if err != nil {
		w.log.Error().Err(err).Msg("list accounts")
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	api.WriteJSON(rw, http.StatusOK, map[string]any{"accounts": list})
}

func (w *web) apiCreateAccount(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in accountInput
	if !decodeBody(r, &in) {
		api.WriteError(rw, api.BadRequest("", "body must be a JSON object with id, name, role, password"))
		return
	}
	in.Regions = splitRegions(in.Regions)
	status, field := w.createAccount(r, rc, &in)
	if field == "regions" && in.regionErr != nil {
		api.WriteError(rw, &api.Error{Status: status, Field: "regions", Msg: in.regionErr.Error()})
		return
	}
	switch status {
	case http.StatusCreated:
		a, _ := w.deps.Accounts.GetAccount(r.Context(), in.ID)
		api.WriteJSON(rw, status, a)
	case http.StatusConflict:
		api.WriteError(rw, &api.Error{Status: status, Field: "id", Msg: "an account with this id exists"})
	case http.StatusBadRequest:
		api.WriteError(rw, api.BadRequest(field, "invalid %s (passwords: at least %d characters; roles: dispatcher, social_worker, admin)", field, minPasswordLen))
	default:
		api.WriteError(rw, &api.Error{Status: status, Msg: "internal error"})
	}
}

func (w *web) apiSetDisabled(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in struct {
		Disabled bool `json:"disabled"`
	}
	if !decodeBody(r, &in) {
		api.WriteError(rw, api.BadRequest("", `body must be {"disabled": true|false}`))
		return
	}
	if status := w.setDisabled(r, rc, r.PathValue("id"), in.Disabled); status != http.StatusOK {
		api.WriteError(rw, &api.Error{Status: status, Msg: http.StatusText(status)})
		return
	}
	api.WriteJSON(rw, http.StatusOK, map[string]any{"id": r.PathValue("id"), "disabled": in.Disabled})
}

func (w *web) apiResetPassword(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	var in struct {
		Password string `json:"password"`
	}
	if !decodeBody(r, &in) {
		api.WriteError(rw, api.BadRequest("", `body must be {"password": "..."}`))
		return
	}
	if status := w.resetPassword(r, rc, r.PathValue("id"), in.Password); status != http.StatusOK {
		api.WriteError(rw, &api.Error{Status: status, Msg: http.StatusText(status)})
		return
	}
	api.WriteJSON(rw, http.StatusOK, map[string]any{"id": r.PathValue("id"), "sessions_ended": true})
}

func (w *web) apiAudit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	list, err := w.deps.Audit.ListAudit(r.Context(), auditQuery(r))
	if err == nil {
		list, err = w.auditInScope(r.Context(), rc, list)
	}
	if err != nil {
		w.log.Error().Err(err).Msg("list audit")
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	api.WriteJSON(rw, http.StatusOK, map[string]any{"entries": list})
}

func (w *web) apiResidents(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	list, more, err := w.listVisible(r.Context(), rc, r.URL.Query().Get("q"), r.URL.Query().Get("after"))
	if err != nil {
		w.log.Error().Err(err).Msg("list residents")
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	// A list never carries medical or access details: those come one
	// resident at a time, each view audited.
	for i := range list {
		redact(&list[i])
	}
	out := map[string]any{"residents": list}
	if more {
		out["next"] = list[len(list)-1].ID
	}
	api.WriteJSON(rw, http.StatusOK, out)
}

func (w *web) apiResident(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	res, err := w.resident(ctx, rc, devices.ResidentID(r.PathValue("id")))
	if err != nil {
		if errors.Is(err, devices.ErrNotFound) {
			api.WriteError(rw, &api.Error{Status: http.StatusNotFound, Msg: "resident not found"})
			return
		}
		w.log.Error().Err(err).Msg("get resident")
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	show := w.sensitiveVisible(ctx, rc, res)
	if !show {
		redact(&res)
	}
	detail := "sensitive=hidden"
	if show {
		detail = "sensitive=shown"
	}
	if err := w.audit(ctx, rc, "resident.view", res.ID, "", detail+" api"); err != nil {
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	api.WriteJSON(rw, http.StatusOK, map[string]any{"resident": res, "sensitive_shown": show})
}

func (w *web) apiVisits(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	res, err := w.resident(ctx, rc, devices.ResidentID(r.PathValue("id")))
	if err != nil || w.deps.Visits == nil {
		api.WriteError(rw, &api.Error{Status: http.StatusNotFound, Msg: "resident not found"})
		return
	}
	list, err := w.deps.Visits.ListVisits(ctx, res.ID, 100)
	if err != nil {
		w.log.Error().Err(err).Msg("list visits")
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	api.WriteJSON(rw, http.StatusOK, map[string]any{"visits": list})
}

func (w *web) apiAddVisit(rw http.ResponseWriter, r *http.Request, rc *reqCtx) {
	ctx := r.Context()
	res, err := w.resident(ctx, rc, devices.ResidentID(r.PathValue("id")))
	if err != nil || w.deps.Visits == nil {
		api.WriteError(rw, &api.Error{Status: http.StatusNotFound, Msg: "resident not found"})
		return
	}
	var in struct {
		Kind  string `json:"kind"`
		Date  string `json:"date"` // YYYY-MM-DD, local
		Notes string `json:"notes"`
		Next  string `json:"next"`
	}
	if !decodeBody(r, &in) {
		api.WriteError(rw, api.BadRequest("", "body must be a JSON object with kind, date, notes, next"))
		return
	}
	v, bad := w.parseVisit(in.Kind, in.Date, in.Notes, in.Next)
	if bad != "" {
		api.WriteError(rw, api.BadRequest(bad, "invalid %s", bad))
		return
	}
	v.ResidentID, v.AccountID = res.ID, rc.account.ID
	if err := w.deps.Visits.AddVisit(ctx, &v); err != nil {
		w.log.Error().Err(err).Msg("add visit")
		api.WriteError(rw, &api.Error{Status: http.StatusInternalServerError, Msg: "internal error"})
		return
	}
	_ = w.audit(ctx, rc, "visit.add", res.ID, "", string(v.Kind)+" "+v.ID)
	api.WriteJSON(rw, http.StatusCreated, v)
}
