package dispatch

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
)

// ErrInvalidPolicy is wrapped by every policy validation error.
var ErrInvalidPolicy = errors.New("dispatch: invalid policy")

// Duration is a time.Duration written as "30s", "3m", "1h30m" in JSON.
type Duration time.Duration

// D is the duration as time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"30s\" or \"3m\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Target is one recipient group reached on one channel in a step.
type Target struct {
	To  Role    `json:"to"`
	Via Channel `json:"via"` // the Notifier's channel, one of policyChannels (channel.go)
}

// Step is one escalation step: After the previous step (the first: after
// escalation starts), notify every target.
type Step struct {
	After  Duration `json:"after"`
	Notify []Target `json:"notify"`
	// UrgentOnly marks the urgent step as reached only by the urgent jump
	// (or an incident opened at P1/P2): no timer runs it, so the chain of
	// timed steps ends before it. Inactivity's 119 step is one: 119 is
	// called past the detectors' hard limit, never because time passed.
	UrgentOnly bool `json:"urgent_only,omitempty"`
}

// Repeat runs the steps again, Count more times, After the last step, for
// as long as nobody acknowledged. 119 is not alerted twice.
type Repeat struct {
	Count int      `json:"count"`
	After Duration `json:"after"`
}

// Verify asks the resident through the hub before anyone is alerted; only
// for a Pending detection (the detectors' cancel window).
type Verify struct {
	Window Duration `json:"window"`
}

// Policy is the escalation of one cause.
type Policy struct {
	Verify *Verify `json:"verify,omitempty"`
	Steps  []Step  `json:"steps"`
	Repeat Repeat  `json:"repeat"`
	// UrgentStep, when set, is the step jumped to at once when a repeated
	// detection raises the incident to P1 or P2 (inactivity past the hard
	// limit goes to 119 without waiting for the welfare steps).
	UrgentStep *int `json:"urgent_step,omitempty"`
	// RetryFor bounds the retries of one notification (119 rows keep
	// retrying through an outage this long); default from the file.
	RetryFor Duration `json:"retry_for,omitempty"`
	// Recovered is told, once, when the resident ends the verification
	// window themselves (cancel, "I am all right", the wearable seeing them
	// get up): nobody is alerted, but a fall one gets up from is still news
	// for the guardian and the social worker (earlier falls predict the
	// next). Never 119.
	Recovered []Target `json:"recovered,omitempty"`
}

// stepCount is how many steps run in all, repeats included.
func (p Policy) stepCount() int { return len(p.Steps) * (1 + p.Repeat.Count) }

// names reports whether one of the policy's steps notifies role.
func (p Policy) names(role Role) bool {
	for _, s := range p.Steps {
		for _, t := range s.Notify {
			if t.To == role {
				return true
			}
		}
	}
	return false
}

// urgentOnly reports whether step n (repeats included) runs only on the
// urgent jump.
func (p Policy) urgentOnly(n int) bool { return p.Steps[n%len(p.Steps)].UrgentOnly }

// step returns step n (repeats included) and the delay before it.
func (p Policy) step(n int) (Step, time.Duration) {
	s := p.Steps[n%len(p.Steps)]
	delay := s.After.D()
	if n > 0 && n%len(p.Steps) == 0 {
		delay = p.Repeat.After.D()
	}
	return s, delay
}

// Contact is a fixed recipient: the monitoring centre, a technician desk,
// a social worker's regional centre.
type Contact struct {
	Name     string `json:"name"`
	Phone    string `json:"phone"`
	Language string `json:"language,omitempty"`
}

// AfterHours reroutes roles at night and on weekends (Korea's central
// monitoring centre answers for the regional centres then).
type AfterHours struct {
	NightFrom int           `json:"night_from"` // hour, local time: 22
	NightTo   int           `json:"night_to"`   // hour, local time: 8
	Weekends  bool          `json:"weekends"`
	Reroute   map[Role]Role `json:"reroute"`
}

// Policies is the whole dispatch policy file (docs/dispatch.md).
type Policies struct {
	TimeZone   string     `json:"time_zone"`
	AfterHours AfterHours `json:"after_hours"`
	// Attempts is how many times each number is tried (2); the second
	// attempt is due SecondAttemptAfter the first unless the first fails
	// sooner, and is cancelled by an acknowledgement.
	Attempts           int      `json:"attempts"`
	SecondAttemptAfter Duration `json:"second_attempt_after"`
	RetryFor           Duration `json:"retry_for"`     // default deadline of a notification's retries
	Retry119For        Duration `json:"retry_119_for"` // deadline of a 119 row's retries
	BackoffInitial     Duration `json:"backoff_initial"`
	BackoffMax         Duration `json:"backoff_max"`
	// Contacts are the fixed recipients by role (monitoring_centre,
	// technician, social_worker as the fallback when the resident's social
	// worker has no number).
	Contacts map[Role][]Contact `json:"contacts"`
	// Causes holds a policy per cause; "class:emergency", "class:welfare"
	// and "class:device_health" are the fallbacks for causes not listed.
	Causes map[detectors.Cause]Policy `json:"causes"`

	loc *time.Location
}

