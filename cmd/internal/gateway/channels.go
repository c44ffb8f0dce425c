package gateway

// The outbound channels built from the configuration: CAP to 119, SMS and
// voice through Twilio (or its fake), and the console; plus the inbound
// paths that move incidents on (119's answers, Twilio's callbacks). The
// channel packages implement dispatch.Notifier themselves and decide what
// each person is told; this file only constructs them and hands them over.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/cap"
	"github.com/dolbom/dolbom/dispatch/twilio"
	"github.com/dolbom/dolbom/dispatch/twilio/fake"
	"github.com/dolbom/dolbom/dispatch/workorder"
	"github.com/dolbom/dolbom/internal/memhttp"
)

// ChannelOptions configures the channels.
type ChannelOptions struct {
	// CAPURLs are the 119 endpoints CAP alerts are POSTed to: the route of
	// every 시도 that has no stored route of its own (the single-endpoint
	// set-up; docs/operations.md).
	CAPURLs []string
	// AllowNoDistrict starts the gateway although enabled residents have
	// no district while the 119 routes differ by 시도 (their CAP messages
	// then wait in the outbox, loud, until their district is set): the way
	// out of that refusal, to set the districts through the admin API.
	AllowNoDistrict bool
	// CAPTransport, when set, carries the requests to CAPURLs instead of
	// the default HTTPS transport (a proxy's, or the simulator's in-memory
	// mock 119, which lets a whole gateway run in a synctest bubble).
	CAPTransport http.RoundTripper
	// CAPSender is the CAP sender id (no spaces or commas).
	CAPSender string
	// CAPAnswerToken authenticates 119's answers (bearer); default the
	// admin token.
	CAPAnswerToken string
	// Contact is the monitoring centre's phone, given to 119.
	Contact string
	// CAPAddressee names the 119 centre the CAP messages are for: the
	// restriction of a message with personal data says it is for them
	// only (default cap.DefaultAddressee).
	CAPAddressee string

	// Twilio: the account SMS and calls go through. Without one nothing
	// reaches the guardians, so New refuses to start unless FakeTwilio
	// chooses the in-process fake Twilio (make run, tests, the simulator),
	// which behaves as FakeBehaviour says.
	TwilioAccountSID string
	TwilioAuthToken  string
	TwilioFrom       string
	TwilioAPIURL     string
	FakeTwilio       bool
	// PublicURL is where Twilio reaches this gateway's webhooks, e.g.
	// https://gw.example.kr: required with an account, since Twilio cannot
	// call a listen address such as http://[::]:8080. The fake calls back
	// on the gateway's own HTTP address when it is empty.
	PublicURL     string
	FakeBehaviour fake.Behaviour
	// WatchFakeTwilio logs each SMS and call of the fake at info (the demo:
	// its user watches for the guardian's SMS and call).
	WatchFakeTwilio bool
	// CallInterval is the Twilio account's voice rate (default 1 s).
	CallInterval time.Duration
}

// fakeURL is the fake Twilio's control API address, empty when none is
// served.
func (c *channels) fakeURL() string {
	if c.fakeLn == nil {
		return ""
	}
	return "http://" + c.fakeLn.Addr().String()
}

// channels holds the channel clients and the fake Twilio when one runs.
type channels struct {
	// now is the gateway's clock for what 119 is told (Tuning.Clock; nil:
	// the wall clock).
	now func() time.Time
	// capOpts builds routes (routeWith), once the store is open.
	capOpts   cap.RouterOptions
	routes    *cap.Router
	capSender string
	contact   string
	addressee string
	// sensors finds the alarm's sensor, for its room (set by the gateway
	// once the store is open, before notifiers; nil sends no room).
	sensors cap.SensorGetter
	// residents finds the resident (their district: the 119 route) of a
	// CAP message that carries none (set with sensors).
	residents cap.ResidentLookup
	// pins keeps each incident's 119 시도 (the store, set with sensors);
	// stuck lists the incidents whose CAP message has no route (the
	// dispatcher's banner, dolbom_cap_no_route_incidents).
	pins  cap.RoutePins
	stuck *cap.Stuck
	log   zerolog.Logger
	// latest finds the notification a bare SMS reply answers (the store,
	// set with sensors).
	latest     twilio.Latest
	twilio     *twilio.Client
	fakeTwilio *fake.Server
	fakeServer *http.Server // the fake's control API, when served
	fakeLn     net.Listener
	twilioBase string // public URL of our Twilio webhooks
	authToken  string // the Twilio account's, to check callback signatures
	webhooks   http.Handler
	answers    http.Handler
}

