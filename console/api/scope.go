package api

// Who calls, and what they may see (docs/api.md, "Tokens and regions").
// The configured admin token (DOLBOM_ADMIN_TOKEN or the data folder's
// file) is the national admin's. Every other bearer token belongs to a
// console account (POST /api/v1/accounts/{id}/tokens) and sees what that
// account sees: a regional admin their region's residents, hubs, accounts
// and incidents, a dispatcher their 시도's incidents (console.Scope, the
// same rule as the pages). The account is read anew on every request, so
// new regions, a new role or a disabled account take effect at once.
//
// Scoping is done where the records are read, not in each handler: every
// admin route reaches residents, hubs and sensors through scopedRegistry,
// and every incident route through the scope of its request. A record of
// another region is "not found", like a missing one (as on the pages).

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// adminTokenAccount is who the configured admin token is: national.
var adminTokenAccount = console.Account{ID: "admin-token", Name: "admin token", Role: console.RoleAdmin}

// authenticator finds the account of a request's bearer token.
type authenticator struct {
	tokenHash [sha256.Size]byte
	tokens    console.APITokens // nil: only the admin token
}

func newAuthenticator(token string, tokens console.APITokens) authenticator {
	return authenticator{tokenHash: sha256.Sum256([]byte(token)), tokens: tokens}
}

var errNoToken = errors.New("no such token")

// account returns the token's account; errNoToken when the request
// carries no token, a wrong one, or one of a disabled account.
func (au authenticator) account(r *http.Request) (console.Account, error) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return console.Account{}, errNoToken
	}
	token = strings.TrimSpace(token)
	// Hashing both sides first makes the comparison independent of the
	// length of what was sent too.
	got := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(got[:], au.tokenHash[:]) == 1 {
		return adminTokenAccount, nil
	}
	if au.tokens == nil || len(token) < minTokenLen {
		return console.Account{}, errNoToken
	}
	acct, err := au.tokens.APITokenAccount(r.Context(), console.HashToken(token))
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return console.Account{}, errNoToken
	case err != nil:
		return console.Account{}, fmt.Errorf("api: token: %w", err)
	case acct.Disabled:
		return console.Account{}, errNoToken
	}
	return acct, nil
}

