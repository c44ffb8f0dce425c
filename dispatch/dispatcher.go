package dispatch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/crashpoint"
	"github.com/dolbom/dolbom/internal/defaults"
)

// Config configures a Dispatcher. Store is required; zero sizes and
// durations take the defaults noted.
type Config struct {
	Store     Store
	Directory Directory    // nil: incidents carry no resident, guardians are not reached
	Hubs      HubCommander // nil: check-ins are recorded as failed and the window runs out
	// Notifiers by channel (Channel119, ChannelSMS, ChannelVoice, ChannelConsole). A row
	// on a channel without a notifier fails at once (and is logged).
	Notifiers map[Channel]Notifier
	Policies  *Policies // default DefaultPolicies()
	Logger    zerolog.Logger

	Queue        int           // detections and actions waiting for the writer, default 4096
	Batch        int           // most mutations in one commit, default 256
	Workers      int           // concurrent deliveries, default 16
	Lease        time.Duration // a claim's hold on a row before it counts as abandoned, default 2m
	SendTimeout  time.Duration // bound of one Notify call, default 15s
	PollInterval time.Duration // longest sleep of the claim loop without a wake-up, default 1s
	// ResidentTTL is how long a hub's resident is cached (default 1m;
	// negative: no cache). See InvalidateResidents.
	ResidentTTL time.Duration
	// ResidentCacheSize bounds the cached hubs, default 20,000.
	ResidentCacheSize int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Jitter returns a random duration in [0, n) for backoff (tests pin it).
	Jitter func(n time.Duration) time.Duration
	// OnStale, in a cluster, is told the hubs whose detections the store
	// refused as stale (ErrStaleEpoch: the home moved to another gateway),
	// once per commit, so that the detectors let those homes go
	// (detectors.Engine.ReleaseStale). It is called on a goroutine of its
	// own: the detectors' shards may be waiting on this writer to queue a
	// detection.
	OnStale func(hubs []devices.HubID)
}

