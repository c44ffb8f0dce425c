package console

// The registry changes the admin API (bearer token) and the admin pages
// (a signed-in admin) both make: validation, the social worker check, the
// fields the server owns. One place, so the two doors cannot drift apart.

import (
	"context"
	"time"

	"github.com/dolbom/dolbom/devices"
)

type registrar struct {
	reg Registry
	now func() time.Time
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
