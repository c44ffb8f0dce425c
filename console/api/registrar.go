package api

// The registry changes the admin API (bearer token) and the admin pages
// (a signed-in admin) both make: validation, the social worker check, the
// fields the server owns. One place, so the two doors cannot drift apart.

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// Registrar makes the registry's changes for the admin API and the admin
// pages (console/web) alike.
type Registrar struct {
	reg Registry
	// hubs drops a hub's live session when it is disabled or its secret
	// replaced; nil where no broker is wired (the pages then offer neither).
	hubs console.HubControl
	now  func() time.Time
}

// NewRegistrar edits reg; hubs may be nil (no broker wired: a hub's live
// session is then not dropped), now is the clock.
func NewRegistrar(reg Registry, hubs console.HubControl, now func() time.Time) Registrar {
	return Registrar{reg: reg, hubs: hubs, now: now}
}

// checkSocialWorker refuses a social_worker_id that names no enabled
// social worker's account: a typo would otherwise take the resident off
// every caseload without a word.
func (g Registrar) checkSocialWorker(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	a, err := g.reg.GetAccount(ctx, id)
	switch {
	case errors.Is(err, devices.ErrNotFound):
		return BadRequest("social_worker_id", "no account %q: create the social worker's account first (계정 / Accounts), or leave it empty", id)
	case err != nil:
		return err
	case a.Role != console.RoleSocialWorker:
		return BadRequest("social_worker_id", "account %q is a %s, not a social worker", id, a.Role)
	case a.Disabled:
		return BadRequest("social_worker_id", "the account of social worker %q is disabled", id)
	}
	return nil
}

// Editable is a copy of cur to change: decoding or appending into a slice
// reuses its backing array, and the registry's copy must not change under it.
func Editable(cur devices.Resident) devices.Resident {
	next := cur
	next.Medications, next.Allergies, next.Guardians = slices.Clone(cur.Medications), slices.Clone(cur.Allergies), slices.Clone(cur.Guardians)
	return next
}

// createResident validates res, sets what the server owns and stores it
// (res.ID is set when it was empty).
func (g Registrar) CreateResident(ctx context.Context, res *devices.Resident) error {
	if err := prepareNewResident(res, g.now()); err != nil {
		return err
	}
	if err := g.checkSocialWorker(ctx, res.SocialWorkerID); err != nil {
		return err
	}
	return g.reg.CreateResident(ctx, res)
}

// updateResident stores next in place of cur: access codes sent back as
// the mask keep the stored ones, the social worker is checked when it
// changes (an account disabled since must not block editing a phone), and
// the server's fields are kept. It returns next as stored.
func (g Registrar) UpdateResident(ctx context.Context, cur, next devices.Resident) (devices.Resident, error) {
	next.CreatedAt = cur.CreatedAt
	if next.Access.KeySafeCode == accessMask {
		next.Access.KeySafeCode = cur.Access.KeySafeCode
	}
	if next.Access.DoorCode == accessMask {
		next.Access.DoorCode = cur.Access.DoorCode
	}
	movedAddress(cur, &next)
	now := g.now()
	if err := validateResident(&next, now); err != nil {
		return next, err
	}
	if next.SocialWorkerID != cur.SocialWorkerID {
		if err := g.checkSocialWorker(ctx, next.SocialWorkerID); err != nil {
			return next, err
		}
	}
	next.UpdatedAt = now.UTC().Truncate(time.Second)
	return next, g.reg.UpdateResident(ctx, next)
}

// createHub registers a hub for an existing resident with a new random
// secret, returned once.
func (g Registrar) CreateHub(ctx context.Context, req HubCreateRequest) (HubWithSecret, error) {
	if req.ID != "" {
		if err := devices.ValidateHubID(string(req.ID)); err != nil {
			return HubWithSecret{}, BadRequest("id", "%v", err)
		}
	}
	if err := g.checkResidentRef(ctx, req.ResidentID); err != nil {
		return HubWithSecret{}, err
	}
	now := g.now().UTC().Truncate(time.Second)
	h := devices.Hub{ID: req.ID, ResidentID: req.ResidentID, Firmware: req.Firmware, Model: req.Model,
		InstalledAt: req.InstalledAt, EndOfLife: req.EndOfLife, CreatedAt: now, UpdatedAt: now}
	if h.InstalledAt.IsZero() {
		h.InstalledAt = now
	}
	if h.EndOfLife.IsZero() {
		h.EndOfLife = h.InstalledAt.AddDate(5, 0, 0) // the service life of a gateway (DOMAIN.md, section 1)
	}
	if err := validateHubFields(&h); err != nil {
		return HubWithSecret{}, err
	}
	secret := devices.NewSecret()
	h.SecretHash = devices.HashHubSecret(secret)
	if err := g.reg.CreateHub(ctx, &h); err != nil {
		return HubWithSecret{}, err
	}
	return HubWithSecret{Hub: h, HubID: h.ID, Secret: secret}, nil
}

