package firmwaresim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// The simulated hubs' firmware: what they report until a firmware_update
// installs another version (docs/protocol.md section 11.3).
const (
	SimModel    = "SIM-1"
	SimFirmware = "sim-1"
)

// defaultReboot is how long a simulated hub is away while it boots a new
// image.
const defaultReboot = 10 * time.Second

// otaState is what a hub remembers of firmware updates across its reboot.
type otaState struct {
	fw      string            // the version it runs ("" = SimFirmware)
	doneCmd devices.CommandID // a firmware_update to acknowledge done after reconnecting
}

func (h *Hub) firmware() string {
	if h.ota.fw == "" {
		return SimFirmware
	}
	return h.ota.fw
}

// Firmware returns the version the hub runs.
func (h *Hub) Firmware() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.firmware()
}

// imageCache fetches each image once for the whole fleet: a rollout to
// 300,000 simulated hubs on one machine would otherwise measure the
// gateway's file serving 300,000 times over, not the rollout. Each hub still
// verifies the bytes itself.
type imageCache struct {
	mu     sync.Mutex
	images map[string][]byte
	errs   map[string]error
	client *http.Client
}

func (c *imageCache) get(url string, limit int64) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.images[url]; ok {
		return b, nil
	}
	if err, ok := c.errs[url]; ok {
		return nil, err
	}
	b, err := c.fetch(url, limit)
	if c.images == nil {
		c.images, c.errs = map[string][]byte{}, map[string]error{}
	}
	if err != nil {
		c.errs[url] = err
		return nil, err
	}
	c.images[url] = b
	return b, nil
}

func (c *imageCache) fetch(url string, limit int64) ([]byte, error) {
	cl := c.client
	if cl == nil {
		cl = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := cl.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	// One byte over the announced size is enough to tell it is wrong.
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}

// injectFailure reports whether the fleet's n-th install fails, spreading
// Options.OTAFailureRate evenly (error diffusion): exactly that share of
// any run of installs fails, so a canary of 100 hubs at 3% sees 3 failures,
// not a binomial draw that a test at small scale could not rely on.
func (f *Fleet) injectFailure() bool {
	n := f.stats.installs.Add(1)
	r := f.opts.OTAFailureRate
	return r > 0 && math.Floor(float64(n)*r+0.5) > math.Floor(float64(n-1)*r+0.5)
}

// firmwareUpdate carries out a firmware_update under the hub's lock: it
// acknowledges each step, and on success reboots (offline status,
// DISCONNECT, away Options.Reboot) into the new version, acknowledged done
// once it is back (onConnack). It returns the acks to send now.
func (h *Hub) firmwareUpdate(now int64, cmd devices.Command, sim time.Time) (acks []devices.CommandAck, reboot bool) {
	f := h.fleet
	step := func(s devices.FirmwareStep) {
		acks = append(acks, devices.CommandAck{ID: cmd.ID, Status: devices.AckAccepted, Step: s, At: sim})
	}
	fail := func(reason string) ([]devices.CommandAck, bool) {
		f.stats.otaFailed.Add(1)
		return append(acks, devices.CommandAck{ID: cmd.ID, Status: devices.AckFailed, Detail: reason, At: sim}), false
	}
	u, err := devices.DecodeFirmwareUpdate(cmd.Args)
	switch {
	case err != nil:
		return fail(devices.FwFailArgs)
	case u.Model != SimModel:
		return fail(devices.FwFailModel)
	case u.Version == h.firmware():
		// Already running it (a redelivery after the reboot).
		return []devices.CommandAck{{ID: cmd.ID, Status: devices.AckDone, Firmware: u.Version, At: sim}}, false
	}
	step(devices.StepDownloading)
	img, err := f.images.get(u.URL, u.Size)
	if err != nil {
		return fail(devices.FwFailDownload)
	}
	sum := sha256.Sum256(img)
	switch {
	case int64(len(img)) != u.Size:
		return fail(devices.FwFailSize)
	case hex.EncodeToString(sum[:]) != u.SHA256:
		return fail(devices.FwFailSHA256)
	case f.opts.VendorKey == nil || !u.VerifySignature(f.opts.VendorKey):
		return fail(devices.FwFailSignature)
	}
	step(devices.StepVerified)
	step(devices.StepInstalling)
	if f.injectFailure() {
		return fail(devices.FwFailInstall)
	}
	step(devices.StepRebooting)
	h.ota = otaState{fw: u.Version, doneCmd: cmd.ID}
	return acks, true
}

// reboot publishes the offline status, disconnects cleanly and stays away
// for the reboot time; messages in flight (the step acks) are resent after
// it reconnects.
func (h *Hub) reboot(now int64) {
	f := h.fleet
	f.stats.reboots.Add(1)
	if h.state == stOnline && h.link != nil {
		b := bufPool.Get().(*bytes.Buffer)
		b.Reset()
		AppendPublish(b, f.opts.Version, h.topic(devices.ChanStatus), offlineStatus, 1, h.nextPID(), false, true)
		AppendDisconnect(b, f.opts.Version)
		h.write(now, b.Bytes())
		bufPool.Put(b)
	}
	d := f.opts.Reboot
	if d <= 0 {
		d = defaultReboot
	}
	h.downTill = now + int64(d)
	if h.state != stOffline && h.state != stStopped {
		h.drop(now, "reboot")
	}
	h.retryAt = max(h.retryAt, h.downTill)
	f.scheduleLocked(h, h.retryAt)
}
