package gateway

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/ota"
)

// FirmwareOptions configures firmware rollouts.
type FirmwareOptions struct {
	// URL is the base URL hubs download images from: the gateway's HTTP
	// server as hubs reach it (https://gw.example.kr), to which
	// /firmware/{model}/{version} is added. Empty: rollouts cannot start.
	URL string
	// VendorKey is the standard base64 of the vendor's ed25519 public key;
	// set, every published image's signature is checked against it, so
	// that the gateway never rolls out what hubs would refuse.
	VendorKey string
}

func (o FirmwareOptions) vendorKey() (ed25519.PublicKey, error) {
	if o.VendorKey == "" {
		return nil, nil
	}
	k, err := base64.StdEncoding.DecodeString(o.VendorKey)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("gateway: firmware vendor key: want the standard base64 of %d bytes", ed25519.PublicKeySize)
	}
	return k, nil
}

func (o FirmwareOptions) imageURL(model, version string) string {
	return strings.TrimSuffix(o.URL, "/") + ota.ImagePath(url.PathEscape(model), url.PathEscape(version))
}

func (g *Gateway) newOTA(tune Tuning) (*ota.Engine, error) {
	key, err := g.opts.Firmware.vendorKey()
	if err != nil {
		return nil, err
	}
	if u := g.opts.Firmware.URL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("gateway: firmware URL %q: want http(s)://host[:port]", u)
		}
	}
	now := time.Now
	if g.clock != nil {
		now = g.clock
	}
	cfg := ota.Config{Store: g.Store.Rollouts(), Fleet: g.Store.Rollouts(), Commander: otaCommander{g},
		// Which of a batch's hubs have an emergency open, asked right before
		// commanding them (the store's query, every open incident counted).
		Open:     g.Store.Rollouts().OpenIncidentHubs,
		ImageURL: g.opts.Firmware.imageURL, VendorKey: key, Now: now, Log: g.log.With().Str("component", "ota").Logger()}
	if tune.OTA != nil {
		tune.OTA(&cfg)
	}
	return ota.New(cfg), nil
}

// rolloutAdmin serves the admin API's rollouts (api.RolloutAdmin).
type rolloutAdmin struct{ e *ota.Engine }

func (a rolloutAdmin) PublishFirmware(ctx context.Context, model, version, signature string, image []byte) (any, error) {
	return a.e.Publish(ctx, ota.Image{Model: model, Version: version, Signature: signature}, image)
}

func (a rolloutAdmin) StartRollout(ctx context.Context, model, version string, canary, haltOn float64, stageTimeout time.Duration) (any, error) {
	return a.e.Start(ctx, model, version, ota.Plan{Canary: canary, HaltOn: haltOn, StageTimeout: stageTimeout})
}

func (a rolloutAdmin) RolloutStatus(ctx context.Context) (any, error) { return a.e.Current(ctx) }

func (a rolloutAdmin) HaltRollout(ctx context.Context, reason string) (any, error) {
	return a.e.Halt(ctx, reason)
}

func (a rolloutAdmin) RollbackRollout(ctx context.Context) (any, error) { return a.e.Rollback(ctx) }

// RolloutAdmin serves the admin API's rollouts from an engine (the
// gateway's own, or a test's).
func RolloutAdmin(e *ota.Engine) api.RolloutAdmin { return rolloutAdmin{e} }

// otaCommander sends a rollout's commands through the broker, saying
// ota.ErrNotServing while the broker does not serve (before the journal's
// replay, or once stopping), so that the hubs keep their turn.
type otaCommander struct{ g *Gateway }

func (o otaCommander) SendCommand(ctx context.Context, hub devices.HubID, c devices.Command) error {
	err := o.g.Broker.SendCommand(ctx, hub, c)
	if errors.Is(err, broker.ErrNotRunning) {
		return fmt.Errorf("%w: %w", ota.ErrNotServing, err)
	}
	return err
}
