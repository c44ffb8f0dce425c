package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/ota"
)

// Rollouts is the sub-store of firmware images and rollouts (ota.Store)
// and the registry's list of a model's hubs (ota.Fleet).
type Rollouts struct{ *database }

// Rollouts returns the sub-store of firmware images and rollouts.
func (s *Store) Rollouts() Rollouts { return Rollouts{s.database} }

var (
	_ ota.Store         = Rollouts{}
	_ ota.Fleet         = Rollouts{}
	_ ota.OpenIncidents = Rollouts{}.OpenIncidentHubs
)

// PutFirmwareImage stores an image; publishing the same model and version
// twice is refused (devices.ErrConflict): hubs may already have fetched it.
func (s Rollouts) PutFirmwareImage(ctx context.Context, img ota.Image, data []byte) error {
	n, err := s.be.exec(ctx, `INSERT INTO firmware_images (model, version, size, sha256, signature, data, published_us)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (model, version) DO NOTHING`,
		img.Model, img.Version, img.Size, img.SHA256, img.Signature, data, toUS(img.Published))
	if err != nil {
		return fmt.Errorf("store: put firmware %s %s: %w", img.Model, img.Version, err)
	}
	if n == 0 {
		return fmt.Errorf("store: firmware %s %s: %w", img.Model, img.Version, devices.ErrConflict)
	}
	return nil
}

// FirmwareImage returns a published image's description.
func (s Rollouts) FirmwareImage(ctx context.Context, model, version string) (ota.Image, bool, error) {
	var img ota.Image
	var published int64
	err := s.be.queryRow(ctx, `SELECT model, version, size, sha256, signature, published_us FROM firmware_images WHERE model = $1 AND version = $2`,
		model, version).Scan(&img.Model, &img.Version, &img.Size, &img.SHA256, &img.Signature, &published)
	if isNoRows(err) {
		return ota.Image{}, false, nil
	}
	if err != nil {
		return ota.Image{}, false, fmt.Errorf("store: firmware %s %s: %w", model, version, err)
	}
	img.Published = fromUS(published)
	return img, true, nil
}

