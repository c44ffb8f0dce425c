package main

import (
	"context"
	"encoding/base64"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Firmware and rollouts (docs/operations.md, "Rollouts").

// firmwarePublish uploads a signed image: "firmware publish FILE --model M
// --version V --signature-file SIG".
func (c *cli) firmwarePublish(ctx context.Context, args []string) error {
	fs := c.flagSet("firmware publish")
	model := fs.String("model", "", "the hardware model the image is for (as hubs report it)")
	version := fs.String("version", "", "the version hubs will report once they run it")
	sigFile := fs.String("signature-file", "", "the vendor's ed25519 signature of the image's manifest: 64 raw bytes or their standard base64 (docs/protocol.md section 11.3)")
	pos, err := parse(fs, args, "IMAGE")
	if err != nil {
		return err
	}
	if *model == "" || *version == "" || *sigFile == "" {
		return usageErrorf("--model, --version and --signature-file are required")
	}
	sig, err := os.ReadFile(*sigFile)
	if err != nil {
		return usageErrorf("--signature-file: %v", err)
	}
	signature := strings.TrimSpace(string(sig))
	if len(sig) == 64 { // raw bytes, as `openssl pkeyutl -sign` writes them
		signature = base64.StdEncoding.EncodeToString(sig)
	}
	data, err := c.upload(ctx, "POST", pathEscape("firmware", *model, *version), pos[0], url.Values{"signature": {signature}}, "application/octet-stream")
	if err != nil {
		return err
	}
	return c.print(data)
}

// percentFlag reads "1%" or "1" as 1 (percent).
type percentFlag float64

func (p *percentFlag) String() string { return strconv.FormatFloat(float64(*p), 'g', -1, 64) + "%" }

func (p *percentFlag) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(s), "%"), 64)
	if err != nil || v < 0 || v > 100 {
		return usageErrorf("want a percentage such as 1%% or 0.5, got %q", s)
	}
	*p = percentFlag(v)
	return nil
}

// rolloutStart starts a rollout: "rollout start --version V --model M
// --canary 1% --halt-on-failures 2%".
func (c *cli) rolloutStart(ctx context.Context, args []string) error {
	fs := c.flagSet("rollout start")
	version := fs.String("version", "", "the published version to roll out")
	model := fs.String("model", "", "the hardware model whose hubs get it")
	canary, halt := percentFlag(1), percentFlag(2)
	fs.Var(&canary, "canary", "the first stage's share of the hubs")
	fs.Var(&halt, "halt-on-failures", "halt when failed installs plus hubs not back exceed this share of a stage")
	timeout := fs.String("stage-timeout", "", "how long a stage's hubs have to come back (default 30m)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *version == "" || *model == "" {
		return usageErrorf("--version and --model are required")
	}
	body := map[string]any{"model": *model, "version": *version, "canary_percent": float64(canary), "halt_on_failures_percent": float64(halt)}
	if *timeout != "" {
		body["stage_timeout"] = *timeout
	}
	return c.call(ctx, "POST", "rollouts", nil, body)
}

// rolloutSimple serves "rollout status|halt|rollback".
func (c *cli) rolloutSimple(method, path string) handler {
	return func(ctx context.Context, args []string) error {
		fs := c.flagSet("rollout " + path)
		reason := ""
		if path == "halt" {
			fs.StringVar(&reason, "reason", "", "why (kept with the rollout)")
		}
		if _, err := parse(fs, args); err != nil {
			return err
		}
		var body any
		if reason != "" {
			body = map[string]string{"reason": reason}
		}
		p := "rollouts/current"
		if path != "status" {
			p += "/" + path
		}
		return c.call(ctx, method, p, nil, body)
	}
}
