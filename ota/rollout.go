package ota

import (
	"context"
	"errors"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Image is a published firmware image (its bytes are kept by the Store).
type Image struct {
	Model     string    `json:"model"`
	Version   string    `json:"version"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	Signature string    `json:"signature"` // base64 ed25519 of devices.FirmwareManifest
	Published time.Time `json:"published"`
}

// State is where a rollout is.
type State string

const (
	Running    State = "running"
	Halted     State = "halted"      // by itself (threshold) or by an operator
	Done       State = "done"        // every stage passed
	RolledBack State = "rolled_back" // halted, then its previous version re-sent
)

// Rollout is one version sent to one model's hubs.
type Rollout struct {
	ID      int64  `json:"id"`
	Model   string `json:"model"`
	Version string `json:"version"`
	// RollbackOf is the rollout this one undoes (0 when none): it re-sends
	// Version, the version the hubs ran before.
	RollbackOf   int64     `json:"rollback_of,omitempty"`
	Plan         Plan      `json:"plan"`
	Stages       []int     `json:"stages"` // hubs per stage, from Plan.Stages
	Stage        int       `json:"stage"`  // current stage (len(Stages) once done)
	StageStarted time.Time `json:"stage_started"`
	State        State     `json:"state"`
	Reason       string    `json:"reason,omitempty"` // why it halted
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Result is where one hub is in a rollout.
type Result string

const (
	Pending     Result = "pending"
	Postponed   Result = "postponed"   // an incident is open for the hub's resident
	Sent        Result = "sent"        // commanded; Step tells the last step reported
	Installed   Result = "running"     // reports the rollout's version
	Failed      Result = "failed"      // acknowledged failed; Detail is the reason code
	Lost        Result = "lost"        // did not come back within the stage timeout
	Unreachable Result = "unreachable" // no session at the broker: never commanded
)

// Target is one hub of a rollout.
type Target struct {
	Hub      devices.HubID        `json:"hub"`
	Stage    int                  `json:"stage"`
	Result   Result               `json:"result"`
	Step     devices.FirmwareStep `json:"step,omitempty"`
	Detail   string               `json:"detail,omitempty"`
	Previous string               `json:"previous,omitempty"` // the firmware it ran before
	Updated  time.Time            `json:"updated"`
}

// HubFirmware is a hub and the firmware it last reported.
type HubFirmware struct {
	Hub      devices.HubID
	Firmware string
}

// Store keeps images and rollouts durable (store.Store implements it on
// SQLite and PostgreSQL).
type Store interface {
	PutFirmwareImage(ctx context.Context, img Image, data []byte) error
	FirmwareImage(ctx context.Context, model, version string) (Image, bool, error)
	FirmwareImageData(ctx context.Context, model, version string) ([]byte, error)
	// CreateRollout stores r and its targets and returns r with its ID.
	CreateRollout(ctx context.Context, r Rollout, targets []Target) (Rollout, error)
	UpdateRollout(ctx context.Context, r Rollout) error
	// UpdateTargets writes the given targets' results.
	UpdateTargets(ctx context.Context, id int64, ts []Target) error
	// Rollouts returns the latest rollouts, newest first.
	Rollouts(ctx context.Context, limit int) ([]Rollout, error)
	// RolloutTargets returns every target of a rollout.
	RolloutTargets(ctx context.Context, id int64) ([]Target, error)
}

// Fleet lists a model's hubs with their firmware (the registry).
type Fleet interface {
	HubsOfModel(ctx context.Context, model string) ([]HubFirmware, error)
}

// Commander sends a command to a hub (the broker).
type Commander interface {
	SendCommand(ctx context.Context, hub devices.HubID, c devices.Command) error
}

// ErrNotServing is what a Commander returns (wrapped) when no hub can be
// reached now: the broker is not serving yet, or has stopped. Nothing was
// said to the hub, so it stays as it was for a later step, not
// Unreachable for the rest of the rollout.
var ErrNotServing = errors.New("ota: the broker is not serving")

// OpenIncidents returns, of hubs, those whose resident has an emergency or
// welfare incident open: their reboot waits until it is closed. A wave
// asks it for each batch of hubs right before commanding them (and again
// for the rest of a batch that takes longer than a second), so it must
// answer for every hub asked, however many incidents are open.
type OpenIncidents func(ctx context.Context, hubs []devices.HubID) (map[devices.HubID]bool, error)

// CommanderFunc adapts a function to Commander.
type CommanderFunc func(ctx context.Context, hub devices.HubID, c devices.Command) error

// SendCommand calls f.
func (f CommanderFunc) SendCommand(ctx context.Context, hub devices.HubID, c devices.Command) error {
	return f(ctx, hub, c)
}
