// Package twilio reaches guardians and social workers by SMS and voice call
// through the real github.com/twilio/twilio-go client, and turns Twilio's
// webhooks (delivery status, keypad, SMS replies) into events for the
// dispatch core. The fake sub-package stands in for Twilio in tests and demos.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"
	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"github.com/dolbom/dolbom/dispatch"
)

// Config configures a Client. The env names are the configuration.
type Config struct {
	AccountSID string // TWILIO_ACCOUNT_SID
	AuthToken  string // TWILIO_AUTH_TOKEN
	From       string // DOLBOM_TWILIO_FROM: our number, E.164
	// APIURL points the client at another server (DOLBOM_TWILIO_API_URL),
	// e.g. the fake: requests to *.twilio.com are rewritten to it.
	APIURL string
	// PublicBaseURL is where Twilio reaches Webhooks from the internet,
	// e.g. "https://gw.dolbom.example.kr/twilio". Callback URLs are built on
	// it and signatures are checked against it.
	PublicBaseURL string
	// CallInterval is the account's voice rate: one call per interval
	// (Twilio's default is 1 per second). 0 means 1 s.
	CallInterval time.Duration
	// MaxSlotWait bounds how long Call waits for a voice slot before it
	// answers "busy, retry later" (default 2 s): a burst of calls must not
	// hold the dispatcher's workers while 119 alerts wait behind them.
	MaxSlotWait time.Duration
	// Slots, when set, spaces the calls of every gateway sharing the
	// account (a cluster, docs/cluster.md): Twilio's rate is the account's,
	// and gateways that each paced only their own calls would together
	// exceed it. Nil: this gateway's calls alone are paced.
	Slots VoiceSlots
	// Timeout bounds one API request (twilio-go does not take a context). 0 means 10 s.
	Timeout time.Duration
	// Transport is the base HTTP transport (tests); nil means the default.
	Transport http.RoundTripper
	Logger    zerolog.Logger
}

// VoiceSlots reserves the start of one call of an account on a schedule
// every gateway shares: it returns how long to wait for the reserved
// start, or ok false when none is free within maxWait (busy, try later).
type VoiceSlots interface {
	ReserveVoiceSlot(ctx context.Context, account string, interval, maxWait time.Duration) (wait time.Duration, ok bool, err error)
}

// Notice is one SMS or call about an incident to one person.
type Notice struct {
	// Ref is our idempotency key for this notification (e.g. the outbox
	// row id). It travels in the callback URLs and comes back in every event.
	Ref          string
	To           string // E.164, e.g. +821012345678
	Lang         Lang
	Cause        dispatch.Category
	Priority     int // 1 (first) to 4; orders the voice queue
	ResidentName string
	Address      string
	// Recovered: the resident answered and is all right (a fall they got
	// up from); the SMS tells so and asks for nothing.
	Recovered bool
	// With119 is 119's answer ("accepted", "dispatched", "on_scene") when
	// the SMS tells that 119 has the incident: news, once, to a guardian
	// the stood-down escalation would otherwise leave waiting.
	With119 string
}

// Client sends SMS and places calls. Call waits for a voice slot, which Run
// hands out; run Run for as long as calls may be placed.
type Client struct {
	maxSlotWait  time.Duration
	callInterval time.Duration
	api          *api.ApiService
	from         string
	base         string
	voice        *voiceQueue
	slots        VoiceSlots
	account      string
	log          zerolog.Logger
	timeout      time.Duration
}

