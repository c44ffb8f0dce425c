package console

// The registry changes the admin API (bearer token) and the admin pages
// (a signed-in admin) both make: validation, the social worker check, the
// fields the server owns. One place, so the two doors cannot drift apart.

import (
	"context"
	"slices"
	"time"

	"github.com/dolbom/dolbom/devices"
)

type registrar struct {
	reg Registry
	// hubs drops a hub's live session when it is disabled or its secret
	// replaced; nil where no broker is wired (the pages then offer neither).
	hubs HubControl
	now  func() time.Time
}

// checkSocialWorker refuses a social_worker_id that names no enabled
// social worker's account: a typo would otherwise take the resident off
// every caseload without a word.
func (g registrar) checkSocialWorker(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	a, err := g.reg.GetAccount(ctx, id)
	switch {
	case isNotFound(err):
		return badRequest("social_worker_id", "no account %q: create the social worker's account first (계정 / Accounts), or leave it empty", id)
	case err != nil:
		return err
	case a.Role != RoleSocialWorker:
		return badRequest("social_worker_id", "account %q is a %s, not a social worker", id, a.Role)
	case a.Disabled:
		return badRequest("social_worker_id", "the account of social worker %q is disabled", id)
	}
	return nil
}

// editable is a copy of cur to change: decoding or appending into a slice
// reuses its backing array, and the registry's copy must not change under it.
func editable(cur devices.Resident) devices.Resident {
	next := cur
	next.Medications, next.Allergies, next.Guardians = slices.Clone(cur.Medications), slices.Clone(cur.Allergies), slices.Clone(cur.Guardians)
	return next
}

// createResident validates res, sets what the server owns and stores it
// (res.ID is set when it was empty).
func (g registrar) createResident(ctx context.Context, res *devices.Resident) error {
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
func (g registrar) updateResident(ctx context.Context, cur, next devices.Resident) (devices.Resident, error) {
	next.CreatedAt = cur.CreatedAt
	if next.Access.KeySafeCode == accessMask {
		next.Access.KeySafeCode = cur.Access.KeySafeCode
	}
	if next.Access.DoorCode == accessMask {
		next.Access.DoorCode = cur.Access.DoorCode
	}
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
func (g registrar) createHub(ctx context.Context, req hubCreateRequest) (hubWithSecret, error) {
	if req.ID != "" {
		if err := devices.ValidateHubID(string(req.ID)); err != nil {
			return hubWithSecret{}, badRequest("id", "%v", err)
		}
	}
	if err := g.checkResidentRef(ctx, req.ResidentID); err != nil {
		return hubWithSecret{}, err
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
		return hubWithSecret{}, err
	}
	secret := devices.NewSecret()
	h.SecretHash = devices.HashHubSecret(secret)
	if err := g.reg.CreateHub(ctx, &h); err != nil {
		return hubWithSecret{}, err
	}
	return hubWithSecret{Hub: h, HubID: h.ID, Secret: secret}, nil
}

// checkResidentRef answers 400, not 404, for a missing resident: the
// route exists, the body refers to something that does not.
func (g registrar) checkResidentRef(ctx context.Context, id devices.ResidentID) error {
	if id == "" {
		return badRequest("resident_id", "resident_id is required: every hub belongs to a resident")
	}
	if _, err := g.reg.GetResident(ctx, id); err != nil {
		if isNotFound(err) {
			return badRequest("resident_id", "no resident %q", id)
		}
		return err
	}
	return nil
}

// updateHub stores next in place of cur; the secret changes only by
// rotation, and a move to another resident needs that resident.
func (g registrar) updateHub(ctx context.Context, cur, next devices.Hub) (devices.Hub, error) {
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
func (g registrar) createSensor(ctx context.Context, s *devices.Sensor) error {
	if s.Disabled {
		return badRequest("disabled", "a sensor is created enabled; disable it afterwards")
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
func (g registrar) updateSensor(ctx context.Context, cur, next devices.Sensor) (devices.Sensor, error) {
	if next.Hub != cur.Hub {
		return next, badRequest("hub_id", "a sensor cannot move to another hub; add it there and disable it here")
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
func (g registrar) setHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
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
func (g registrar) rotateHubSecret(ctx context.Context, h devices.Hub) (hubWithSecret, error) {
	secret := devices.NewSecret()
	hash := devices.HashHubSecret(secret)
	if err := g.reg.SetHubSecretHash(ctx, h.ID, hash); err != nil {
		return hubWithSecret{}, err
	}
	if g.hubs != nil {
		g.hubs.Revoke(h.ID)
	}
	h.SecretHash = hash
	return hubWithSecret{Hub: h, HubID: h.ID, Secret: secret}, nil
}
