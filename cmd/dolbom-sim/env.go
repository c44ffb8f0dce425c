package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/broker"
	"github.com/dolbom/dolbom/cmd/internal/gateway"
	"github.com/dolbom/dolbom/cmd/internal/memlimit"
	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
	"github.com/dolbom/dolbom/internal/memhttp"
	"github.com/dolbom/dolbom/ota"
	"github.com/dolbom/dolbom/store"
)

// inproc is a whole dolbomd running in this process, reached through an
// in-memory listener; it can be restarted on the same data directory.
type inproc struct {
	dir    string
	log    zerolog.Logger
	bc     broker.Config
	detect func(detectors.Detection)
	// mqttAddr, when set, opens the broker's TCP listener too (flood).
	mqttAddr    string
	databaseURL string
	flushRows   int // store readings per transaction (0: default)
	tr          *switchTransport
	// mock119 is the 119 centre's stand-in, kept across gateway restarts
	// and reached in memory (no socket, so the suite runs in a synctest
	// bubble).
	mock119 *receiver.Receiver
	// clock, when set, is the gateway's and the mock 119's time (the
	// soak's simulated clock, gateway.Tuning.Clock); nil: the wall clock.
	clock func() time.Time
	// rawRetention, when set, shortens the store's raw readings retention
	// (the soak: the disk is shared, and nothing it measures reads them).
	rawRetention time.Duration
	// firmware and otaTick set up rollouts (dolbom-sim rollout).
	firmware gateway.FirmwareOptions
	otaTick  time.Duration
	mu       sync.Mutex
	g        *gateway.Gateway
	cancel   context.CancelFunc
	done     chan error
}

// switchTransport dials the current in-memory listener, so that hubs find
// the gateway again after it restarts.
type switchTransport struct {
	mu sync.RWMutex
	l  *firmwaresim.MemListener
}

func (t *switchTransport) set(l *firmwaresim.MemListener) {
	t.mu.Lock()
	t.l = l
	t.mu.Unlock()
}

func (t *switchTransport) Dial(ctx context.Context, rx firmwaresim.Receiver) (firmwaresim.Link, error) {
	t.mu.RLock()
	l := t.l
	t.mu.RUnlock()
	if l == nil {
		return nil, errors.New("sim: gateway down")
	}
	return l.Dial(ctx, rx)
}

// DialConn opens a net.Conn (a pipe) to the current in-memory listener.
func (t *switchTransport) DialConn(ctx context.Context) (net.Conn, error) {
	t.mu.RLock()
	l := t.l
	t.mu.RUnlock()
	if l == nil {
		return nil, errors.New("sim: gateway down")
	}
	return l.DialConn(ctx)
}

func startInproc(ctx context.Context, dir, databaseURL string, flushRows int, bc broker.Config, log zerolog.Logger, detect func(detectors.Detection), more ...func(*inproc)) (*inproc, error) {
	e := &inproc{dir: dir, databaseURL: databaseURL, flushRows: flushRows, log: log, bc: bc, detect: detect, tr: &switchTransport{}}
	for _, fn := range more {
		fn(e)
	}
	memlimit.Set(databaseURL == "") // as dolbomd on the same store
	return e, e.start(ctx)
}

