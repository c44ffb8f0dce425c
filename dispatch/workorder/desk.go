package workorder

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// Feed is the dispatcher's incident feed (dispatch.Dispatcher).
type Feed interface {
	Watch(ctx context.Context, after int64) (<-chan dispatch.Incident, dispatch.FeedStart, error)
}

// Residents reads the resident of an order (the registry).
type Residents interface {
	GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error)
}

// Sender texts a technician (dispatch/twilio.Client.SendText): ref is the
// order's id, for the delivery callbacks; retry says whether another try
// may succeed.
type Sender interface {
	SendText(ctx context.Context, ref, to, text string) (sid string, retry bool, err error)
}

// Config configures the Desk.
type Config struct {
	Store     Store
	Feed      Feed
	Residents Residents
	// Sender texts the technicians; nil keeps the orders untold (the
	// console and the API still list them).
	Sender Sender
	// Interval between looks for orders due to be told; default 30 s.
	Interval time.Duration
	// Backoff is the wait before the second try of an order's SMS (Twilio
	// down, or undelivered), doubled each try up to MaxBackoff; defaults
	// 30 s and 1 h.
	Backoff, MaxBackoff time.Duration
	// ParkFor is how long an order of a region without a technician waits
	// before it is looked at again (adding or changing a technician wakes
	// it at once); default 6 h.
	ParkFor time.Duration
	// MaxUndelivered is how many times an order's SMS may be reported
	// undelivered before the order's notice is failed; default 3.
	MaxUndelivered int
	// Instance names this gateway in the claims on orders (of several
	// gateways on one database exactly one texts an order); default a
	// random name. ClaimFor is how long a claim holds: a gateway that died
	// holding one leaves the order to another after it; default 5 min,
	// well above a batch of claimBatch SMS at Twilio's 10 s timeout.
	Instance string
	ClaimFor time.Duration
	Now      func() time.Time
	Logger   zerolog.Logger
}

// reportWait bounds the wait of a delivery report for the SMS it names to
// be recorded (Desk.Undelivered).
const reportWait = 3 * time.Second

// claimBatch is how many orders one claim takes.
const claimBatch = 20

// Desk opens the orders from the incident feed and tells the technicians.
type Desk struct {
	cfg  Config
	log  zerolog.Logger
	wake chan struct{}

	sent, retried, parked, failed, undelivered, resubscribed atomic.Int64
}

// Stats counts what the desk did since it started (the metrics).
type Stats struct {
	Sent        int64 // SMS accepted by Twilio
	Retried     int64 // SMS not accepted, to be tried again
	Parked      int64 // orders parked: no technician for the region
	Failed      int64 // orders whose notice failed for good
	Undelivered int64 // undelivered reports of an order's SMS
	// Resubscribed counts the feed ending under the desk (the dispatcher
	// dropped it as a slow reader, or a Watch failed): it must stay 0.
	Resubscribed int64
}

// Stats reads the counters.
func (d *Desk) Stats() Stats {
	return Stats{Sent: d.sent.Load(), Retried: d.retried.Load(), Parked: d.parked.Load(), Failed: d.failed.Load(),
		Undelivered: d.undelivered.Load(), Resubscribed: d.resubscribed.Load()}
}

// New checks cfg.
func New(cfg Config) (*Desk, error) {
	if cfg.Store == nil || cfg.Feed == nil || cfg.Residents == nil {
		return nil, errors.New("workorder: Store, Feed and Residents are required")
	}
	cfg.Interval = cmp.Or(cfg.Interval, 30*time.Second)
	cfg.Backoff = cmp.Or(cfg.Backoff, 30*time.Second)
	cfg.MaxBackoff = cmp.Or(cfg.MaxBackoff, time.Hour)
	cfg.ParkFor = cmp.Or(cfg.ParkFor, 6*time.Hour)
	cfg.MaxUndelivered = cmp.Or(cfg.MaxUndelivered, 3)
	cfg.ClaimFor = cmp.Or(cfg.ClaimFor, 5*time.Minute)
	if cfg.Instance == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.Instance = "desk-" + hex.EncodeToString(b[:])
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Desk{cfg: cfg, log: cfg.Logger.With().Str("component", "workorders").Logger(), wake: make(chan struct{}, 1)}, nil
}

