package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/cap/receiver"
	"github.com/dolbom/dolbom/firmware-sim/firmwaresim"
)

// soakCloser plays the people who close incidents in a soak: the
// responders once an injected emergency is over (help came: real
// emergency; a device fault mended: no action), the desk an hour after an
// incident no injection explains (checked: false alarm, which cancels it
// at 119 if 119 had it). Without them every incident would stay open for
// the whole run, escalating round after round and taking in the
// detections of later, unrelated episodes.
type soakCloser struct {
	index    map[devices.HubID]int
	injected [][]firmwaresim.Injection
	next     time.Time
}

// soakSweep is how often the open incidents are looked at (simulated).
const soakSweep = 5 * time.Minute

// soakFalseAfter is how long a false incident stays open before the desk
// closes it.
const soakFalseAfter = time.Hour

func newSoakCloser(hubs []devices.HubID, injected [][]firmwaresim.Injection) *soakCloser {
	c := &soakCloser{index: make(map[devices.HubID]int, len(hubs)), injected: injected}
	for i, h := range hubs {
		c.index[h] = i
	}
	return c
}

// explainedBy returns the injection of inc's home that explains it, as
// its home's index and its own in the home's list.
func (c *soakCloser) explainedBy(inc dispatch.Incident) (home, k int, ok bool) {
	home, ok = c.index[inc.Hub]
	if !ok {
		return 0, 0, false
	}
	si := &soakIncident{hub: inc.Hub, cause: inc.Cause, class: inc.Class, first: inc.OpenedAt}
	for k, in := range c.injected[home] {
		if explains(in, si) {
			return home, k, true
		}
	}
	return 0, 0, false
}

// close resolves the open incidents whose time has come, every soakSweep.
func (c *soakCloser) close(ctx context.Context, d *dispatch.Dispatcher, now time.Time) error {
	if now.Before(c.next) {
		return nil
	}
	c.next = now.Add(soakSweep)
	open, err := d.ListIncidents(ctx, dispatch.IncidentQuery{Limit: 1000,
		States: []dispatch.State{dispatch.StateOpen, dispatch.StateVerifying, dispatch.StateNotified, dispatch.StateAcknowledged}})
	if err != nil {
		return fmt.Errorf("soak: open incidents: %w", err)
	}
	for _, inc := range open {
		disp, note := dispatch.DispositionFalseAlarm, "soak: no injection explains it"
		if home, k, ok := c.explainedBy(inc); ok {
			in := c.injected[home][k]
			if now.Before(in.End) {
				continue
			}
			disp, note = dispatch.DispositionRealEmergency, "soak: help came ("+string(in.Kind)+")"
			if !in.Kind.Emergency() {
				disp, note = dispatch.DispositionNoAction, "soak: device mended ("+string(in.Kind)+")"
			}
		} else if now.Sub(inc.OpenedAt) < soakFalseAfter {
			continue
		}
		if _, err := d.Resolve(ctx, inc.ID, disp, "soak", note); err != nil && !errors.Is(err, devices.ErrConflict) {
			return fmt.Errorf("soak: resolve %s: %w", inc.ID, err)
		}
	}
	return nil
}

// count119 counts what 119 received through the real CAP client: each
// Alert's incident, looked up, is an injected emergency's or false.
func (rep *SoakReport) count119(ctx context.Context, lookup func(context.Context, string) (dispatch.Incident, error),
	alerts []receiver.Alert, c *soakCloser) error {
	rep.FalseTo119 = 0
	perInjection := map[[2]int]int{}
	for _, a := range alerts {
		if a.MsgType != cap.MsgAlert {
			continue
		}
		rep.Alerts119++
		inc, err := lookup(ctx, a.IncidentID)
		if err != nil {
			return fmt.Errorf("soak: 119's alert %s: %w", a.Identifier, err)
		}
		home, k, ok := c.explainedBy(inc)
		if !ok {
			rep.FalseTo119++
			continue
		}
		perInjection[[2]int{home, k}]++
	}
	for p, n := range perInjection {
		rep.Reached119[string(c.injected[p[0]][p[1]].Kind)]++
		if n > 1 {
			rep.Repeated119++
		}
	}
	return nil
}