//go:embed policies.json
var defaultPolicies []byte

// DefaultPolicies returns the embedded default policy file.
func DefaultPolicies() *Policies {
	p, err := ParsePolicies(defaultPolicies)
	if err != nil {
		panic("dispatch: embedded policies.json: " + err.Error())
	}
	return p
}

// DefaultPoliciesJSON is the embedded file, a template for overrides.
func DefaultPoliciesJSON() []byte { return bytes.Clone(defaultPolicies) }

// LoadPolicies reads a policy file (--dispatch-policy). Fields it leaves
// out keep the embedded defaults; a cause it lists replaces that cause's
// default policy whole.
func LoadPolicies(path string) (*Policies, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dispatch: policy file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("dispatch: policy file: %w", err)
	}
	p, err := ParsePolicies(b)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return p, nil
}

// ParsePolicies decodes a policy file over the embedded defaults and
// validates it.
func ParsePolicies(b []byte) (*Policies, error) {
	p := &Policies{}
	if len(defaultPolicies) > 0 && !bytes.Equal(b, defaultPolicies) {
		def, err := ParsePolicies(defaultPolicies)
		if err != nil {
			return nil, err
		}
		*p = *def
		p.Causes = make(map[detectors.Cause]Policy, len(def.Causes))
		for k, v := range def.Causes {
			p.Causes[k] = v
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidPolicy, err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks the whole file.
func (p *Policies) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidPolicy, fmt.Sprintf(format, args...))
	}
	loc, err := time.LoadLocation(p.TimeZone)
	if err != nil {
		// Without tzdata installed Seoul is a fixed +09:00 (no DST since 1988).
		if p.TimeZone != "Asia/Seoul" {
			return bad("time_zone %q: %v", p.TimeZone, err)
		}
		loc = time.FixedZone("KST", 9*3600)
	}
	p.loc = loc
	ah := p.AfterHours
	if ah.NightFrom < 0 || ah.NightFrom > 23 || ah.NightTo < 0 || ah.NightTo > 23 {
		return bad("after_hours: hours are 0-23")
	}
	for from, to := range ah.Reroute {
		if !from.valid() || !to.valid() {
			return bad("after_hours.reroute: unknown role in %q -> %q", from, to)
		}
		if from == Role119 || to == Role119 {
			// 119 is reached only over CAP, by the steps that name it; a
			// time-of-day rule must neither send a social worker's call to
			// 119 nor take 119 away at night.
			return bad("after_hours.reroute: 119 cannot be rerouted or be a reroute target (%q -> %q)", from, to)
		}
	}
	if p.Attempts < 1 || p.Attempts > 5 {
		return bad("attempts: %d outside 1-5", p.Attempts)
	}
	if p.SecondAttemptAfter.D() <= 0 || p.RetryFor.D() <= 0 || p.Retry119For.D() <= 0 ||
		p.BackoffInitial.D() <= 0 || p.BackoffMax.D() < p.BackoffInitial.D() {
		return bad("second_attempt_after, retry_for, retry_119_for, backoff_initial must be positive, backoff_max >= backoff_initial")
	}
	for role := range p.Contacts {
		if !role.valid() {
			return bad("contacts: unknown role %q", role)
		}
	}
	for _, class := range []detectors.Class{detectors.ClassEmergency, detectors.ClassWelfare, detectors.ClassDeviceHealth} {
		if _, ok := p.Causes[classKey(class)]; !ok {
			return bad("causes: the fallback %q is required", classKey(class))
		}
	}
	for cause, pol := range p.Causes {
		if err := pol.validate(cause); err != nil {
			return err
		}
	}
	return nil
}

func classKey(c detectors.Class) detectors.Cause { return detectors.Cause("class:" + string(c)) }

// deviceHealthCauses never go to 119, whatever a policy file says.
var deviceHealthCauses = map[detectors.Cause]bool{
	detectors.CauseHubOffline: true, detectors.CausePowerLost: true, detectors.CauseBatteryLow: true,
	detectors.CauseSensorSilent: true, detectors.CauseSensorFault: true, detectors.CauseEndOfLife: true,
	detectors.CauseClockSkew: true, detectors.CauseSensorSignalLost: true,
	classKey(detectors.ClassDeviceHealth): true,
}

// ValidatePolicy checks one cause's policy (the API's PUT).
func ValidatePolicy(cause detectors.Cause, p Policy) error { return p.validate(cause) }