// serveFake opens a port for the fake Twilio's control API (a gateway with
// an HTTP server: a person may be trying it out); the in-process gateway of
// the simulator opens none, so that nothing in it waits on a socket.
//
// slots, in a cluster, is the voice schedule the gateways sharing the
// Twilio account reserve call starts on (nil: this gateway's calls alone).
func newChannels(o ChannelOptions, publicBase string, serveFake bool, slots twilio.VoiceSlots, log zerolog.Logger) (*channels, error) {
	c := &channels{capSender: o.CAPSender, contact: o.Contact, addressee: o.CAPAddressee, stuck: cap.NewStuck(), log: log}
	if c.capSender == "" {
		c.capSender = "gateway@dolbom.local"
	}
	var err error
	c.capOpts = cap.RouterOptions{Fallback: o.CAPURLs, Transport: o.CAPTransport, Logger: log}
	if len(o.CAPURLs) > 0 {
		// Checked now, before anything else is opened.
		if _, err := cap.NewSender(cap.SenderOptions{Endpoints: o.CAPURLs, Transport: o.CAPTransport}); err != nil {
			return nil, err
		}
	}

	if err := checkTwilio(o); err != nil {
		return nil, err
	}
	if o.PublicURL != "" {
		publicBase = strings.TrimRight(o.PublicURL, "/")
	}
	twilioBase := publicBase + "/twilio"
	tc := twilio.Config{
		AccountSID: o.TwilioAccountSID, AuthToken: o.TwilioAuthToken, From: o.TwilioFrom, APIURL: o.TwilioAPIURL,
		PublicBaseURL: twilioBase, CallInterval: o.CallInterval, Slots: slots, Logger: log,
	}
	if o.FakeTwilio {
		// The fake answers like Twilio and plays the callbacks back to our
		// webhooks, so the whole chain runs here, in memory: no port is
		// opened for it, and no socket keeps a synctest bubble's clock
		// from moving (the simulator's acceptance suite).
		tc.AccountSID = "AC" + randomHex(16)
		tc.AuthToken = randomHex(16)
		tc.From = "+821000000000"
		prefix := ""
		if u, err := url.Parse(publicBase); err == nil {
			prefix = strings.TrimRight(u.Path, "/")
		}
		toWebhooks := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The callback URL is the public one; the webhooks are ours.
			r.URL.Path = strings.TrimPrefix(r.URL.Path, prefix)
			r.URL.RawPath = ""
			c.webhooks.ServeHTTP(w, r)
		})
		c.fakeTwilio = fake.New(fake.Options{AccountSID: tc.AccountSID, AuthToken: tc.AuthToken,
			InboundSMSURL: twilioBase + twilio.PathInboundSMS, Default: o.FakeBehaviour, Logger: log, Watched: o.WatchFakeTwilio,
			Client: &http.Client{Transport: memhttp.Transport{Handler: toWebhooks}, Timeout: 5 * time.Second}})
		tc.APIURL = "http://fake-twilio.invalid"
		tc.Transport = memhttp.Transport{Handler: c.fakeTwilio}
		if serveFake {
			// Its control API (GET /fake/messages, /fake/calls ...) on a
			// port of its own, for a person trying the gateway out (the
			// demo banner names it); the gateway itself never uses it.
			c.fakeLn, err = net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return nil, fmt.Errorf("gateway: fake twilio: %w", err)
			}
			c.fakeServer = &http.Server{Handler: c.fakeTwilio, ReadHeaderTimeout: 5 * time.Second}
		}
		log.Warn().Msg("the built-in fake Twilio stands in (--twilio=fake): no SMS or call leaves this machine")
	}
	c.twilio, err = twilio.New(tc)
	if err != nil {
		return nil, err
	}
	c.twilioBase, c.authToken = twilioBase, tc.AuthToken
	return c, nil
}