// refuseToken answers 401 for a missing or wrong token (errNoToken),
// naming what was wanted; false for another error, which the caller
// answers.
func refuseToken(w http.ResponseWriter, err error, what string) bool {
	if !errors.Is(err, errNoToken) {
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="dolbom"`)
	WriteError(w, &Error{Status: http.StatusUnauthorized, Msg: what + `: send the header "Authorization: Bearer <token>"`})
	return true
}

type accountKey struct{}

func withAccount(r *http.Request, acct console.Account) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), accountKey{}, acct))
}

// accountOf is the request's account (set by ServeHTTP; the national
// admin where none was set, as for the pages' own stream).
func accountOf(ctx context.Context) console.Account {
	if a, ok := ctx.Value(accountKey{}).(console.Account); ok {
		return a
	}
	return adminTokenAccount
}

// forbidden answers a token whose role may not use the route, or a
// national-only route with a regional token.
func forbidden(format string, args ...any) *Error {
	return &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf(format, args...)}
}

// nationalOnly refuses a regional account: the route changes what every
// region shares (the 119 routing table, the escalation policies).
func nationalOnly(ctx context.Context, what string) error {
	if acct := accountOf(ctx); !acct.National() {
		return forbidden("%s: only a national admin may (this token's account %s has regions %s)", what, acct.ID, strings.Join(acct.Regions, ", "))
	}
	return nil
}

// Patterns lists the routes h serves ("GET /api/v1/residents/{id}"), for
// docs and for the test that every route is scoped; nil for another
// handler.
func Patterns(h http.Handler) []string {
	switch a := h.(type) {
	case *adminAPI:
		return slices.Clone(a.patterns)
	case *incidentAPI:
		return slices.Clone(a.patterns)
	}
	return nil
}

// outOfScope is how a record of another region is answered: not found.
func outOfScope(what string) error {
	return fmt.Errorf("api: %s: %w", what, devices.ErrNotFound)
}

// scopedRegistry is the registry as one account sees it.
type scopedRegistry struct {
	Registry
	s *console.Scope
}

func (g scopedRegistry) inScope(r devices.Resident) bool { return g.s.Resident(r) }

// covers refuses a resident created or moved outside the account's
// regions: a 400 naming district_code (the district as given, or as
// derived from the address).
func (g scopedRegistry) covers(r devices.Resident) error {
	if g.s.National() || g.s.Account().Covers(r.DistrictCode) {
		return nil
	}
	return MarkInvalid(fmt.Errorf("관리 지역 밖의 대상자입니다 (the resident's district %q is outside your regions %s)",
		r.DistrictCode, strings.Join(g.s.Account().Regions, ", ")), "district_code")
}

func (g scopedRegistry) CreateResident(ctx context.Context, r *devices.Resident) error {
	if err := g.covers(*r); err != nil {
		return err
	}
	return g.Registry.CreateResident(ctx, r)
}

func (g scopedRegistry) GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error) {
	r, err := g.Registry.GetResident(ctx, id)
	if err == nil && !g.inScope(r) {
		return devices.Resident{}, outOfScope(residentLabel(id))
	}
	return r, err
}

func (g scopedRegistry) ListResidents(ctx context.Context, q console.ListQuery) ([]devices.Resident, error) {
	if !g.s.National() {
		q.Regions = g.s.Regions()
	}
	all, err := g.Registry.ListResidents(ctx, q)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(r devices.Resident) bool { return !g.inScope(r) }), nil
}

func (g scopedRegistry) UpdateResident(ctx context.Context, r devices.Resident) error {
	if _, err := g.GetResident(ctx, r.ID); err != nil {
		return err
	}
	if err := g.covers(r); err != nil {
		return err
	}
	return g.Registry.UpdateResident(ctx, r)
}

func (g scopedRegistry) SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error {
	if _, err := g.GetResident(ctx, id); err != nil {
		return err
	}
	return g.Registry.SetResidentDisabled(ctx, id, disabled)
}

// hubResident checks that the resident a hub belongs to is in scope; a
// hub of nobody is the national admin's.
func (g scopedRegistry) hubResident(ctx context.Context, hub devices.HubID, resident devices.ResidentID) error {
	if g.s.National() {
		return nil
	}
	if resident == "" {
		return outOfScope(hubLabel(hub))
	}
	if _, err := g.GetResident(ctx, resident); err != nil {
		if errors.Is(err, devices.ErrNotFound) {
			return outOfScope(hubLabel(hub))
		}
		return err
	}
	return nil
}

func (g scopedRegistry) CreateHub(ctx context.Context, h *devices.Hub) error {
	if err := g.hubResident(ctx, h.ID, h.ResidentID); err != nil {
		return err
	}
	return g.Registry.CreateHub(ctx, h)
}

func (g scopedRegistry) GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error) {
	h, err := g.Registry.GetHub(ctx, id)
	if err != nil {
		return h, err
	}
	if err := g.hubResident(ctx, id, h.ResidentID); err != nil {
		return devices.Hub{}, err
	}
	return h, nil
}

func (g scopedRegistry) ListHubs(ctx context.Context, q console.ListQuery) ([]devices.Hub, error) {
	if !g.s.National() {
		q.Regions = g.s.Regions()
	}
	all, err := g.Registry.ListHubs(ctx, q)
	if err != nil || g.s.National() {
		return all, err
	}
	out := all[:0:0]
	for _, h := range all {
		err := g.hubResident(ctx, h.ID, h.ResidentID)
		switch {
		case err == nil:
			out = append(out, h)
		case !errors.Is(err, devices.ErrNotFound):
			return nil, err
		}
	}
	return out, nil
}

func (g scopedRegistry) UpdateHub(ctx context.Context, h devices.Hub) error {
	if _, err := g.GetHub(ctx, h.ID); err != nil {
		return err
	}
	if err := g.hubResident(ctx, h.ID, h.ResidentID); err != nil {
		// Moving a hub to a resident out of scope: that resident is
		// not found for this account.
		return BadRequest("resident_id", "resident %q not found", h.ResidentID)
	}
	return g.Registry.UpdateHub(ctx, h)
}

func (g scopedRegistry) SetHubSecretHash(ctx context.Context, id devices.HubID, hash string) error {
	if _, err := g.GetHub(ctx, id); err != nil {
		return err
	}
	return g.Registry.SetHubSecretHash(ctx, id, hash)
}

func (g scopedRegistry) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	if _, err := g.GetHub(ctx, id); err != nil {
		return err
	}
	return g.Registry.SetHubDisabled(ctx, id, disabled)
}

func (g scopedRegistry) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	if _, err := g.GetHub(ctx, s.Hub); err != nil {
		return err
	}
	return g.Registry.CreateSensor(ctx, s)
}

func (g scopedRegistry) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	if _, err := g.GetHub(ctx, hub); err != nil {
		return devices.Sensor{}, err
	}
	return g.Registry.GetSensor(ctx, hub, id)
}

func (g scopedRegistry) ListSensors(ctx context.Context, hub devices.HubID) ([]devices.Sensor, error) {
	if _, err := g.GetHub(ctx, hub); err != nil {
		return nil, err
	}
	return g.Registry.ListSensors(ctx, hub)
}

func (g scopedRegistry) UpdateSensor(ctx context.Context, s devices.Sensor) error {
	if _, err := g.GetHub(ctx, s.Hub); err != nil {
		return err
	}
	return g.Registry.UpdateSensor(ctx, s)
}

func (g scopedRegistry) SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error {
	if _, err := g.GetHub(ctx, hub); err != nil {
		return err
	}
	return g.Registry.SetSensorDisabled(ctx, hub, id, disabled)
}