// Run follows the feed until ctx ends, and texts the technicians on a
// goroutine of its own: a slow Twilio must not make the desk a slow reader
// that the dispatcher drops. Whenever the feed starts without every change
// since the last one seen (the first start, or after a drop), the desk
// reads every active fault incident from the store: the feed's snapshot
// holds at most dispatch.WatchActive incidents, the most urgent first, and
// device faults are the least urgent, so an order missed while the gateway
// was down would otherwise never be opened.
func (d *Desk) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { d.sendLoop(ctx) })
	// The sweep runs beside the feed loop, which goes on reading: a sweep
	// of thousands of faults must not make the desk the slow reader that
	// the feed drops (and that would start another sweep). Observing an
	// incident twice counts it once.
	sweepWanted := make(chan struct{}, 1)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-sweepWanted:
			}
			if err := d.sweep(ctx); err != nil && ctx.Err() == nil {
				d.log.Error().Err(err).Msg("active fault incidents; the feed's snapshot only")
			}
		}
	})
	var after int64
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			d.resubscribed.Add(1)
		}
		feed, start, err := d.cfg.Feed.Watch(ctx, after)
		if err != nil {
			d.log.Warn().Err(err).Msg("incident feed; trying again")
			select {
			case <-ctx.Done():
			case <-time.After(d.cfg.Interval):
			}
			continue
		}
		if start != dispatch.FeedCatchUp {
			select {
			case sweepWanted <- struct{}{}:
			default: // one is due already
			}
		}
		for inc := range feed {
			after = max(after, inc.Seq)
			if err := d.Observe(ctx, inc); err != nil {
				d.log.Error().Err(err).Str("incident_id", inc.ID).Msg("work order")
			}
		}
		// The feed ended: ctx, or the dispatcher ended it; subscribe again.
	}
	return nil
}

// sweep opens the orders of every active fault incident.
func (d *Desk) sweep(ctx context.Context) error {
	const page = 500
	for after := ""; ; {
		incs, err := d.cfg.Store.ActiveFaultIncidents(ctx, after, page)
		if err != nil {
			return err
		}
		for _, inc := range incs {
			if err := d.Observe(ctx, inc); err != nil {
				d.log.Error().Err(err).Str("incident_id", inc.ID).Msg("work order")
			}
		}
		if len(incs) < page {
			return nil
		}
		after = incs[len(incs)-1].ID
	}
}

// sendLoop tells the technicians when woken and every Interval.
func (d *Desk) sendLoop(ctx context.Context) {
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	for {
		d.Notify(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-d.wake:
		}
	}
}

// poke wakes the sender without waiting.
func (d *Desk) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Observe opens or adds to the order of an incident of a fault; a new
// order wakes the sender.
func (d *Desk) Observe(ctx context.Context, inc dispatch.Incident) error {
	fault, ok := FaultOf(inc.Cause)
	if !ok || inc.State.Closed() {
		return nil
	}
	region := ""
	if inc.ResidentID != "" {
		r, err := d.cfg.Residents.GetResident(ctx, inc.ResidentID)
		if err != nil && !errors.Is(err, devices.ErrNotFound) {
			return fmt.Errorf("workorder: resident: %w", err)
		}
		region = r.DistrictCode
	}
	now := d.cfg.Now()
	o, created, err := d.cfg.Store.OpenOrder(ctx, Order{Hub: inc.Hub, ResidentID: inc.ResidentID, Fault: fault, Region: region,
		Status: StatusOpen, Detections: 1, LastIncident: inc.ID, OpenedAt: now, LastAt: now})
	if err != nil {
		return err
	}
	if created {
		d.log.Info().Str("order_id", o.ID).Str("hub_id", string(o.Hub)).Str("fault", string(fault)).Msg("work order opened")
		d.poke()
	}
	return nil
}

// Notify tells the technicians of the orders due, each once: it claims
// them (no other gateway texts a claimed order), texts each, and records
// the outcome, which releases the claim. An order that cannot be told
// now waits its own backoff, is parked, or fails: it never holds up the
// orders behind it.
func (d *Desk) Notify(ctx context.Context) {
	if d.cfg.Sender == nil {
		return
	}
	for ctx.Err() == nil {
		orders, err := d.cfg.Store.ClaimDue(ctx, d.cfg.Instance, d.cfg.Now(), d.cfg.ClaimFor, claimBatch)
		if err != nil {
			d.log.Error().Err(err).Msg("work orders to tell")
			return
		}
		if len(orders) == 0 {
			return
		}
		techs, err := d.cfg.Store.ListTechnicians(ctx)
		if err != nil {
			d.log.Error().Err(err).Msg("technicians")
			return // the claims expire: tried again then
		}
		for _, o := range orders {
			d.tell(ctx, o, techs)
		}
		if len(orders) < claimBatch {
			return
		}
	}
}