func (c *Config) setDefaults() {
	if c.Policies == nil {
		c.Policies = DefaultPolicies()
	}
	defaults.Set(&c.Queue, 4096)
	defaults.Set(&c.Batch, 256)
	defaults.Set(&c.Workers, 16)
	defaults.Set(&c.Lease, 2*time.Minute)
	defaults.Set(&c.SendTimeout, 15*time.Second)
	defaults.Set(&c.PollInterval, time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.ResidentTTL == 0 {
		c.ResidentTTL = time.Minute
	}
	defaults.Set(&c.ResidentCacheSize, 20_000)
	if c.Jitter == nil {
		c.Jitter = randJitter
	}
}

// Dispatcher turns detections into incidents and drives their escalation
// and delivery. It implements detectors.Sink. Its methods are safe for
// concurrent use; Run must be running for anything to be committed.
type Dispatcher struct {
	cfg Config
	log zerolog.Logger

	// policies is replaced whole on an API edit (copy on write).
	policies atomic.Pointer[Policies]
	policyMu sync.Mutex // serialises SetPolicy

	reqs chan *mutReq
	// healthReqs are device-health detections: the writer takes them only
	// when reqs is empty, so that an emergency is not committed after a
	// mass hub-offline (a power cut: tens of thousands of detections).
	// They never share an incident with the rest (see IsDeviceHealth), so
	// the two lanes need no order between them.
	healthReqs chan *mutReq
	wake       chan struct{} // buffered 1: "rows may be due now"
	feed       *feed

	// groupClaims, when set, makes the claim loop hand its claims to the
	// writer (claimReqs), which runs them in its next group commit.
	groupClaims GroupClaimer
	claimReqs   chan *claimReq

	// follow, when set, feeds the changes of other gateways on a shared
	// database to this one's subscribers; followReady is closed once it
	// has started (at once without it).
	follow      IncidentListener
	followReady chan struct{}

	residents *residentCache // nil without a Directory

	claimSeq atomic.Uint64
	// claims counts the claim loop's claims and delivering the claims and
	// rows under way, so that Settle can tell when nothing due is left.
	claims     atomic.Uint64
	delivering atomic.Int64
	running    atomic.Bool
	panics     atomic.Uint64 // recovered (panics.go)
}

// mutReq is one mutation waiting for the writer; done is nil for fire and
// forget (Detect).
type mutReq struct {
	mut Mutation
	// hub, when set, is the home whose resident Apply will need: the writer
	// looks it up before opening the transaction.
	hub  devices.HubID
	done chan struct{}
	res  MutationResult
	err  error
	// barrier marks a Flush: no mutation, its done closed once everything
	// queued before it is committed (it is retried like a detection).
	barrier bool
}

// claimReq is one claim waiting for the writer; Now is taken when its
// transaction starts.
type claimReq struct {
	claim Claim
	done  chan struct{}
	rows  []OutboxRow
	err   error
}

// New returns a Dispatcher.
func New(cfg Config) (*Dispatcher, error) {
	if cfg.Store == nil {
		return nil, errors.New("dispatch: Config.Store is required")
	}
	cfg.setDefaults()
	if err := cfg.Policies.Validate(); err != nil {
		return nil, err
	}
	d := &Dispatcher{
		cfg:        cfg,
		log:        cfg.Logger.With().Str("component", "dispatch").Logger(),
		reqs:       make(chan *mutReq, cfg.Queue),
		healthReqs: make(chan *mutReq, cfg.Queue),
		wake:       make(chan struct{}, 1),
		feed:       newFeed(),
	}
	d.followReady = make(chan struct{})
	if gc, ok := cfg.Store.(GroupClaimer); ok && gc.SingleWriter() {
		// One writer: one process owns the database, and the claims ride
		// in the writer's commits.
		d.groupClaims, d.claimReqs = gc, make(chan *claimReq, 1)
		close(d.followReady)
	} else if l, ok := cfg.Store.(IncidentListener); ok {
		d.follow = l
	} else {
		close(d.followReady)
	}
	if cfg.Directory != nil {
		d.residents = newResidentCache(cfg.Directory, cfg.ResidentTTL, cfg.ResidentCacheSize, cfg.Now)
	}
	d.policies.Store(cfg.Policies)
	return d, nil
}

// Run loads the policies saved through the API, then commits mutations and
// delivers the outbox until ctx ends. Mutations already queued are
// committed before it returns.
func (d *Dispatcher) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("dispatch: Run called twice")
	}
	var saved map[detectors.Cause]Policy
	if err := d.retryStore(ctx, "load policies", func() (err error) {
		saved, err = d.cfg.Store.Policies(ctx)
		return err
	}); err != nil {
		return fmt.Errorf("dispatch: load policies: %w", err)
	}
	if len(saved) > 0 {
		p := d.policies.Load().clone()
		for cause, pol := range saved {
			if err := pol.validate(cause); err != nil {
				d.log.Error().Err(err).Str("cause", string(cause)).Msg("saved policy invalid; keeping the file's")
				continue
			}
			p.Causes[cause] = pol
		}
		d.policies.Store(p)
	}
	if r, ok := d.cfg.Store.(ClaimReleaser); ok && d.groupClaims != nil {
		var n int64
		if err := d.retryStore(ctx, "release claims", func() (err error) {
			n, err = r.ReleaseClaims(ctx)
			return err
		}); err != nil {
			return fmt.Errorf("dispatch: %w", err)
		}
		if n > 0 {
			d.log.Warn().Int64("rows", n).Msg("notifications claimed by a process that is gone (a crash): claimable now, checked for a send in doubt")
		}
	}
	// The writer outlives delivery: a worker finishing its row at shutdown
	// commits the outcome through it (a send that happened must be
	// recorded), so it stops only once delivery has.
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriter()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		d.runWriter(writerCtx)
	}()
	var wg sync.WaitGroup
	deliverCtx, stopDelivery := context.WithCancel(ctx)
	defer stopDelivery()
	wg.Add(1)
	go func() { defer wg.Done(); d.runDelivery(deliverCtx) }()
	if l, ok := d.cfg.Store.(OutboxListener); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.ListenOutbox(deliverCtx, d.signal); err != nil && deliverCtx.Err() == nil {
				d.log.Error().Err(err).Msg("outbox listener stopped; polling only")
			}
		}()
	}
	if d.follow != nil {
		wg.Add(1)
		go func() { defer wg.Done(); d.followIncidents(deliverCtx, d.follow) }()
	}
	<-ctx.Done()
	stopDelivery()
	wg.Wait()
	stopWriter()
	<-writerDone
	d.feed.closeAll()
	return nil
}

