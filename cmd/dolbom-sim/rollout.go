package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/ota"
)

// RolloutReport is the JSON of `dolbom-sim rollout`.
type RolloutReport struct {
	Homes           int            `json:"homes"`
	Online          int64          `json:"online_at_start"`
	Version         string         `json:"version"`
	CanaryPercent   float64        `json:"canary_percent"`
	HaltPercent     float64        `json:"halt_on_failures_percent"`
	OTAFailureRate  float64        `json:"ota_failure_rate"`
	BadSignature    bool           `json:"bad_signature,omitempty"`
	Stages          []int          `json:"stages"`
	StageReached    int            `json:"stage_reached"`
	State           string         `json:"state"`
	Halted          bool           `json:"halted"`
	Reason          string         `json:"reason,omitempty"`
	PerStage        []ota.Counts   `json:"per_stage"`
	FailureReasons  map[string]int `json:"failure_reasons"`
	StageStartedS   []float64      `json:"stage_started_s"` // seconds after the rollout started
	ConnectS        float64        `json:"connect_s"`       // fleet online, from the first dial
	RolloutS        float64        `json:"rollout_s"`       // start to halt or done (per_stage: once the hubs commanded before a halt have reported)
	HubsCommanded   int64          `json:"hubs_commanded"`
	HubsInstalled   int64          `json:"hubs_installed"`
	HubsFailed      int64          `json:"hubs_failed"`
	HubsRebooted    int64          `json:"hubs_rebooted"`
	RunningVersion  int            `json:"hubs_running_version"`
	Command         string         `json:"command"`
	StoppedByTimout bool           `json:"stopped_by_timeout,omitempty"`
	// RestartedAtStage is the stage at which the gateway was restarted
	// (--restart-at-stage), 0 when it was not.
	RestartedAtStage int `json:"restarted_at_stage,omitempty"`
}

type rolloutFlags struct {
	homes                      int
	canary, halt, failRate     float64
	rate                       float64
	stageTimeout, reboot, wait time.Duration
	badSignature, asJSON       bool
	restartAtStage             int
}

