package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// RolloutAdmin runs firmware rollouts (the gateway's ota.Engine). Its
// answers are the engine's records, written out as JSON as they are: the
// console does not interpret them, so it needs none of their types.
type RolloutAdmin interface {
	// PublishFirmware verifies and stores an image.
	PublishFirmware(ctx context.Context, model, version, signature string, image []byte) (any, error)
	// StartRollout starts a rollout of a published version; canary and
	// haltOn are fractions (0.01 for 1%); a zero stageTimeout takes the
	// engine's default.
	StartRollout(ctx context.Context, model, version string, canary, haltOn float64, stageTimeout time.Duration) (any, error)
	// RolloutStatus returns the newest rollout with its counts per stage
	// (devices.ErrNotFound when there has been none).
	RolloutStatus(ctx context.Context) (any, error)
	HaltRollout(ctx context.Context, reason string) (any, error)
	RollbackRollout(ctx context.Context) (any, error)
}

// MaxFirmwareBytes bounds a published image (devices.MaxFirmwareSize).
const MaxFirmwareBytes = 64 << 20

func (a *adminAPI) rolloutRoutes(m routeMux) {
	const p = "/api/v1"
	m.HandleFunc("POST "+p+"/firmware/{model}/{version}", a.publishFirmware)
	m.HandleFunc("POST "+p+"/rollouts", a.startRollout)
	m.HandleFunc("GET "+p+"/rollouts/current", a.rolloutStatus)
	m.HandleFunc("POST "+p+"/rollouts/current/halt", a.haltRollout)
	m.HandleFunc("POST "+p+"/rollouts/current/rollback", a.rollbackRollout)
}

// rollouts is the rollout port, for a national admin's token only: a
// rollout commands hubs of every region, and its status counts them all.
func (a *adminAPI) rollouts(w http.ResponseWriter, r *http.Request) (RolloutAdmin, bool) {
	if err := nationalOnly(r.Context(), "firmware and rollouts"); err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			WriteError(w, ae)
		}
		return nil, false
	}
	if a.cfg.Rollouts == nil {
		WriteError(w, &Error{Status: http.StatusNotFound, Msg: "firmware rollouts are not enabled on this gateway"})
		return nil, false
	}
	return a.cfg.Rollouts, true
}

// publishFirmware takes the image as the raw body, the signature in the
// X-Firmware-Signature header or the signature query parameter (standard base64 of the ed25519 signature of
// the manifest, docs/protocol.md section 11.3).
func (a *adminAPI) publishFirmware(w http.ResponseWriter, r *http.Request) {
	ro, ok := a.rollouts(w, r)
	if !ok {
		return
	}
	sig := strings.TrimSpace(r.Header.Get("X-Firmware-Signature"))
	if sig == "" {
		sig = r.URL.Query().Get("signature")
	}
	if sig == "" {
		WriteError(w, BadRequest("X-Firmware-Signature", "the image's signature is required (standard base64 of 64 bytes)"))
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxFirmwareBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig) || len(data) > MaxFirmwareBytes:
		WriteError(w, &Error{Status: http.StatusRequestEntityTooLarge, Msg: "the image is over " + strconv.Itoa(MaxFirmwareBytes) + " bytes"})
		return
	case err != nil:
		WriteError(w, BadRequest("", "reading the image: %v", err))
		return
	case len(data) == 0:
		WriteError(w, BadRequest("", "the body (the image) is empty"))
		return
	}
	img, err := ro.PublishFirmware(r.Context(), r.PathValue("model"), r.PathValue("version"), sig, data)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	a.log.Info().Str("model", r.PathValue("model")).Str("version", r.PathValue("version")).Int("size", len(data)).Msg("firmware published")
	WriteJSON(w, http.StatusCreated, img)
}

// rolloutBody is what POST /api/v1/rollouts takes.
type rolloutBody struct {
	Model   string `json:"model"`
	Version string `json:"version"`
	// Canary and HaltOnFailures are percentages (1 for 1%).
	Canary         float64 `json:"canary_percent"`
	HaltOnFailures float64 `json:"halt_on_failures_percent"`
	// StageTimeout is how long a stage's hubs have to come back, as Go
	// writes durations ("30m"); empty: the default.
	StageTimeout string `json:"stage_timeout,omitempty"`
}

func (a *adminAPI) startRollout(w http.ResponseWriter, r *http.Request) {
	ro, ok := a.rollouts(w, r)
	if !ok {
		return
	}
	var body rolloutBody
	if err := a.decodeJSON(w, r, &body); err != nil {
		a.fail(w, r, err, "")
		return
	}
	if body.Model == "" || body.Version == "" {
		WriteError(w, BadRequest("version", "model and version are required"))
		return
	}
	var timeout time.Duration
	if body.StageTimeout != "" {
		d, err := time.ParseDuration(body.StageTimeout)
		if err != nil || d <= 0 {
			WriteError(w, BadRequest("stage_timeout", "want a positive duration such as \"30m\", got %q", body.StageTimeout))
			return
		}
		timeout = d
	}
	out, err := ro.StartRollout(r.Context(), body.Model, body.Version, body.Canary/100, body.HaltOnFailures/100, timeout)
	if err != nil {
		a.failRollout(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, out)
}

func (a *adminAPI) rolloutStatus(w http.ResponseWriter, r *http.Request) {
	if ro, ok := a.rollouts(w, r); ok {
		out, err := ro.RolloutStatus(r.Context())
		a.answer(w, r, out, err)
	}
}

func (a *adminAPI) haltRollout(w http.ResponseWriter, r *http.Request) {
	if ro, ok := a.rollouts(w, r); ok {
		var body struct {
			Reason string `json:"reason"`
		}
		if r.ContentLength != 0 {
			if err := a.decodeJSON(w, r, &body); err != nil {
				a.fail(w, r, err, "")
				return
			}
		}
		if body.Reason == "" {
			body.Reason = "halted by an operator"
		}
		out, err := ro.HaltRollout(r.Context(), body.Reason)
		a.answer(w, r, out, err)
	}
}

func (a *adminAPI) rollbackRollout(w http.ResponseWriter, r *http.Request) {
	if ro, ok := a.rollouts(w, r); ok {
		out, err := ro.RollbackRollout(r.Context())
		a.answer(w, r, out, err)
	}
}

func (a *adminAPI) answer(w http.ResponseWriter, r *http.Request, out any, err error) {
	if err != nil {
		a.failRollout(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, out)
}

// failRollout is fail, but a missing image or rollout is answered with the
// engine's own words, which say which one and what to do.
func (a *adminAPI) failRollout(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, devices.ErrNotFound) {
		WriteError(w, &Error{Status: http.StatusNotFound, Msg: err.Error()})
		return
	}
	a.fail(w, r, err, "")
}