func (p Policy) validate(cause detectors.Cause) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: cause %s: %s", ErrInvalidPolicy, cause, fmt.Sprintf(format, args...))
	}
	if strings.TrimSpace(string(cause)) == "" {
		return fmt.Errorf("%w: empty cause", ErrInvalidPolicy)
	}
	if len(p.Steps) == 0 {
		return bad("at least one step is required")
	}
	if len(p.Steps) > 20 {
		return bad("at most 20 steps")
	}
	if p.Verify != nil && (p.Verify.Window.D() <= 0 || p.Verify.Window.D() > 10*time.Minute) {
		return bad("verify.window must be between 0 and 10m")
	}
	if p.Repeat.Count < 0 || p.Repeat.Count > 10 || (p.Repeat.Count > 0 && p.Repeat.After.D() <= 0) {
		return bad("repeat.count is 0-10 and repeat.after must be positive when repeating")
	}
	if p.RetryFor < 0 {
		return bad("retry_for must not be negative")
	}
	for i, s := range p.Steps {
		if s.After < 0 {
			return bad("steps[%d].after must not be negative", i)
		}
		if len(s.Notify) == 0 {
			return bad("steps[%d].notify is empty", i)
		}
		for j, t := range s.Notify {
			if !t.To.valid() {
				return bad("steps[%d].notify[%d].to: unknown role %q (119, guardian, social_worker, monitoring_centre, technician)", i, j, t.To)
			}
			if t.Via == "" {
				return bad("steps[%d].notify[%d].via is required (%s)", i, j, channelNames())
			}
			if !slices.Contains(policyChannels, t.Via) {
				return bad("steps[%d].notify[%d].via: unknown channel %q (%s)", i, j, t.Via, channelNames())
			}
			if (t.To == Role119) != (t.Via == Channel119) {
				return bad("steps[%d].notify[%d]: 119 is reached only via %q", i, j, Channel119)
			}
			if t.To == Role119 && deviceHealthCauses[cause] {
				return bad("device health never goes to 119")
			}
		}
	}
	for i, t := range p.Recovered {
		if !t.To.valid() || t.Via == "" {
			return bad("recovered[%d]: a known role and a channel are required", i)
		}
		if t.To == Role119 || t.Via == Channel119 {
			return bad("recovered[%d]: 119 is never told of a recovery (nothing was sent to it)", i)
		}
		if t.Via != ChannelSMS && t.Via != ChannelConsole {
			return bad("recovered[%d].via: sms or console (a call would ask to acknowledge an alarm)", i)
		}
	}
	if p.Recovered != nil && p.Verify == nil {
		return bad("recovered needs verify: only a verification window can be ended by the resident")
	}
	if p.UrgentStep != nil && (*p.UrgentStep < 0 || *p.UrgentStep >= len(p.Steps)) {
		return bad("urgent_step %d is not a step", *p.UrgentStep)
	}
	for i, s := range p.Steps {
		if s.UrgentOnly && (p.UrgentStep == nil || *p.UrgentStep != i || i == 0) {
			return bad("steps[%d].urgent_only: only the urgent step (not the first) can be urgent-only", i)
		}
	}
	return nil
}

// ConsoleNotifier is the ChannelConsole channel: the consoles show every
// incident live from the feed, so a console step is recorded on the
// timeline and nothing is sent.
type ConsoleNotifier struct{}

// Notify records nothing beyond the timeline; the reference is "console".
func (ConsoleNotifier) Notify(context.Context, Notification) (string, bool, error) {
	return string(ChannelConsole), false, nil
}

func (r Role) valid() bool {
	switch r {
	case Role119, RoleGuardian, RoleSocialWorker, RoleMonitoringCentre, RoleTechnician:
		return true
	}
	return false
}

// For returns the policy of a cause, falling back to its class's.
func (p *Policies) For(cause detectors.Cause, class detectors.Class) Policy {
	if pol, ok := p.Causes[cause]; ok {
		return pol
	}
	if pol, ok := p.Causes[classKey(class)]; ok {
		return pol
	}
	return p.Causes[classKey(detectors.ClassEmergency)]
}

// afterHours reports whether now is at night or on a weekend.
func (p *Policies) afterHours(now time.Time) bool {
	loc := p.loc
	if loc == nil {
		loc = time.FixedZone("KST", 9*3600)
	}
	t := now.In(loc)
	if p.AfterHours.Weekends && (t.Weekday() == time.Saturday || t.Weekday() == time.Sunday) {
		return true
	}
	h, from, to := t.Hour(), p.AfterHours.NightFrom, p.AfterHours.NightTo
	if from == to {
		return false
	}
	if from > to { // across midnight: 22-08
		return h >= from || h < to
	}
	return h >= from && h < to
}

// route applies the time-of-day rules to a role.
func (p *Policies) route(role Role, now time.Time) Role {
	if to, ok := p.AfterHours.Reroute[role]; ok && p.afterHours(now) {
		return to
	}
	return role
}

// retryFor is the retry deadline of a row on a channel.
func (p *Policies) retryFor(pol Policy, channel Channel) time.Duration {
	if channel == Channel119 {
		return p.Retry119For.D()
	}
	if pol.RetryFor > 0 {
		return pol.RetryFor.D()
	}
	return p.RetryFor.D()
}