// cmdRollout runs a firmware rollout to N simulated hubs through an
// in-process gateway: the admin API publishes a signed image and starts the
// rollout, the gateway's ota engine sends firmware_update through its
// broker, and the hubs download the image from the gateway's HTTP handler,
// verify, install (failing at --ota-failure-rate), reboot and come back.
func cmdRollout(ctx context.Context, args []string, stdout, stderr io.Writer) (halted bool, err error) {
	var c common
	var f rolloutFlags
	fs := flag.NewFlagSet("rollout", flag.ContinueOnError)
	c.register(fs)
	fs.IntVar(&f.homes, "homes", 2000, "simulated hubs")
	fs.Float64Var(&f.canary, "canary", 1, "canary stage, percent of the hubs")
	fs.Float64Var(&f.halt, "halt-on-failures", 2, "halt when failed installs plus hubs not back exceed this percent of a stage")
	fs.Float64Var(&f.failRate, "ota-failure-rate", 0.03, "share of installs that fail on the hubs (0.03 is 3%)")
	fs.Float64Var(&f.rate, "connect-rate", 2000, "hubs connecting per second at the start")
	fs.DurationVar(&f.stageTimeout, "stage-timeout", 2*time.Minute, "time a stage's hubs have to come back")
	fs.DurationVar(&f.reboot, "reboot", 2*time.Second, "time a hub is away rebooting")
	fs.DurationVar(&f.wait, "max-wait", 30*time.Minute, "give up after this long")
	fs.BoolVar(&f.badSignature, "bad-signature", false, "publish an image signed with a key the hubs do not hold (the gateway is given that key)")
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	fs.IntVar(&f.restartAtStage, "restart-at-stage", 0, "stop and start the gateway once the rollout reaches this stage (0: never); it must carry on")
	if err := fs.Parse(args); err != nil {
		return false, err
	}
	if c.target != "" {
		return false, errors.New("rollout runs against the in-process gateway only (its hubs must be registered with their model)")
	}
	if f.homes <= 0 || f.failRate < 0 || f.failRate >= 1 {
		return false, errors.New("--homes must be positive and --ota-failure-rate in [0, 1)")
	}
	// The vendor's key: the hubs hold pub; the image is signed with priv,
	// or, with --bad-signature, with another key the gateway trusts.
	pub, priv, _ := ed25519.GenerateKey(nil)
	signer, gatewayKey := priv, pub
	if f.badSignature {
		otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
		signer, gatewayKey = otherPriv, otherPub
	}
	c.inproc = append(c.inproc, func(e *inproc) {
		e.firmware = gateway.FirmwareOptions{URL: "http://inproc", VendorKey: base64.StdEncoding.EncodeToString(gatewayKey)}
		e.otaTick = 200 * time.Millisecond
	})
	tr, prov, a, env, cleanup, err := c.setup(ctx, stderr, broker.Config{}, true)
	if err != nil {
		return false, err
	}
	defer cleanup()
	ids, secrets, err := provisionHomes(ctx, prov, f.homes, 0, false, stderr)
	if err != nil {
		return false, err
	}
	fleet := firmwaresim.NewFleet(firmwaresim.Options{Transport: tr, Seed: c.seed, Version: c.version(), NoReadings: true, NoEvents: true,
		VendorKey: pub, OTAFailureRate: f.failRate, Reboot: f.reboot, HTTPClient: a.hc, Logger: c.logger(stderr)})
	t0 := time.Now()
	for i := range f.homes {
		fleet.Start(fleet.Add(ids[i], secrets[i], uint32(i)), t0.Add(time.Duration(float64(i)/f.rate*float64(time.Second))))
	}
	fctx, stopFleet := context.WithCancel(ctx)
	fleetDone := make(chan error, 1)
	go func() { fleetDone <- fleet.Run(fctx) }()
	defer func() { stopFleet(); <-fleetDone }()

	rep := RolloutReport{Homes: f.homes, Version: "sim-2", CanaryPercent: f.canary, HaltPercent: f.halt, OTAFailureRate: f.failRate,
		BadSignature: f.badSignature, Command: "dolbom-sim rollout " + strings.Join(args, " ")}
	deadline := time.Now().Add(f.wait)
	// The rollout starts once every hub is online, or once the count has
	// not grown for a minute (a few hubs refused or backing off must not
	// stop a 300,000-hub run; they are unreachable to the rollout, and the
	// report says how many were online).
	best, since := int64(-1), time.Now()
	for online := fleet.Stats().Online; online < int64(f.homes); online = fleet.Stats().Online {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false, fmt.Errorf("only %d of %d hubs online after %v", online, f.homes, f.wait)
		}
		if online > best {
			best, since = online, time.Now()
		} else if time.Since(since) > time.Minute && online > 0 {
			fmt.Fprintf(stderr, "rollout: %d of %d hubs online, no more for a minute: starting\n", online, f.homes)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(stderr, "rollout: %d hubs online in %.1fs\n", fleet.Stats().Online, time.Since(t0).Seconds())
	rep.ConnectS = time.Since(t0).Seconds()
	rep.Online = fleet.Stats().Online

	image := bytes.Repeat([]byte("dolbom simulated firmware sim-2\n"), 1024)
	if err := publishImage(ctx, a, signer, firmwaresim.SimModel, rep.Version, image); err != nil {
		return false, err
	}
	if err := a.do(ctx, "POST", "/api/v1/rollouts", map[string]any{"model": firmwaresim.SimModel, "version": rep.Version,
		"canary_percent": f.canary, "halt_on_failures_percent": f.halt, "stage_timeout": f.stageTimeout.String()}, nil); err != nil {
		return false, err
	}
	t1 := time.Now()
	rep.StageStartedS = []float64{0}
	var cur ota.Report
	for {
		if err := a.do(ctx, "GET", "/api/v1/rollouts/current", nil, &cur); err != nil {
			return false, err
		}
		for len(rep.StageStartedS) <= cur.Stage && len(rep.StageStartedS) < len(cur.Stages) {
			rep.StageStartedS = append(rep.StageStartedS, time.Since(t1).Seconds())
		}
		if cur.State != ota.Running {
			break
		}
		if f.restartAtStage > 0 && cur.Stage >= f.restartAtStage && rep.RestartedAtStage == 0 {
			// Mid-rollout: the new gateway must load the rollout from the
			// store and neither lose nor repeat what the old one did.
			rep.RestartedAtStage = cur.Stage
			if err := env.restart(ctx); err != nil {
				return false, fmt.Errorf("restart: %w", err)
			}
			continue
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			rep.StoppedByTimout = true
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	rep.RolloutS = time.Since(t1).Seconds()
	// After a halt the hubs already commanded finish (reboot and report):
	// the counts are taken once they have, or after twice the reboot time.
	for settle := time.Now().Add(2*f.reboot + 5*time.Second); cur.State == ota.Halted && time.Now().Before(settle); {
		if c := cur.PerStage[min(cur.Stage, len(cur.PerStage)-1)]; c.Sent == 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
		if err := a.do(ctx, "GET", "/api/v1/rollouts/current", nil, &cur); err != nil {
			return false, err
		}
	}
	rep.Stages, rep.StageReached, rep.State, rep.Reason = cur.Stages, min(cur.Stage, len(cur.Stages)-1), string(cur.State), cur.Reason
	rep.Halted = cur.State == ota.Halted
	rep.PerStage, rep.FailureReasons = cur.PerStage, cur.Reasons
	st := fleet.Stats()
	rep.HubsCommanded, rep.HubsInstalled, rep.HubsFailed, rep.HubsRebooted = st.Commands, st.OTAInstalls, st.OTAFailed, st.OTAReboots
	for _, h := range fleet.Hubs() {
		if h.Firmware() == rep.Version {
			rep.RunningVersion++
		}
	}
	if f.asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return rep.Halted, enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "rollout of %s to %d hubs: %s at stage %d of %v (%s) after %.1fs; commanded %d, failed %d, running it %d\n",
		rep.Version, rep.Homes, rep.State, rep.StageReached, rep.Stages, rep.Reason, rep.RolloutS, rep.HubsCommanded, rep.HubsFailed, rep.RunningVersion)
	return rep.Halted, nil
}

// publishImage signs an image's manifest and publishes it through the
// admin API, as `dolbomctl firmware publish` does.
func publishImage(ctx context.Context, a *api, key ed25519.PrivateKey, model, version string, image []byte) error {
	sum := sha256.Sum256(image)
	sig := ed25519.Sign(key, devices.FirmwareManifest(model, version, int64(len(image)), hex.EncodeToString(sum[:])))
	req, err := http.NewRequestWithContext(ctx, "POST", a.base+"/api/v1/firmware/"+model+"/"+version, bytes.NewReader(image))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Firmware-Signature", base64.StdEncoding.EncodeToString(sig))
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sim: publish firmware: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return &apiError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil
}