// New builds the twilio-go client with our HTTP client (credentials on it,
// the host rewritten when APIURL is set).
func New(cfg Config) (*Client, error) {
	if cfg.AccountSID == "" || cfg.AuthToken == "" || cfg.From == "" {
		return nil, errors.New("twilio: account sid, auth token and from number are required")
	}
	// The real Twilio (no APIURL) calls back from the internet; a stand-in
	// may call back on this machine.
	if err := CheckPublicURL(cfg.PublicBaseURL, cfg.APIURL == ""); err != nil {
		return nil, fmt.Errorf("twilio: %w", err)
	}
	rt := cfg.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if cfg.APIURL != "" {
		var err error
		if rt, err = RewriteHost(cfg.APIURL, rt); err != nil {
			return nil, err
		}
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	hc := &twclient.Client{
		Credentials: twclient.NewCredentials(cfg.AccountSID, cfg.AuthToken),
		HTTPClient: &http.Client{
			Transport: rt,
			Timeout:   timeout,
			// As twilio-go's own default: never follow redirects.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	hc.SetAccountSid(cfg.AccountSID)
	interval := cfg.CallInterval
	if interval <= 0 {
		interval = time.Second
	}
	maxWait := cfg.MaxSlotWait
	if maxWait <= 0 {
		maxWait = 2 * time.Second
	}
	return &Client{
		maxSlotWait:  maxWait,
		callInterval: interval,
		api:          api.NewApiServiceWithClient(hc),
		from:         cfg.From,
		base:         strings.TrimSuffix(cfg.PublicBaseURL, "/"),
		voice:        newVoiceQueue(interval),
		slots:        cfg.Slots,
		account:      cfg.AccountSID,
		log:          cfg.Logger.With().Str("component", "twilio").Logger(),
		timeout:      timeout,
	}, nil
}

// Webhook paths, relative to Config.PublicBaseURL.
const (
	PathMessageStatus = "/sms/status"
	PathInboundSMS    = "/sms/inbound"
	PathCallStatus    = "/voice/status"
	PathGather        = "/voice/gather"
)

func (c *Client) callbackURL(path, ref string, lang Lang) string {
	q := url.Values{"ref": {ref}}
	if lang != "" {
		q.Set("lang", string(lang.norm()))
	}
	return c.base + path + "?" + q.Encode()
}

// SendSMS sends n as a text message and returns Twilio's message SID, which
// the caller stores: see docs/cap.md "Twilio idempotency" for why a crash
// between this call and the store is the one window left.
func (c *Client) SendSMS(ctx context.Context, n Notice) (sid string, retry bool, err error) {
	if err := n.check(); err != nil {
		return "", false, err
	}
	if err := ctx.Err(); err != nil {
		return "", true, err
	}
	return c.send(n.Ref, n.To, SMSText(n))
}

// SendText sends a text of the caller's own words (a technician's work
// order, dispatch/workorder): ref comes back in the delivery callbacks.
func (c *Client) SendText(ctx context.Context, ref, to, text string) (sid string, retry bool, err error) {
	if err := (Notice{Ref: ref, To: to}).check(); err != nil {
		return "", false, err
	}
	if err := ctx.Err(); err != nil {
		return "", true, err
	}
	return c.send(ref, to, text)
}

func (c *Client) send(ref, to, text string) (sid string, retry bool, err error) {
	p := &api.CreateMessageParams{}
	p.SetTo(to).SetFrom(c.from).SetBody(text).
		SetStatusCallback(c.callbackURL(PathMessageStatus, ref, ""))
	m, err := c.api.CreateMessage(p)
	if err != nil {
		return "", retryable(err), fmt.Errorf("twilio: sms %s: %w", ref, err)
	}
	if m.Sid == nil {
		return "", true, fmt.Errorf("twilio: sms %s: answer without sid", ref)
	}
	c.log.Debug().Str("ref", ref).Str("sid", *m.Sid).Msg("sms queued")
	return *m.Sid, false, nil
}

// Call waits for a voice slot (P1 first, one per CallInterval), then places
// a call that speaks n and asks for 1. It returns the call SID.
func (c *Client) Call(ctx context.Context, n Notice) (sid string, retry bool, err error) {
	if err := n.check(); err != nil {
		return "", false, err
	}
	wctx, cancel := context.WithTimeout(ctx, c.maxSlotWait)
	err = c.voice.wait(wctx, n.Priority)
	cancel()
	if err != nil {
		return "", true, fmt.Errorf("twilio: call %s: no voice slot free within %s (account rate %s per call): %w",
			n.Ref, c.maxSlotWait, c.callInterval, err)
	}
	// This gateway's most urgent call goes next; the account's slot is
	// then taken on the schedule all gateways share.
	if err := c.sharedSlot(ctx, n.Ref); err != nil {
		return "", true, err
	}
	p := &api.CreateCallParams{}
	p.SetTo(n.To).SetFrom(c.from).
		SetTwiml(CallTwiML(n, c.callbackURL(PathGather, n.Ref, n.Lang))).
		SetStatusCallback(c.callbackURL(PathCallStatus, n.Ref, "")).
		SetStatusCallbackMethod("POST").
		// AnsweredBy tells a voicemail from a person; only a person's
		// keypress acknowledges.
		SetMachineDetection("Enable").
		SetTimeout(30)
	call, err := c.api.CreateCall(p)
	if err != nil {
		return "", retryable(err), fmt.Errorf("twilio: call %s: %w", n.Ref, err)
	}
	if call.Sid == nil {
		return "", true, fmt.Errorf("twilio: call %s: answer without sid", n.Ref)
	}
	c.log.Debug().Str("ref", n.Ref).Str("sid", *call.Sid).Int("priority", n.Priority).Msg("call queued")
	return *call.Sid, false, nil
}

// sharedSlot waits for a start reserved on the gateways' shared schedule
// (Config.Slots), if any.
func (c *Client) sharedSlot(ctx context.Context, ref string) error {
	if c.slots == nil {
		return nil
	}
	wait, ok, err := c.slots.ReserveVoiceSlot(ctx, c.account, c.callInterval, c.maxSlotWait)
	switch {
	case err != nil:
		return fmt.Errorf("twilio: call %s: reserving the account's voice slot: %w", ref, err)
	case !ok:
		return fmt.Errorf("twilio: call %s: the gateways sharing the account have no voice slot free within %s (account rate %s per call)",
			ref, c.maxSlotWait, c.callInterval)
	}
	if wait <= 0 {
		return nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("twilio: call %s: %w", ref, ctx.Err())
	}
}

// Run hands out voice slots until ctx ends.
func (c *Client) Run(ctx context.Context) error { return c.voice.run(ctx) }

func (n Notice) check() error {
	if n.Ref == "" || n.To == "" {
		return errors.New("twilio: notice needs ref and to")
	}
	return nil
}

// retryable: Twilio's 5xx and 429, timeouts and connection errors are worth
// another try; other 4xx (bad number, unverified, blocked) are not.
func retryable(err error) bool {
	var rest *twclient.TwilioRestError
	if errors.As(err, &rest) {
		return rest.Status >= 500 || rest.Status == http.StatusTooManyRequests || rest.Status == 0
	}
	var v1 *twclient.RestErrorV1
	if errors.As(err, &v1) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	return errors.As(err, &ue)
}

// RewriteHost returns a transport that sends requests for *.twilio.com to
// apiURL's scheme and host instead (path kept, a path prefix of apiURL
// prepended), so the unmodified twilio-go client talks to a fake.
func RewriteHost(apiURL string, next http.RoundTripper) (http.RoundTripper, error) {
	u, err := url.Parse(apiURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("twilio: api url %q is not an http(s) URL", apiURL)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return rewriteTransport{target: u, next: next}, nil
}

type rewriteTransport struct {
	target *url.URL
	next   http.RoundTripper
}

func (t rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host != "twilio.com" && !strings.HasSuffix(r.URL.Hostname(), ".twilio.com") {
		return t.next.RoundTrip(r)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = t.target.Scheme
	r2.URL.Host = t.target.Host
	r2.URL.Path = strings.TrimSuffix(t.target.Path, "/") + r.URL.Path
	r2.URL.RawPath = ""
	r2.Host = t.target.Host
	return t.next.RoundTrip(r2)
}
