package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func runRolloutJSON(t *testing.T, args ...string) RolloutReport {
	t.Helper()
	var out, errs bytes.Buffer
	if _, err := cmdRollout(context.Background(), append(args, "--json"), &out, &errs); err != nil {
		t.Fatalf("rollout %s: %v\n%s", strings.Join(args, " "), err, errs.String())
	}
	var rep RolloutReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	return rep
}

// The load test at small scale: 2,000 simulated hubs, 3% of
// installs failing, canary 1% and a 2% threshold: the rollout halts at its
// canary and no hub beyond it is commanded.
func TestRolloutHaltsAtTheCanary(t *testing.T) {
	rep := runRolloutJSON(t, "--homes", "2000", "--canary", "1", "--halt-on-failures", "2", "--ota-failure-rate", "0.03")
	if !rep.Halted || rep.StageReached != 0 || len(rep.Stages) != 4 || rep.Stages[0] != 20 {
		t.Fatalf("state %s at stage %d of %v, want halted at the canary: %s", rep.State, rep.StageReached, rep.Stages, rep.Reason)
	}
	if rep.HubsCommanded != 20 || rep.FailureReasons["install"] == 0 {
		t.Errorf("%d hubs commanded (want the canary's 20), failures %v", rep.HubsCommanded, rep.FailureReasons)
	}
	// The canary's hubs commanded before the halt finish and are counted.
	if c := rep.PerStage[0]; c.Installed+c.Failed != 20 || c.Failed == 0 {
		t.Errorf("the canary after the halt: %+v", c)
	}
	for s, c := range rep.PerStage[1:] {
		if c.Total-c.Pending != 0 {
			t.Errorf("stage %d touched after the halt: %+v", s+1, c)
		}
	}
}

// Without failures every stage passes and every hub reboots into the new
// version and reports it.
func TestRolloutCompletes(t *testing.T) {
	rep := runRolloutJSON(t, "--homes", "200", "--canary", "10", "--ota-failure-rate", "0", "--stage-timeout", "1m")
	if rep.State != "done" || rep.RunningVersion != 200 || rep.HubsRebooted != 200 {
		t.Fatalf("state %s (%s), %d of 200 running the new version, %d rebooted", rep.State, rep.Reason, rep.RunningVersion, rep.HubsRebooted)
	}
	for s, c := range rep.PerStage {
		if c.Installed != c.Total {
			t.Errorf("stage %d: %+v", s, c)
		}
	}
}

// Hubs refuse an image whose signature is not the vendor's, even when the
// gateway was given the wrong key and published it: the canary fails on
// "signature" and nothing is installed.
func TestRolloutBadSignatureRefusedByHubs(t *testing.T) {
	rep := runRolloutJSON(t, "--homes", "100", "--canary", "10", "--bad-signature")
	if !rep.Halted || rep.StageReached != 0 || rep.FailureReasons["signature"] != 10 || rep.RunningVersion != 0 || rep.HubsInstalled != 0 {
		t.Fatalf("%s at %d (%s), reasons %v, running %d, installed %d", rep.State, rep.StageReached, rep.Reason, rep.FailureReasons, rep.RunningVersion, rep.HubsInstalled)
	}
}

// A gateway restarted mid-rollout carries on from the stored stage: every
// hub ends on the new version and none is commanded twice (the hubs count
// every command they receive).
func TestRolloutSurvivesGatewayRestart(t *testing.T) {
	rep := runRolloutJSON(t, "--homes", "300", "--canary", "10", "--ota-failure-rate", "0", "--stage-timeout", "1m", "--restart-at-stage", "1")
	if rep.RestartedAtStage < 1 || rep.State != "done" || rep.RunningVersion != 300 || rep.HubsCommanded != 300 {
		t.Fatalf("restarted at stage %d: state %s (%s), %d of 300 running the new version, %d commands received",
			rep.RestartedAtStage, rep.State, rep.Reason, rep.RunningVersion, rep.HubsCommanded)
	}
}
