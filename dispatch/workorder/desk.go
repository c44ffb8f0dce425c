package workorder

import (
	"context"
	"errors"
	"fmt"
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
	// Interval between tries to tell the technicians of orders still
	// untold (a region without a technician yet, Twilio down); default 30 s.
	Interval time.Duration
	Now      func() time.Time
	Logger   zerolog.Logger
}

// Desk opens the orders from the incident feed and tells the technicians.
type Desk struct {
	cfg Config
	log zerolog.Logger
}

// New checks cfg.
func New(cfg Config) (*Desk, error) {
	if cfg.Store == nil || cfg.Feed == nil || cfg.Residents == nil {
		return nil, errors.New("workorder: Store, Feed and Residents are required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Desk{cfg: cfg, log: cfg.Logger.With().Str("component", "workorders").Logger()}, nil
}

// Run follows the feed until ctx ends. At its start the feed replays the
// active incidents, so an order missed while the gateway was down is
// opened then (and an incident counted before counts nothing).
func (d *Desk) Run(ctx context.Context) error {
	tick := time.NewTicker(d.cfg.Interval)
	defer tick.Stop()
	var after int64
	for ctx.Err() == nil {
		feed, _, err := d.cfg.Feed.Watch(ctx, after)
		if err != nil {
			d.log.Warn().Err(err).Msg("incident feed; trying again")
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			continue
		}
		d.Notify(ctx)
		for open := true; open; {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				d.Notify(ctx)
			case inc, ok := <-feed:
				if !ok {
					open = false // the dispatcher ended it: subscribe again
					break
				}
				after = max(after, inc.Seq)
				if err := d.Observe(ctx, inc); err != nil {
					d.log.Error().Err(err).Str("incident_id", inc.ID).Msg("work order")
				}
			}
		}
	}
	return nil
}

// Observe opens or adds to the order of an incident of a fault; a new
// order's technician is told at once.
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
		d.Notify(ctx)
	}
	return nil
}

// Notify tells the technicians of the orders not told yet, each once: an
// order is marked told when Twilio accepted its SMS.
func (d *Desk) Notify(ctx context.Context) {
	if d.cfg.Sender == nil {
		return
	}
	orders, err := d.cfg.Store.Unnotified(ctx, 100)
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
		return
	}
	for _, o := range orders {
		t, ok := TechnicianFor(techs, o.Region)
		if !ok {
			d.log.Warn().Str("order_id", o.ID).Str("region", o.Region).Msg("no technician covers the order's region; kept until one does")
			continue
		}
		var r devices.Resident
		if o.ResidentID != "" {
			if r, err = d.cfg.Residents.GetResident(ctx, o.ResidentID); err != nil && !errors.Is(err, devices.ErrNotFound) {
				d.log.Error().Err(err).Str("order_id", o.ID).Msg("work order's resident")
				continue
			}
		}
		sid, _, err := d.cfg.Sender.SendText(ctx, o.ID, t.Phone, Text(o, r, t.Lang))
		if err != nil {
			d.log.Warn().Err(err).Str("order_id", o.ID).Str("technician_id", t.ID).Msg("work order sms; tried again later")
			continue
		}
		if err := d.cfg.Store.MarkNotified(ctx, o.ID, t.ID, sid, d.cfg.Now()); err != nil {
			d.log.Error().Err(err).Str("order_id", o.ID).Msg("work order sms sent but not recorded: it may be sent again")
		}
	}
}