func (e *inproc) start(ctx context.Context) error {
	mem := firmwaresim.NewMemListener()
	if e.mock119 == nil {
		// The 119 centre the in-process gateway alerts: the mock receiver,
		// validating CAP against the schema when it is at hand.
		e.mock119 = receiver.New(receiver.Options{XSDPath: capSchema(), Logger: e.log, Now: e.clock})
	}
	mqttAddr := broker.ListenerOff
	if e.mqttAddr != "" {
		mqttAddr = e.mqttAddr
	}
	g, err := gateway.NewTuned(ctx, gateway.Options{DataDir: e.dir, DatabaseURL: e.databaseURL, MQTTAddr: mqttAddr, Listener: mem, Broker: e.bc,
		// Simulated homes have no real guardians: the fake Twilio, chosen.
		Channels: gateway.ChannelOptions{CAPURLs: []string{mock119URL}, CAPTransport: memhttp.Transport{Handler: e.mock119.Handler()},
			CallInterval: 10 * time.Millisecond, FakeTwilio: true},
		ShutdownTimeout: 20 * time.Second, OnDetection: e.detect, Firmware: e.firmware},
		gateway.Tuning{Clock: e.clock, OTA: func(c *ota.Config) {
			if e.otaTick > 0 {
				c.Tick = e.otaTick
			}
		}, Store: func(c *store.Config) {
			if e.flushRows > 0 {
				c.FlushRows = e.flushRows
			}
			if e.rawRetention > 0 {
				c.RawRetention = e.rawRetention
			}
		}}, e.log)
	if err != nil {
		return fmt.Errorf("sim: gateway: %w", err)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- g.Run(rctx) }()
	// Hubs are let in once the broker serves, as real hubs are: the
	// detectors may still be loading their saved state then (/readyz says
	// so until they have; see loaded).
	deadline := time.Now().Add(30 * time.Second)
	for !g.Broker.Ready() {
		if time.Now().After(deadline) {
			cancel()
			return errors.New("sim: gateway not serving in 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.mu.Lock()
	e.g, e.cancel, e.done = g, cancel, done
	e.mu.Unlock()
	e.tr.set(mem)
	return nil
}

// mock119Alerts is what the mock 119 centre received.
func (e *inproc) mock119Alerts() []receiver.Alert {
	e.mu.Lock()
	r := e.mock119
	e.mu.Unlock()
	if r == nil {
		return nil
	}
	return r.Alerts()
}

func (e *inproc) gateway() *gateway.Gateway {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.g
}

// loaded waits until the gateway is ready: the broker serves and the
// detectors have loaded their saved state.
func (e *inproc) loaded(ctx context.Context) error {
	g := e.gateway()
	for g.Ready(ctx) != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// gatewayStopped, when set (tests), is told of every gateway stopped.
var gatewayStopped func(*gateway.Gateway)

func (e *inproc) stop() error {
	e.tr.set(nil)
	e.mu.Lock()
	if gatewayStopped != nil && e.g != nil {
		gatewayStopped(e.g)
	}
	cancel, done := e.cancel, e.done
	e.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	return <-done
}

// restart stops the gateway (every hub loses its connection) and starts a
// new one on the same data directory.
func (e *inproc) restart(ctx context.Context) error {
	if err := e.stop(); err != nil {
		e.log.Warn().Err(err).Msg("gateway stopped with an error")
	}
	return e.start(ctx)
}

// api calls the admin API, in-process through the handler or over HTTP.
type api struct {
	base  string
	token string
	hc    *http.Client
}

// mock119URL is the in-memory mock 119's address (any host: the transport
// does not resolve it).
const mock119URL = "http://mock119.invalid/cap"

// inprocAPI calls the current gateway's handler (it changes on a restart).
func inprocAPI(e *inproc) *api {
	return &api{base: "http://inproc", token: "", hc: &http.Client{Transport: memhttp.Transport{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.gateway().Handler.ServeHTTP(w, r)
	})}}}
}

// apiError is a non-2xx answer.
type apiError struct {
	Status int
	Body   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("sim: api: %d %s", e.Status, strings.TrimSpace(e.Body))
}

func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sim: api: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return &apiError{Status: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

// provisioner registers a home (resident, hub, sensors) and returns the
// hub's secret.
type provisioner interface {
	provision(ctx context.Context, hub devices.HubID, sensors bool) (secret string, err error)
}

// apiProvisioner goes through the admin API (a running dolbomd, or the
// in-process one when the suite should exercise the API too).
type apiProvisioner struct{ a *api }

func (p apiProvisioner) provision(ctx context.Context, hub devices.HubID, sensors bool) (string, error) {
	res := devices.ResidentID("r-" + string(hub))
	err := p.a.do(ctx, "POST", "/api/v1/residents", simResident(res, "Sim "+string(hub)), nil)
	var ae *apiError
	if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusConflict) {
		return "", err
	}
	var out struct {
		Secret string `json:"secret"`
	}
	if err := p.a.do(ctx, "POST", "/api/v1/hubs", map[string]any{"id": hub, "resident_id": res, "model": firmwaresim.SimModel, "firmware": firmwaresim.SimFirmware}, &out); err != nil {
		if errors.As(err, &ae) && ae.Status == http.StatusConflict {
			if err := p.a.do(ctx, "POST", "/api/v1/hubs/"+string(hub)+"/secret", nil, &out); err != nil {
				return "", err
			}
		} else {
			return "", err
		}
	}
	if sensors {
		for _, s := range firmwaresim.Layout() {
			err := p.a.do(ctx, "POST", "/api/v1/hubs/"+string(hub)+"/sensors", s, nil)
			if err != nil && !(errors.As(err, &ae) && ae.Status == http.StatusConflict) {
				return "", err
			}
		}
	}
	return out.Secret, nil
}

// storeProvisioner writes the registry directly (in-process load runs):
// one secret and its hash serve every hub (the broker verifies each CONNECT
// all the same; per-hub secrets would only cost the simulator memory).
//
// The secret and its hash are kept in the data directory (sim-secret.json),
// so that a second run on the same directory finds its hubs provisioned and
// skips 300,000 writes.
type storeProvisioner struct {
	e      *inproc
	secret string
	hash   string
	reused bool // the hash came from a previous run: existing hubs have it
}

type simSecret struct {
	Secret string `json:"secret"`
	Hash   string `json:"hash"`
}

func newStoreProvisioner(e *inproc) *storeProvisioner {
	file := filepath.Join(e.dir, "sim-secret.json")
	var kept simSecret
	if b, err := os.ReadFile(file); err == nil && json.Unmarshal(b, &kept) == nil && kept.Secret != "" {
		if ok, err := devices.VerifySecret(kept.Hash, kept.Secret); ok && err == nil && devices.IsFastSecretHash(kept.Hash) {
			return &storeProvisioner{e: e, secret: kept.Secret, hash: kept.Hash, reused: true}
		}
	}
	s := devices.NewSecret()
	p := &storeProvisioner{e: e, secret: s, hash: devices.HashHubSecret(s)}
	if b, err := json.Marshal(simSecret{p.secret, p.hash}); err == nil {
		_ = os.WriteFile(file, b, 0o600) // best effort: without it the next run rewrites the hashes
	}
	return p
}

func (p *storeProvisioner) provision(ctx context.Context, id devices.HubID, sensors bool) (string, error) {
	g := p.e.gateway()
	st := g.Store
	res := devices.ResidentID("r-" + string(id))
	if _, err := st.Registry().CreateResident(ctx, simResident(res, "Sim "+string(id))); err != nil && !errors.Is(err, devices.ErrConflict) {
		return "", err
	}
	// Registered as an installer would: with the model and firmware the
	// simulated hubs report (a rollout picks its hubs by model).
	hub, err := st.Registry().CreateHub(ctx, devices.Hub{ID: id, ResidentID: res, SecretHash: p.hash, Model: firmwaresim.SimModel, Firmware: firmwaresim.SimFirmware})
	if errors.Is(err, devices.ErrConflict) {
		hub, err = st.Registry().GetHub(ctx, id)
		if err == nil && (!p.reused || hub.SecretHash != p.hash) {
			if err := st.Registry().SetHubSecretHash(ctx, id, p.hash); err != nil {
				return "", err
			}
			hub.SecretHash = p.hash
		}
	}
	if err != nil {
		return "", err
	}
	var list []devices.Sensor
	if sensors {
		for _, s := range firmwaresim.Layout() {
			s.Hub = id
			sn, err := st.Registry().CreateSensor(ctx, s)
			if err != nil && !errors.Is(err, devices.ErrConflict) {
				return "", err
			}
			if err == nil {
				list = append(list, sn)
			}
		}
		if len(list) < len(firmwaresim.Layout()) {
			list, _ = st.Registry().ListSensors(ctx, id)
		}
	}
	g.Health.Refresh(hub, list)
	return p.secret, nil
}

// simResident is a simulated home's resident, with one guardian to call.
func simResident(id devices.ResidentID, name string) devices.Resident {
	return devices.Resident{ID: id, Name: name, Language: "ko",
		Guardians: []devices.Guardian{{Name: "보호자", Relation: "자녀", Phone: "+821055550000", Language: "ko", Order: 1}},
		Consent:   devices.Consent{NotifyGuardians: true}}
}

// capSchema finds the official CAP 1.2 schema in the shared folder beside
// the repository, from the repository or from a package folder; "" (no
// validation) when it is not there.
func capSchema() string {
	for _, p := range []string{"../shared/spec/CAP-v1.2.xsd", "../../shared/spec/CAP-v1.2.xsd", "../../../shared/spec/CAP-v1.2.xsd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