// checkTwilio refuses a Twilio set-up that would fail silently: an account
// whose callbacks cannot arrive, or no account at all without the fake
// having been chosen.
func checkTwilio(o ChannelOptions) error {
	switch {
	case o.TwilioAccountSID != "" && o.FakeTwilio:
		return errors.New("gateway: a Twilio account and the fake Twilio at once: choose one (TWILIO_ACCOUNT_SID or --twilio=fake)")
	case o.FakeTwilio:
		if o.PublicURL != "" {
			if err := twilio.CheckPublicURL(o.PublicURL, false); err != nil {
				return fmt.Errorf("gateway: %w (DOLBOM_PUBLIC_URL)", err)
			}
		}
		return nil
	case o.TwilioAccountSID == "":
		return errors.New("gateway: no Twilio account: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, DOLBOM_TWILIO_FROM and DOLBOM_PUBLIC_URL, " +
			"or choose the built-in fake Twilio, which reaches nobody (--twilio=fake or DOLBOM_TWILIO=fake; --demo implies it)")
	case o.PublicURL == "":
		return errors.New("gateway: a Twilio account is configured but no public URL: set DOLBOM_PUBLIC_URL (--public-url) to the address " +
			"where Twilio reaches this gateway, e.g. https://gw.dolbom.example.kr; without it keypad and SMS acknowledgements never arrive")
	}
	// The real Twilio calls from the internet; a stand-in API
	// (TwilioAPIURL) may call back on this machine.
	if err := twilio.CheckPublicURL(o.PublicURL, o.TwilioAPIURL == ""); err != nil {
		return fmt.Errorf("gateway: %w (DOLBOM_PUBLIC_URL); without a reachable public URL keypad and SMS acknowledgements never arrive", err)
	}
	return nil
}

// wire connects the inbound paths (Twilio's callbacks, 119's answers) to
// the dispatcher, and the delivery reports of work orders' SMS to their
// desk.
func (c *channels) wire(d *dispatch.Dispatcher, orders twilio.Undelivered, answerToken string, log zerolog.Logger) {
	events := twilio.RefPrefixes{Rest: twilio.DispatchEvents{Mover: d, Latest: c.latest},
		Routes: map[string]twilio.Events{workorder.IDPrefix: twilio.TextEvents{Texts: orders}}}
	c.webhooks = http.StripPrefix("/twilio", twilio.Webhooks(c.authToken, c.twilioBase, events, log))
	c.answers = cap.Answers(cap.AnswerAuth{BearerToken: answerToken}, d)
}

// routeWith builds the 119 router on the stored routing table.
func (c *channels) routeWith(src cap.RouteSource) error {
	o := c.capOpts
	o.Source = src
	var err error
	c.routes, err = cap.NewRouter(o)
	return err
}

// notifiers returns dispatch's channels by name.
func (c *channels) notifiers() map[dispatch.Channel]dispatch.Notifier {
	return map[dispatch.Channel]dispatch.Notifier{
		dispatch.Channel119: cap.NewNotifier(cap.NotifierOptions{Routes: c.routes, Residents: c.residents, SenderID: c.capSender,
			Contact: c.contact, Addressee: c.addressee, Sensors: c.sensors, Pins: c.pins, Stuck: c.stuck, Now: c.now,
			Logger: c.log.With().Str("channel", "119").Logger()}),
		dispatch.ChannelSMS:     twilio.SMSNotifier{Client: c.twilio},
		dispatch.ChannelVoice:   twilio.VoiceNotifier{Client: c.twilio},
		dispatch.ChannelConsole: dispatch.ConsoleNotifier{},
	}
}

// run serves the fake Twilio's control API (when it is served) and hands
// out voice slots.
func (c *channels) run(ctx context.Context) error {
	if c.fakeServer != nil {
		go c.fakeServer.Serve(c.fakeLn)
		defer c.fakeServer.Close()
	}
	return c.twilio.Run(ctx)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