// retryStore runs one of Run's first reads until it succeeds or ctx ends.
// A database that does not answer at that moment (restarting, failing
// over, hanging) must not stop the gateway: dispatch can do nothing
// without it anyway, and the rest of the gateway tells hubs and /readyz
// that the store is unavailable. It waits 250 ms, doubling to 5 s.
func (d *Dispatcher) retryStore(ctx context.Context, what string, f func() error) error {
	wait := 250 * time.Millisecond
	for failures := 0; ; failures++ {
		err := f()
		if err == nil {
			if failures > 0 {
				d.log.Info().Int("failures", failures).Msg("dispatch: " + what + ": done after the store answered")
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if failures == 0 {
			d.log.Warn().Err(err).Msg("dispatch: " + what + ": the store does not answer; retrying until it does")
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// signal wakes the claim loop without blocking.
func (d *Dispatcher) signal() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Detect implements detectors.Sink: it queues the detection for the
// writer and returns. When the writer is behind by Queue detections it
// blocks (push back) rather than drop an emergency.
func (d *Dispatcher) Detect(det detectors.Detection) {
	r := &mutReq{mut: d.detectionMutation(det), hub: det.Hub}
	if IsDeviceHealth(det.Cause, det.Class) {
		d.healthReqs <- r
		return
	}
	d.reqs <- r
}

// Flush returns once every detection handed to Detect before the call is
// committed (detectors.SinkFlusher): the detectors flush before saving
// state that says an event was applied.
func (d *Dispatcher) Flush(ctx context.Context) error {
	// A barrier in each lane: each is committed after what its lane held.
	reqs := [2]*mutReq{{barrier: true, done: make(chan struct{})}, {barrier: true, done: make(chan struct{})}}
	for i, lane := range [2]chan *mutReq{d.reqs, d.healthReqs} {
		select {
		case lane <- reqs[i]:
		case <-ctx.Done():
			return fmt.Errorf("dispatch: flush: %w", ctx.Err())
		}
	}
	for _, req := range reqs {
		select {
		case <-req.done:
			if req.err != nil {
				return req.err
			}
		case <-ctx.Done():
			return fmt.Errorf("dispatch: flush: %w", ctx.Err())
		}
	}
	return nil
}

// HandleDetection folds det into its incident and returns once that is
// committed (Detect without waiting is the detectors' path).
func (d *Dispatcher) HandleDetection(ctx context.Context, det detectors.Detection) (Incident, error) {
	// The resident is looked up here, on the caller's goroutine, so that
	// the writer finds it cached.
	d.lookupResident(det.Hub)
	return d.submit(ctx, d.detectionMutation(det))
}

func (d *Dispatcher) detectionMutation(det detectors.Detection) Mutation {
	// Fenced by the epoch it was made under: a gateway that lost the home
	// can no longer change its incidents (the new owner detects from the
	// journal). On a single gateway the epoch is 0 and nothing is checked.
	m := Mutation{Fingerprint: det.Fingerprint, Fence: Fence{Hub: det.Hub, Epoch: det.Epoch}}
	if !IsDeviceHealth(det.Cause, det.Class) && (det.State == detectors.Firing || det.State == detectors.Pending) {
		// Only these may join an open incident of the home (foldTarget):
		// the store skips listing the home's incidents for the others (a
		// mass hub-offline after a power cut).
		m.FoldHub = det.Hub
		m.Fold = func(open []Incident) *Incident { return foldTarget(open, det, d.cfg.Now()) }
	}
	m.Apply = func(cur *Incident, _ *OutboxRow) (Change, error) {
		p := d.planner()
		if cur == nil {
			p.resident = d.lookupResident(det.Hub)
		} else if !cur.State.Closed() {
			p.resident = d.lookupResident(cur.Hub)
		}
		return p.onDetection(cur, det)
	}
	return m
}

func (d *Dispatcher) planner() planner {
	return planner{pol: d.policies.Load(), now: d.cfg.Now()}
}

// submit queues m and waits for its commit.
func (d *Dispatcher) submit(ctx context.Context, m Mutation) (Incident, error) {
	req := &mutReq{mut: m, done: make(chan struct{})}
	select {
	case d.reqs <- req:
	case <-ctx.Done():
		return Incident{}, fmt.Errorf("dispatch: queue full: %w", ctx.Err())
	}
	select {
	case <-req.done:
	case <-ctx.Done():
		return Incident{}, fmt.Errorf("dispatch: waiting for commit: %w", ctx.Err())
	}
	if req.err != nil {
		return Incident{}, req.err
	}
	if errors.Is(req.res.Err, errNoChange) {
		return req.res.Incident, nil
	}
	return req.res.Incident, req.res.Err
}

// runWriter commits queued mutations in groups: the first waiting one and
// whatever else is queued, up to Batch, in one transaction. Under load the
// queue fills while a commit runs, so groups grow with the load. With a
// single-writer store the claim loop's claims ride in the same
// transactions, after the mutations.
func (d *Dispatcher) runWriter(ctx context.Context) {
	batch := make([]*mutReq, 0, d.cfg.Batch)
	muts := make([]Mutation, 0, d.cfg.Batch)
	for {
		batch = batch[:0]
		var claim *claimReq
		if len(d.reqs) == 0 { // else collect takes it first
			select {
			case r := <-d.reqs:
				batch = append(batch, r)
			case r := <-d.healthReqs:
				batch = append(batch, r)
			case claim = <-d.claimReqs: // nil channel without group claims
			case <-ctx.Done():
				// Commit what is queued (Detect's detections must not be
				// lost), then stop.
				for len(d.reqs)+len(d.healthReqs) > 0 {
					batch = d.collect(batch[:0])
					d.commit(context.WithoutCancel(ctx), batch, muts, nil, false)
				}
				return
			}
		}
		batch = d.collect(batch)
		if claim == nil {
			select {
			case claim = <-d.claimReqs:
			default:
			}
		}
		d.commit(ctx, batch, muts, claim, true)
	}
}

// collect fills batch with what is queued, device health last.
func (d *Dispatcher) collect(batch []*mutReq) []*mutReq {
	for len(batch) < d.cfg.Batch {
		select {
		case r := <-d.reqs:
			batch = append(batch, r)
			continue
		default:
		}
		select {
		case r := <-d.healthReqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// commit writes a group, retrying a failed transaction: detections have no
// one waiting to retry them. Waiters get the error after a few tries. A
// claim, when given, is tried with the first attempt only (the claim loop
// asks again).
func (d *Dispatcher) commit(ctx context.Context, batch []*mutReq, muts []Mutation, claim *claimReq, running bool) {
	muts = muts[:0]
	for _, r := range batch {
		if r.barrier {
			continue
		}
		muts = append(muts, r.mut)
		if r.hub != "" {
			d.lookupResident(r.hub) // warm the cache outside the transaction
		}
	}
	var results []MutationResult
	var err error
	backoff := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if len(muts) > 0 {
			crashpoint.Hit("incident-commit") // detected, not yet committed
		}
		if claim != nil {
			claim.claim.Now = d.cfg.Now()
			c := claim
			results, err = d.applySafely(func() ([]MutationResult, error) {
				var err error
				results, c.rows, err = d.groupClaims.ApplyIncidentsAndClaim(context.WithoutCancel(ctx), muts, c.claim)
				return results, err
			})
			claim.err = err
			close(claim.done)
			claim = nil
		} else if len(muts) > 0 {
			results, err = d.applySafely(func() ([]MutationResult, error) {
				return d.cfg.Store.ApplyIncidents(context.WithoutCancel(ctx), muts)
			})
		}
		if err == nil || len(batch) == 0 {
			break // a failed lone claim is the claim loop's to retry
		}
		if errors.Is(err, errPanic) {
			d.isolatePanic(ctx, batch, muts, err, running)
			return
		}
		d.log.Error().Err(err).Int("mutations", len(muts)).Int("attempt", attempt).Msg("incident commit failed; retrying")
		if attempt >= 5 && (!running || ctx.Err() != nil) {
			break
		}
		if attempt >= 3 {
			// Hand the error to waiters; keep retrying the detections alone.
			kept := batch[:0]
			for _, r := range batch {
				if r.done != nil && !r.barrier {
					r.err = fmt.Errorf("dispatch: commit: %w", err)
					close(r.done)
				} else {
					kept = append(kept, r)
				}
			}
			batch = kept
			muts = muts[:0]
			for _, r := range batch {
				if !r.barrier {
					muts = append(muts, r.mut)
				}
			}
			if len(batch) == 0 {
				return
			}
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
	wake := false
	var stale []devices.HubID
	i := 0
	for _, r := range batch {
		if r.barrier {
			if err != nil {
				r.err = fmt.Errorf("dispatch: commit: %w", err)
			}
			close(r.done)
			continue
		}
		if err != nil {
			r.err = fmt.Errorf("dispatch: commit: %w", err)
			d.log.Error().Err(err).Str("fingerprint", r.mut.Fingerprint).Msg("detection lost: commit kept failing at shutdown")
		} else {
			r.res = results[i]
			i++
			switch {
			case r.res.Err == nil || errors.Is(r.res.Err, errNoChange) || r.done != nil:
			case errors.Is(r.res.Err, ErrStaleEpoch):
				// The home moved to another gateway: routine in a
				// cluster, counted by the store.
				d.log.Debug().Err(r.res.Err).Str("fingerprint", r.mut.Fingerprint).Msg("detection refused: the home moved")
				stale = append(stale, r.mut.Fence.Hub)
			default:
				d.log.Warn().Err(r.res.Err).Str("fingerprint", r.mut.Fingerprint).Msg("detection refused")
			}
			if r.res.Changed {
				d.feed.publish(r.res.Incident)
			}
			if r.res.Enqueued > 0 {
				wake = true
			}
		}
		if r.done != nil {
			close(r.done)
		}
	}
	if wake {
		d.signal()
	}
	if len(stale) > 0 && d.cfg.OnStale != nil {
		go d.cfg.OnStale(stale)
	}
}

// isolatePanic handles a group whose commit panicked: each mutation is
// committed alone, so that only the one that panics is refused (poison: its
// waiter gets the error, a detection is logged as lost with its
// fingerprint) and the others go through.
func (d *Dispatcher) isolatePanic(ctx context.Context, batch []*mutReq, muts []Mutation, err error, running bool) {
	n := 0
	for _, r := range batch {
		if !r.barrier {
			n++
		}
	}
	if n <= 1 {
		for _, r := range batch {
			if r.barrier {
				close(r.done)
				continue
			}
			var pe *panicError
			errors.As(err, &pe)
			d.log.Error().Str("fingerprint", r.mut.Fingerprint).Str("incident_id", r.mut.IncidentID).Str("hub_id", string(r.hub)).
				Err(err).Str("stack", pe.stack).Msg("panic in an incident change recovered; the change is refused")
			r.err = err
			if r.done != nil {
				close(r.done)
			}
		}
		return
	}
	for _, r := range batch {
		d.commit(ctx, []*mutReq{r}, muts[:0], nil, running)
	}
}

// clone copies the policy set so that an edit does not race readers.
func (p *Policies) clone() *Policies {
	c := *p
	c.Causes = make(map[detectors.Cause]Policy, len(p.Causes))
	for k, v := range p.Causes {
		c.Causes[k] = v
	}
	return &c
}

// Policy returns the policy in force for a cause (falling back to its
// class's for causes without their own); ok is false when the cause has no
// policy of its own.
func (d *Dispatcher) Policy(cause detectors.Cause) (Policy, bool) {
	p, ok := d.policies.Load().Causes[cause]
	return p, ok
}

// Policies returns the policy set in force.
func (d *Dispatcher) Policies() *Policies { return d.policies.Load().clone() }

// SetPolicy validates, saves and applies a cause's policy. Incidents
// already escalating follow it from their next step.
func (d *Dispatcher) SetPolicy(ctx context.Context, cause detectors.Cause, pol Policy) error {
	if err := pol.validate(cause); err != nil {
		return err
	}
	d.policyMu.Lock()
	defer d.policyMu.Unlock()
	if err := d.cfg.Store.SavePolicy(ctx, cause, pol, d.cfg.Now()); err != nil {
		return fmt.Errorf("dispatch: save policy: %w", err)
	}
	p := d.policies.Load().clone()
	p.Causes[cause] = pol
	d.policies.Store(p)
	return nil
}