// checkResidentRef answers 400, not 404, for a missing resident: the
// route exists, the body refers to something that does not.
func (g Registrar) checkResidentRef(ctx context.Context, id devices.ResidentID) error {
	if id == "" {
		return BadRequest("resident_id", "resident_id is required: every hub belongs to a resident")
	}
	if _, err := g.reg.GetResident(ctx, id); err != nil {
		if errors.Is(err, devices.ErrNotFound) {
			return BadRequest("resident_id", "no resident %q", id)
		}
		return err
	}
	return nil
}

// updateHub stores next in place of cur; the secret changes only by
// rotation, and a move to another resident needs that resident.
func (g Registrar) UpdateHub(ctx context.Context, cur, next devices.Hub) (devices.Hub, error) {
	if err := refuseServerOwned(cur.ID, next.ID, cur.Disabled, next.Disabled, "/api/v1/hubs/"+string(cur.ID)); err != nil {
		return next, err
	}
	if next.ResidentID != cur.ResidentID {
		if err := g.checkResidentRef(ctx, next.ResidentID); err != nil {
			return next, err
		}
	}
	if err := validateHubFields(&next); err != nil {
		return next, err
	}
	next.SecretHash, next.CreatedAt = cur.SecretHash, cur.CreatedAt
	next.UpdatedAt = g.now().UTC().Truncate(time.Second)
	return next, g.reg.UpdateHub(ctx, next)
}

// createSensor adds s to its hub (s.Hub, which must exist).
func (g Registrar) CreateSensor(ctx context.Context, s *devices.Sensor) error {
	if s.Disabled {
		return BadRequest("disabled", "a sensor is created enabled; disable it afterwards")
	}
	if s.InstalledAt.IsZero() {
		s.InstalledAt = g.now().UTC().Truncate(time.Second)
	}
	if err := validateSensor(s); err != nil {
		return err
	}
	return g.reg.CreateSensor(ctx, s)
}

// updateSensor stores next in place of cur: kind, location, installation
// and report interval; a sensor stays on its hub.
func (g Registrar) UpdateSensor(ctx context.Context, cur, next devices.Sensor) (devices.Sensor, error) {
	if next.Hub != cur.Hub {
		return next, BadRequest("hub_id", "a sensor cannot move to another hub; add it there and disable it here")
	}
	if err := refuseServerOwned(cur.ID, next.ID, cur.Disabled, next.Disabled, "/api/v1/hubs/"+string(cur.Hub)+"/sensors/"+string(cur.ID)); err != nil {
		return next, err
	}
	if err := validateSensor(&next); err != nil {
		return next, err
	}
	return next, g.reg.UpdateSensor(ctx, next)
}

// setHubDisabled disables or enables a hub. The store is changed before
// the broker is told, so a hub that reconnects at once is checked against
// the disabled record.
func (g Registrar) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	if err := g.reg.SetHubDisabled(ctx, id, disabled); err != nil {
		return err
	}
	if disabled && g.hubs != nil {
		g.hubs.Revoke(id)
	}
	return nil
}

// rotateHubSecret gives the hub a new random secret, returned once, and
// ends its live session (the old secret stops working at once).
func (g Registrar) RotateHubSecret(ctx context.Context, h devices.Hub) (HubWithSecret, error) {
	secret := devices.NewSecret()
	hash := devices.HashHubSecret(secret)
	if err := g.reg.SetHubSecretHash(ctx, h.ID, hash); err != nil {
		return HubWithSecret{}, err
	}
	if g.hubs != nil {
		g.hubs.Revoke(h.ID)
	}
	h.SecretHash = hash
	return HubWithSecret{Hub: h, HubID: h.ID, Secret: secret}, nil
}