// tell texts one claimed order's technician and records what came of it.
func (d *Desk) tell(ctx context.Context, o Order, techs []Technician) {
	log := d.log.With().Str("order_id", o.ID).Logger()
	t, ok := TechnicianFor(techs, o.Region)
	if !ok {
		d.record(ctx, o.ID, NoticeRecord{State: NoticeParked, Due: d.cfg.Now().Add(d.cfg.ParkFor), Error: "no technician covers region " + o.Region})
		d.parked.Add(1)
		log.Warn().Str("region", o.Region).Msg("no technician covers the order's region; parked until one is added")
		return
	}
	var r devices.Resident
	if o.ResidentID != "" {
		var err error
		if r, err = d.cfg.Residents.GetResident(ctx, o.ResidentID); err != nil && !errors.Is(err, devices.ErrNotFound) {
			log.Error().Err(err).Msg("work order's resident; the claim expires, then tried again")
			return
		}
	}
	sid, retry, err := d.cfg.Sender.SendText(ctx, o.ID, t.Phone, Text(o, r, t.Lang))
	switch {
	case err != nil && ctx.Err() != nil:
		return // stopping: the claim expires and another desk, or this one restarted, tries again
	case err != nil && retry:
		d.retried.Add(1)
		due := d.cfg.Now().Add(Backoff(o.NoticeAttempts+1, d.cfg.Backoff, d.cfg.MaxBackoff))
		d.record(ctx, o.ID, NoticeRecord{State: NoticePending, Due: due, Error: err.Error(), Attempted: true})
		log.Warn().Err(err).Str("technician_id", t.ID).Time("next_try", due).Msg("work order sms; tried again later")
	case err != nil:
		d.failed.Add(1)
		d.record(ctx, o.ID, NoticeRecord{State: NoticeFailed, Error: err.Error(), Attempted: true})
		log.Error().Err(err).Str("technician_id", t.ID).Msg("work order sms refused for good; the order's notice failed: call the technician")
	default:
		d.sent.Add(1)
		if err := d.cfg.Store.MarkNotified(ctx, o.ID, t.ID, sid, d.cfg.Now()); err != nil {
			log.Error().Err(err).Msg("work order sms sent but not recorded: it may be sent again")
		}
	}
}

func (d *Desk) record(ctx context.Context, id string, r NoticeRecord) {
	if _, err := d.cfg.Store.RecordNotice(ctx, id, r); err != nil {
		d.log.Error().Err(err).Str("order_id", id).Msg("work order notice not recorded; the claim expires, then tried again")
	}
}

// Undelivered applies Twilio's report that the SMS sid of order id did
// not arrive (undelivered, failed): the order is told again after its
// backoff, or, undelivered MaxUndelivered times, its notice fails. A
// report repeated, or about an SMS since replaced, changes nothing.
func (d *Desk) Undelivered(ctx context.Context, id, sid, reason string) error {
	o, err := d.cfg.Store.GetOrder(ctx, id)
	// Twilio may report a failure before the sender has recorded the SMS
	// it accepted (a few milliseconds): an order still pending that does
	// not know this sid is waited for, briefly.
	for deadline := time.Now().Add(reportWait); err == nil && o.Notice == NoticePending && o.NoticeSID != sid && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		o, err = d.cfg.Store.GetOrder(ctx, id)
	}
	if errors.Is(err, devices.ErrNotFound) {
		return nil // an order we no longer know: Twilio repeating it changes nothing
	} else if err != nil {
		return err
	}
	if o.Notice != NoticeSent || o.NoticeSID != sid || o.Status != StatusOpen {
		return nil
	}
	d.undelivered.Add(1)
	rec := NoticeRecord{State: NoticePending, Undelivered: true, IfSID: sid, Error: "sms " + sid + " undelivered: " + reason,
		Due: d.cfg.Now().Add(Backoff(o.NoticeAttempts, d.cfg.Backoff, d.cfg.MaxBackoff))}
	if o.NoticeUndelivered+1 >= d.cfg.MaxUndelivered {
		rec.State, rec.Due = NoticeFailed, time.Time{}
	}
	changed, err := d.cfg.Store.RecordNotice(ctx, id, rec)
	switch {
	case err != nil:
		return err
	case !changed:
		return nil
	case rec.State == NoticeFailed:
		d.failed.Add(1)
		d.log.Error().Str("order_id", id).Str("sid", sid).Str("reason", reason).Int("undelivered", o.NoticeUndelivered+1).
			Msg("work order sms undelivered too often; the order's notice failed: call the technician")
	default:
		d.log.Warn().Str("order_id", id).Str("sid", sid).Str("reason", reason).Time("next_try", rec.Due).Msg("work order sms undelivered; texted again")
		d.poke()
	}
	return nil
}

// Backoff is the wait after the attempts-th try: base doubled each try
// after the first, at most ceiling.
func Backoff(attempts int, base, ceiling time.Duration) time.Duration {
	wait := base
	for i := 1; i < attempts && wait < ceiling; i++ {
		wait *= 2
	}
	return min(wait, ceiling)
}