// FirmwareImageData returns a published image's bytes (devices.ErrNotFound
// when there is none).
func (s Rollouts) FirmwareImageData(ctx context.Context, model, version string) ([]byte, error) {
	var data []byte
	err := s.be.queryRow(ctx, `SELECT data FROM firmware_images WHERE model = $1 AND version = $2`, model, version).Scan(&data)
	if isNoRows(err) {
		return nil, fmt.Errorf("store: firmware %s %s: %w", model, version, devices.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: firmware %s %s: %w", model, version, err)
	}
	return data, nil
}

// targetsPerStatement keeps a multi-row insert under SQLite's limit of
// bound variables (32766) with 8 per row.
const targetsPerStatement = 1000

// CreateRollout stores a rollout and its targets in one transaction.
func (s Rollouts) CreateRollout(ctx context.Context, r ota.Rollout, ts []ota.Target) (ota.Rollout, error) {
	err := s.be.inTx(ctx, func(q querier) error {
		if err := q.queryRow(ctx, `INSERT INTO rollouts (model, version, rollback_of, plan, stages, stage, stage_started_us, state, reason, created_us, updated_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
			r.Model, r.Version, r.RollbackOf, mustJSON(r.Plan), mustJSON(r.Stages), r.Stage, toUS(r.StageStarted), string(r.State), r.Reason,
			toUS(r.Created), toUS(r.Updated)).Scan(&r.ID); err != nil {
			return err
		}
		return s.upsertTargets(ctx, q, r.ID, ts)
	})
	if err != nil {
		return ota.Rollout{}, fmt.Errorf("store: create rollout %s %s: %w", r.Model, r.Version, err)
	}
	return r, nil
}

func (s Rollouts) upsertTargets(ctx context.Context, q querier, id int64, ts []ota.Target) error {
	for len(ts) > 0 {
		chunk := ts[:min(len(ts), targetsPerStatement)]
		ts = ts[len(chunk):]
		args := make([]any, 0, 8*len(chunk))
		for _, t := range chunk {
			args = append(args, id, string(t.Hub), t.Stage, string(t.Result), string(t.Step), t.Detail, t.Previous, toUS(t.Updated))
		}
		if _, err := q.exec(ctx, `INSERT INTO rollout_targets (rollout_id, hub_id, stage, result, step, detail, previous, updated_us) VALUES `+
			s.be.values(len(chunk), 8)+` ON CONFLICT (rollout_id, hub_id) DO UPDATE SET stage = excluded.stage, result = excluded.result,
			step = excluded.step, detail = excluded.detail, updated_us = excluded.updated_us`, args...); err != nil {
			return err
		}
	}
	return nil
}

// UpdateRollout writes a rollout's stage and state.
func (s Rollouts) UpdateRollout(ctx context.Context, r ota.Rollout) error {
	_, err := s.be.exec(ctx, `UPDATE rollouts SET stage = $2, stage_started_us = $3, state = $4, reason = $5, updated_us = $6 WHERE id = $1`,
		r.ID, r.Stage, toUS(r.StageStarted), string(r.State), r.Reason, toUS(r.Updated))
	if err != nil {
		return fmt.Errorf("store: update rollout %d: %w", r.ID, err)
	}
	return nil
}

// UpdateTargets writes the given targets' results.
func (s Rollouts) UpdateTargets(ctx context.Context, id int64, ts []ota.Target) error {
	if err := s.be.inTx(ctx, func(q querier) error { return s.upsertTargets(ctx, q, id, ts) }); err != nil {
		return fmt.Errorf("store: rollout %d targets: %w", id, err)
	}
	return nil
}

const rolloutColumns = `id, model, version, rollback_of, plan, stages, stage, stage_started_us, state, reason, created_us, updated_us`

func scanRollout(sc row) (ota.Rollout, error) {
	var r ota.Rollout
	var plan, stages, state string
	var started, created, updated int64
	if err := sc.Scan(&r.ID, &r.Model, &r.Version, &r.RollbackOf, &plan, &stages, &r.Stage, &started, &state, &r.Reason, &created, &updated); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(plan), &r.Plan); err != nil {
		return r, fmt.Errorf("rollout %d plan: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(stages), &r.Stages); err != nil {
		return r, fmt.Errorf("rollout %d stages: %w", r.ID, err)
	}
	r.State, r.StageStarted, r.Created, r.Updated = ota.State(state), fromUS(started), fromUS(created), fromUS(updated)
	return r, nil
}

// Rollouts returns the latest rollouts, newest first.
func (s Rollouts) Rollouts(ctx context.Context, limit int) ([]ota.Rollout, error) {
	rs, err := s.be.query(ctx, `SELECT `+rolloutColumns+` FROM rollouts ORDER BY id DESC LIMIT $1`, limit)
	return collect(rs, err, "rollouts", scanRollout)
}

// RolloutTargets returns every target of a rollout, by hub.
func (s Rollouts) RolloutTargets(ctx context.Context, id int64) ([]ota.Target, error) {
	rs, err := s.be.query(ctx, `SELECT hub_id, stage, result, step, detail, previous, updated_us FROM rollout_targets WHERE rollout_id = $1 ORDER BY hub_id`, id)
	return collect(rs, err, "rollout targets", scanTarget)
}

func scanTarget(sc row) (ota.Target, error) {
	var t ota.Target
	var hub, result, step string
	var updated int64
	err := sc.Scan(&hub, &t.Stage, &result, &step, &t.Detail, &t.Previous, &updated)
	t.Hub, t.Result, t.Step, t.Updated = devices.HubID(hub), ota.Result(result), devices.FirmwareStep(step), fromUS(updated)
	return t, err
}

// HubsOfModel lists the enabled hubs of a model with the firmware they last
// reported, else the one the registry declares (firmwareSQL): a hub that
// already runs a rollout's version is skipped by it, and each target's
// previous version (a rollback's) is what the hub runs. The reported
// version lives in hub_health, so the query runs on the state back end
// (as the fleet's: on SQLite state.db, with dolbom.db attached as core).
func (s Rollouts) HubsOfModel(ctx context.Context, model string) ([]ota.HubFirmware, error) {
	rs, err := s.st.query(ctx, `SELECT h.id, `+firmwareSQL+` FROM hubs h LEFT JOIN hub_health hh ON hh.hub_id = h.id
		WHERE h.model = $1 AND h.disabled = $2 ORDER BY h.id`, model, false)
	return collect(rs, err, "hubs of model "+model, func(sc row) (ota.HubFirmware, error) {
		var h ota.HubFirmware
		var id string
		err := sc.Scan(&id, &h.Firmware)
		h.Hub = devices.HubID(id)
		return h, err
	})
}

// Rollout returns one rollout (devices.ErrNotFound when there is none).
func (s Rollouts) Rollout(ctx context.Context, id int64) (ota.Rollout, error) {
	r, err := scanRollout(s.be.queryRow(ctx, `SELECT `+rolloutColumns+` FROM rollouts WHERE id = $1`, id))
	return one(r, err, "rollout", id)
}

// RolloutCounts counts the hubs of some rollouts by stage and result, in
// one grouped query (the console's rollouts page: a national rollout has
// 300,000 targets, which are never read one by one for a count). Each
// rollout's slice has one entry per stage that has hubs.
func (s Rollouts) RolloutCounts(ctx context.Context, ids []int64) (map[int64][]ota.Counts, error) {
	out := make(map[int64][]ota.Counts, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	marks := make([]string, len(ids))
	for i, id := range ids {
		args[i], marks[i] = id, fmt.Sprintf("$%d", i+1)
	}
	rs, err := s.be.query(ctx, `SELECT rollout_id, stage, result, count(*) FROM rollout_targets WHERE rollout_id IN (`+
		strings.Join(marks, ", ")+`) GROUP BY rollout_id, stage, result`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: rollout counts: %w", err)
	}
	defer rs.Close()
	for rs.Next() {
		var id int64
		var stage, n int
		var result string
		if err := rs.Scan(&id, &stage, &result, &n); err != nil {
			return nil, fmt.Errorf("store: rollout counts: %w", err)
		}
		if stage < 0 {
			continue
		}
		cs := out[id]
		for len(cs) <= stage {
			cs = append(cs, ota.Counts{})
		}
		cs[stage].Add(ota.Result(result), n)
		out[id] = cs
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("store: rollout counts: %w", err)
	}
	return out, nil
}

// RolloutFailures returns up to limit hubs of a rollout that failed or did
// not come back, by hub (the page lists them; their number is in the
// counts).
func (s Rollouts) RolloutFailures(ctx context.Context, id int64, limit int) ([]ota.Target, error) {
	rs, err := s.be.query(ctx, `SELECT hub_id, stage, result, step, detail, previous, updated_us FROM rollout_targets
		WHERE rollout_id = $1 AND result IN ($2, $3) ORDER BY hub_id LIMIT $4`, id, string(ota.Failed), string(ota.Lost), limit)
	return collect(rs, err, "rollout failures", scanTarget)
}

// hubsPerOpenQuery bounds the hubs named in one query of OpenIncidentHubs
// (a wave asks for a batch of ota's sendBatch at a time).
const hubsPerOpenQuery = 500

// OpenIncidentHubs is ota.OpenIncidents: of hubs, those whose resident has
// an emergency or welfare incident open. A device-health incident (a low
// battery, a silent sensor) does not hold a hub back: an update may be its
// cure (dispatch.IsDeviceHealth). It answers for every hub asked, however
// many incidents are open elsewhere (no page limit), from the open
// incidents' partial index (incidents_hub_open).
func (s Rollouts) OpenIncidentHubs(ctx context.Context, hubs []devices.HubID) (map[devices.HubID]bool, error) {
	type openIncident struct {
		hub   devices.HubID
		cause detectors.Cause
		data  string
	}
	open := map[devices.HubID]bool{}
	for len(hubs) > 0 {
		chunk := hubs[:min(len(hubs), hubsPerOpenQuery)]
		hubs = hubs[len(chunk):]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, h := range chunk {
			ph[i], args[i] = fmt.Sprintf("$%d", i+1), string(h)
		}
		rs, err := s.be.query(ctx, `SELECT hub_id, cause, data FROM incidents
			WHERE hub_id IN (`+strings.Join(ph, ", ")+`) AND state NOT IN ('resolved', 'cancelled')`, args...)
		incs, err := collect(rs, err, "open incidents of hubs", func(sc row) (openIncident, error) {
			var inc openIncident
			var hub, cause string
			err := sc.Scan(&hub, &cause, &inc.data)
			inc.hub, inc.cause = devices.HubID(hub), detectors.Cause(cause)
			return inc, err
		})
		if err != nil {
			return nil, err
		}
		for _, inc := range incs {
			var d struct {
				Class detectors.Class `json:"class"`
			}
			if err := json.Unmarshal([]byte(inc.data), &d); err != nil {
				return nil, fmt.Errorf("store: open incident of hub %s: %w", inc.hub, err)
			}
			if !dispatch.IsDeviceHealth(inc.cause, d.Class) {
				open[inc.hub] = true
			}
		}
	}
	return open, nil
}
