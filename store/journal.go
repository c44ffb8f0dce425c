package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/internal/crashpoint"
)

// The journal: what hubs send, made durable without one transaction per
// message. It implements broker.Journal.

type eventReq struct {
	ev    *devices.Event
	fresh bool
	err   error
	done  chan struct{}
	// queued is when AppendEvent was called: the stage metric's start.
	queued time.Time
	// state decides, exactly once, between the writer taking the event into
	// a commit and the caller giving up on it: an event is committed only if
	// its caller will learn the outcome. Otherwise a commit that the caller
	// stopped waiting for would turn the hub's redelivery into a "duplicate"
	// that is acknowledged but never handed on: an SOS stored and ignored.
	state atomic.Int32
}

const (
	reqQueued int32 = iota
	reqTaken
	reqAbandoned
)

// Journal is the sub-store of what hubs send: events, readings and
// accelerometer chunks appended on the ingest path (broker.Journal), the
// journal's replay positions (detectors.Journal), inputs kept as poison,
// and the queries over events, readings, rollups and a hub's raw samples
// (api.EventLog, web.EvidenceReader).
type Journal struct{ *database }

// Journal returns the sub-store of events, readings and their queries.
func (s *Store) Journal() Journal { return Journal{s.database} }

// AppendEvent returns once e is committed (fsynced in SQLite), grouped with
// whatever other events were waiting into one transaction. fresh is false
// when (hub, event id) was stored before. While the writer is behind it
// blocks (push back) until ctx ends. If ctx ends while the event is still
// queued, the event is withdrawn (not written) and an error returned, so the
// hub's redelivery is fresh; if the writer has already taken it into a
// commit, AppendEvent waits for that commit's outcome (at most
// CommitTimeout). While the database does not answer it fails at once
// with ErrUnavailable.
func (s Journal) AppendEvent(ctx context.Context, e *devices.Event) (fresh bool, err error) {
	if e == nil || e.Hub == "" || e.ID == "" || e.Kind == "" {
		return false, fmt.Errorf("store: %w: event needs a hub, an id and a kind", devices.ErrInvalid)
	}
	if s.fenced() && e.Epoch == 0 {
		return false, fmt.Errorf("%w: event %s of hub %s", ErrUnfenced, e.ID, e.Hub)
	}
	if err := s.avail.unavailable(); err != nil {
		return false, err
	}
	req := &eventReq{ev: e, done: make(chan struct{}), queued: time.Now()}
	if err := s.enter(); err != nil {
		return false, err
	}
	select {
	case s.eventQ <- req:
		s.leave()
	case <-ctx.Done():
		s.leave()
		return false, fmt.Errorf("store: event queue full: %w", ctx.Err())
	}
	select {
	case <-req.done:
		return req.fresh, req.err
	case <-ctx.Done():
		if req.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return false, fmt.Errorf("store: event withdrawn before its commit: %w", ctx.Err())
		}
		<-req.done // in a commit already: its outcome is the answer
		return req.fresh, req.err
	}
}

// runEventWriter commits events in groups: it takes the first waiting
// event, then everything else already queued (up to EventBatch), and commits
// them together. Under load the queue fills while a commit runs, so batches
// grow with the load and no event waits for a timer. Several of them may
// run (Config.EventWriters), each with a group in flight.
func (s *database) runEventWriter(ctx context.Context) {
	batch := make([]*eventReq, 0, s.cfg.EventBatch)
	evs := make([]*devices.Event, 0, s.cfg.EventBatch)
	for {
		select {
		case r := <-s.eventQ:
			batch = append(batch[:0], r)
		case <-s.intake.idle:
			// No sender is left: commit what is queued, then stop. Other
			// writers drain it too, so never wait on the queue here.
			for {
				select {
				case r := <-s.eventQ:
					batch = append(batch[:0], r)
				default:
					return
				}
				batch = s.collectEvents(batch)
				s.commitEvents(ctx, batch, evs)
			}
		}
		batch = s.collectEvents(batch)
		s.commitEvents(ctx, batch, evs)
	}
}

func (s *database) collectEvents(batch []*eventReq) []*eventReq {
	for len(batch) < s.cfg.EventBatch {
		select {
		case r := <-s.eventQ:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

func (s *database) commitEvents(ctx context.Context, batch []*eventReq, evs []*devices.Event) {
	// Take each request from its caller; withdrawn ones are left out.
	taken := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqTaken) {
			taken = append(taken, r)
		}
	}
	batch = taken
	if len(batch) == 0 {
		return
	}
	evs = evs[:0]
	for _, r := range batch {
		evs = append(evs, r.ev)
	}
	start := time.Now()
	queue := s.metrics.eventStage.WithLabelValues("queue")
	for _, r := range batch {
		queue.Observe(start.Sub(r.queued).Seconds())
	}
	lockedAt := start
	group := s.cursors.begin()
	// Bounded, so that a hung database cannot hold the callers' PUBACKs
	// (they wait for the outcome) past the hubs' own timeout. When it ends
	// with the INSERT sent, the server may still commit it (a hung server
	// that resumes): the hub, not acknowledged, resends, and finds its
	// event stored, which is then handed on marked Replayed like any
	// redelivery, and applied unless it was.
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CommitTimeout)
	fresh, seqs, err := s.be.insertEvents(cctx, evs, func() { lockedAt = time.Now() })
	cancel()
	end := time.Now()
	s.metrics.commitSeconds.WithLabelValues("events").Observe(end.Sub(start).Seconds())
	// Per event, so that the stages' quantiles are the events' own.
	lock, commit := s.metrics.eventStage.WithLabelValues("lock"), s.metrics.eventStage.WithLabelValues("commit")
	for range batch {
		lock.Observe(lockedAt.Sub(start).Seconds())
		commit.Observe(end.Sub(lockedAt).Seconds())
	}
	s.metrics.eventBatch.Observe(float64(len(batch)))
	s.avail.wrote(pathEvents, err)
	if err != nil {
		s.cursors.abandoned(group)
	}
	if err != nil && len(batch) > 1 && !storeFault(err) {
		// One hub's event that the database refuses must not fail the
		// other hubs' emergencies in the same group: commit each alone, so
		// only the bad one fails. A failure of the store itself (a full
		// disk, a hung server) would only fail each of them in turn.
		s.log.Warn().Err(err).Int("events", len(batch)).Msg("group commit failed; committing the events one by one")
		for _, r := range batch {
			r.state.Store(reqQueued) // taken again just below
			s.commitEvents(ctx, []*eventReq{r}, evs[:0])
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("store: commit events: %w", err)
		s.failureLog(err).Err(err).Str("hub_id", string(batch[0].ev.Hub)).Str("event_id", string(batch[0].ev.ID)).
			Int("events", len(batch)).Msg("event commit failed; the hub will resend")
	}
	written, refused := 0, 0
	if err == nil {
		// Every consumer tracks the new positions before any event is
		// handed on, so that none saves a position past an event it has
		// not applied.
		newSeqs := make([]int64, 0, len(batch))
		for i := range batch {
			if fresh[i] {
				newSeqs = append(newSeqs, seqs[i])
			}
		}
		s.cursors.committed(group, newSeqs)
		if len(newSeqs) > 0 {
			crashpoint.Hit("journal-committed") // committed, not yet acknowledged nor handed on
		}
	}
	for i, r := range batch {
		switch {
		case err != nil:
			r.err = err
		case seqs[i] == 0:
			// Refused by the fence (cluster mode): the home moved to
			// another gateway. No PUBACK; the hub sends it to the owner.
			r.err = fmt.Errorf("store: event %s of hub %s at epoch %d: %w", r.ev.ID, r.ev.Hub, r.ev.Epoch, devices.ErrNotOwner)
			refused++
		default:
			r.fresh = fresh[i]
			r.ev.Seq = seqs[i]
			if r.fresh {
				written++
			}
		}
		close(r.done)
	}
	s.metrics.rowsWritten.WithLabelValues("events").Add(float64(written))
	if refused > 0 {
		s.metrics.staleRejected.WithLabelValues("event").Add(float64(refused))
	}
}

func eventArgs(e *devices.Event) []any {
	var detail *string
	if len(e.Detail) > 0 {
		d := string(e.Detail)
		detail = &d
	}
	return []any{string(e.Hub), string(e.ID), string(e.Kind), string(e.Sensor), toUS(e.At), toUS(e.Received),
		e.Value, e.HasValue, detail}
}

// sampleItem is one queued reading batch or accel chunk, or a flush marker.
type sampleItem struct {
	readings *devices.ReadingBatch
	accel    *devices.AccelChunk
	flushed  chan struct{}
}

// AppendReadings queues b for the next flush and returns. b must not be
// changed afterwards. When the queue is full it blocks (push back) until
// there is room or ctx ends, or fails at once with ErrUnavailable while
// the database does not answer; nothing is dropped.
func (s Journal) AppendReadings(ctx context.Context, b *devices.ReadingBatch) error {
	if b == nil || b.Hub == "" {
		return fmt.Errorf("store: %w: reading batch needs a hub", devices.ErrInvalid)
	}
	// Held until the writer has copied it into its flush (a batch from
	// devices.DecodeShared is reused after its last holder is done).
	b.Retain()
	if err := s.enqueueSample(ctx, sampleItem{readings: b}); err != nil {
		b.Release()
		return err
	}
	return nil
}

// SharesReadingBatches reports that AppendReadings retains the batches it
// queues (devices.ReadingBatch.Retain) and releases them once copied into
// a flush, so that the broker may decode them from a pool.
func (s Journal) SharesReadingBatches() bool { return true }

// AppendAccel queues c like AppendReadings.
func (s Journal) AppendAccel(ctx context.Context, c *devices.AccelChunk) error {
	if c == nil || c.Hub == "" || c.RateHz <= 0 || len(c.Y) != len(c.X) || len(c.Z) != len(c.X) {
		return fmt.Errorf("store: %w: accel chunk needs a hub, a rate and equal x, y, z", devices.ErrInvalid)
	}
	return s.enqueueSample(ctx, sampleItem{accel: c})
}

// Flush returns once every reading batch and chunk queued before the call
// is written. Run must be running.
func (s *Store) Flush(ctx context.Context) error {
	done := make(chan struct{})
	if err := s.enqueueSample(ctx, sampleItem{flushed: done}); err != nil {
		return err
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: flush: %w", ctx.Err())
	}
}

func (s *database) enqueueSample(ctx context.Context, it sampleItem) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	select {
	case s.sampleQ <- it:
		return nil
	default:
	}
	if err := s.avail.unavailable(); err != nil {
		// Full because the database does not answer: waiting for room
		// would hold the hub (and an SOS behind this message) for the
		// whole ack timeout.
		return fmt.Errorf("store: readings queue full: %w", err)
	}
	select {
	case s.sampleQ <- it:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: readings queue full: %w", ctx.Err())
	}
}

// batchRow is one row of reading_batches: the readings of one received
// batch that fall in one hour (nearly always the whole batch; a batch that
// straddles an hour, or a store-and-forward batch spanning hours, becomes
// one row per hour). Keeping every row inside one hour bounds the range the
// queries scan: a row that ends at or after t starts at or after t's hour.
type batchRow struct {
	hub          devices.HubID
	fromUS, toUS int64 // earliest and latest reading
	n            int
	receivedUS   int64
	// off and end place the row's blob (readings_codec.go) in its
	// sampleBatch's blobs: see sampleBatch.data.
	off, end int
}

type hourKey struct {
	hub    devices.HubID
	bucket int64 // Unix microseconds of the hour's start
}

// scanHourKey reads a row's (hub_id, bucket_us), and the hour's blob after
// them into data when data is not nil.
func scanHourKey(sc row, data *[]byte) (hourKey, error) {
	var hub string
	var k hourKey
	var err error
	if data == nil {
		err = sc.Scan(&hub, &k.bucket)
	} else {
		err = sc.Scan(&hub, &k.bucket, data)
	}
	k.hub = devices.HubID(hub)
	return k, err
}

type rollupAgg struct {
	count         int64
	sum, min, max float64
}

// sampleBatch is what one flush writes: the batch rows and chunks, and,
// decided from the clock before each write attempt (planLate), what the
// flush does about rows of hours whose rollups may be sealed already.
// Rows of current hours cost nothing more: the sealer aggregates them
// once the hour is over (rollup_seal.go).
type sampleBatch struct {
	batches  []batchRow
	readings int // in batches
	accel    []*devices.AccelChunk
	waiters  []chan struct{}
	// dirty are the (hub, hour) keys, sorted and unique, of late rows whose
	// hour the sealer recomputes from the raw batches (rollup_dirty).
	dirty []hourKey
	// old are the aggregates of late rows whose hour is so old that
	// retention may have deleted some of its raw rows, so that recomputing
	// it from the raw batches would lose readings: merged into the stored
	// blobs directly, as every flush did before the sealer (rare: data
	// store-and-forwarded for days).
	old map[hourKey][]hourSeries
	// problems are errors worth a log line that did not fail the flush.
	problems []error
	// blobs holds every row's encoded readings back to back, kept from
	// flush to flush: one buffer grown to a flush's size instead of a blob
	// allocated per received batch (garbage per message, which the
	// collector pays for at national scale over a multi-GB heap).
	blobs []byte
	// hourScratch holds the readings of one hour of a batch that spans
	// several while addReadings splits it (addPiece copies them out).
	hourScratch []devices.Reading
	// For coalesce, kept from flush to flush: the open row of each (hub,
	// minute), the next row merged into each row (-1: none), and the blobs
	// buffer the merged rows are copied into (swapped with blobs).
	groups map[hourKey]rowGroup
	next   []int
	spare  []byte
}

// rowGroup is a row coalesce is building: its first and last batch rows.
type rowGroup struct{ head, tail int }

// maxKeptBlobs bounds the blobs buffer kept between flushes: a backlog's
// flush may grow it far past the usual size, which must not stay.
const maxKeptBlobs = 4 << 20

// data is r's blob: valid until the batch is reset (the back ends bind it
// within writeSamples, which returns before the next reset).
func (w *sampleBatch) data(r *batchRow) []byte {
	return w.blobs[r.off:r.end:r.end]
}

func newSampleBatch(rows int) *sampleBatch {
	return &sampleBatch{
		batches: make([]batchRow, 0, rows/8),
		old:     make(map[hourKey][]hourSeries),
		groups:  make(map[hourKey]rowGroup),
	}
}

// coalesce makes each hub's rows of one minute a single row when each
// starts no earlier than the one before it ends (a hub's batches in arrival
// order, as a flooding or chatty hub sends them; a flood's batches all
// carry the same time): the blobs back to back
// (readings_codec.go), n summed, from_us and received_us of the first row
// (received_us only orders rows), to_us of the last. A row and its two
// index entries per batch was most of the writer's cost: the (hub_id,
// from_us) index takes a leaf page write per row when the hubs of a flush
// outnumber its rows per hub (docs/performance.md, "The readings writer at
// half its cost").
//
// The minute bounds what retention keeps: it deletes whole rows and keeps
// every row an incident's evidence window overlaps, so a merged row kept
// for the window keeps at most its minute (a hub sending a batch a minute
// keeps its rows as they were). Queries read the same readings in the same
// order: the rows merged follow each other in from_us, the order
// batchOrder reads them in (rows starting at the same microsecond in
// received_us: arrival order), so only a stored row of the same hub starting
// inside the merged span (data sent twice, or store-and-forward
// overlapping it) could come between them before, and then only readings
// at the same microsecond change places. Called once per flush, before the
// first attempt.
func (w *sampleBatch) coalesce() {
	if len(w.batches) < 2 {
		return
	}
	clear(w.groups)
	w.next = slices.Grow(w.next[:0], len(w.batches))[:len(w.batches)]
	merged := false
	for i := range w.batches {
		w.next[i] = -1
		r := &w.batches[i]
		minute := floorDiv(r.fromUS, usPerMinute)
		k := hourKey{hub: r.hub, bucket: minute * usPerMinute}
		if g, ok := w.groups[k]; ok && r.fromUS >= w.batches[g.tail].toUS && floorDiv(r.toUS, usPerMinute) == minute {
			w.next[g.tail] = i
			w.groups[k] = rowGroup{head: g.head, tail: i}
			merged = true
			continue
		}
		w.groups[k] = rowGroup{head: i, tail: i} // a new row; the old one stays closed
	}
	if !merged {
		return // nothing to copy
	}
	// A row that is merged into an earlier one comes after its head, so
	// writing the heads in place over w.batches[:k] (k <= the head's
	// index) never overwrites a row still to be read.
	blobs := w.spare[:0]
	out := 0
	for i := range w.batches {
		if w.batches[i].off < 0 {
			continue // merged into an earlier row
		}
		head := w.batches[i]
		head.off = len(blobs)
		for j := i; j >= 0; j = w.next[j] {
			m := &w.batches[j]
			blobs = append(blobs, w.data(m)...)
			if j != i {
				head.n += m.n
				head.toUS = m.toUS
				m.off = -1
			}
		}
		head.end = len(blobs)
		w.batches[out] = head
		out++
	}
	clear(w.batches[out:]) // drop references to the hubs' ids
	w.batches = w.batches[:out]
	w.spare, w.blobs = w.blobs[:0], blobs
}

// planLate sorts w's rows by the age of their hour as of now (Unix µs):
// rows of an hour H with H + 1h + grace - margin <= now get a marker, and
// rows of an hour H < now - rawRetention + margin, whose raw rows retention
// may already be deleting, are merged into the blobs instead (see
// Config.SealGrace for why the margin makes the markers exact, and
// RunRetention for why marked hours keep their raw rows). Rows of later
// hours are left to the sealer.
func (w *sampleBatch) planLate(now int64, rawRetention, grace, margin time.Duration) {
	w.dirty = w.dirty[:0]
	clear(w.old)
	lateFrom := now - usPerHour - grace.Microseconds() + margin.Microseconds() // H <= lateFrom is late
	oldBefore := now - rawRetention.Microseconds() + margin.Microseconds()
	for i := range w.batches {
		r := &w.batches[i]
		k := hourKey{hub: r.hub, bucket: floorDiv(r.fromUS, usPerHour) * usPerHour}
		switch {
		case k.bucket > lateFrom:
		case k.bucket < oldBefore:
			rs, err := decodeReadingsBlob(w.data(r), nil, nil)
			if err != nil { // encoded by addPiece just before: a bug
				w.problems = append(w.problems, fmt.Errorf("late batch of hub %s not merged into its hourly rollup: %w", r.hub, err))
				continue
			}
			w.old[k] = foldSeries(w.old[k], rs)
		default:
			w.dirty = append(w.dirty, k)
		}
	}
	slices.SortFunc(w.dirty, compareHourKeys)
	w.dirty = slices.Compact(w.dirty)
}

// rows is what FlushRows counts: readings (not batch rows, so the setting
// keeps its meaning) plus accel chunks.
func (w *sampleBatch) rows() int { return w.readings + len(w.accel) }

const (
	usPerMinute = int64(time.Minute / time.Microsecond)
	usPerHour   = int64(time.Hour / time.Microsecond)
)

func (w *sampleBatch) add(it sampleItem) {
	switch {
	case it.readings != nil:
		w.addReadings(it.readings)
		it.readings.Release() // copied into the blobs (AppendReadings)
	case it.accel != nil:
		w.accel = append(w.accel, it.accel)
	case it.flushed != nil:
		w.waiters = append(w.waiters, it.flushed)
	}
}

func (w *sampleBatch) addReadings(b *devices.ReadingBatch) {
	rs := b.Readings
	if len(rs) == 0 {
		return
	}
	first := floorDiv(toUS(rs[0].At), usPerHour)
	oneHour := true
	for _, r := range rs[1:] {
		if floorDiv(toUS(r.At), usPerHour) != first {
			oneHour = false
			break
		}
	}
	if oneHour {
		w.addPiece(b, rs)
		return
	}
	// One row per hour, hours in order. A minute batch spans two hours
	// once an hour per hub (1 batch in 60, all hubs in the same minute),
	// so the split reuses one scratch slice kept with the batch, a pass
	// per hour, instead of a map and a slice per hour (~420 B and 4
	// allocations per split batch; docs/performance.md, "Per-message
	// costs").
	for h, more := minHourFrom(rs, math.MinInt64); more; h, more = minHourFrom(rs, h) {
		w.hourScratch = w.hourScratch[:0]
		for _, r := range rs {
			if floorDiv(toUS(r.At), usPerHour) == h {
				w.hourScratch = append(w.hourScratch, r)
			}
		}
		w.addPiece(b, w.hourScratch)
	}
	clear(w.hourScratch) // drop the sensor ids for the collector
}

// minHourFrom returns the earliest hour of rs after hour after, and false
// when there is none.
func minHourFrom(rs []devices.Reading, after int64) (hour int64, ok bool) {
	for _, r := range rs {
		if h := floorDiv(toUS(r.At), usPerHour); h > after && (!ok || h < hour) {
			hour, ok = h, true
		}
	}
	return hour, ok
}

// addPiece adds readings of b that all fall in one hour.
func (w *sampleBatch) addPiece(b *devices.ReadingBatch, rs []devices.Reading) {
	row := batchRow{hub: b.Hub, n: len(rs), receivedUS: toUS(b.Received)}
	row.fromUS, row.toUS = toUS(rs[0].At), toUS(rs[0].At)
	for _, r := range rs {
		us := toUS(r.At)
		row.fromUS, row.toUS = min(row.fromUS, us), max(row.toUS, us)
	}
	row.off = len(w.blobs)
	w.blobs = appendReadingsBlob(w.blobs, rs)
	row.end = len(w.blobs)
	w.batches = append(w.batches, row)
	w.readings += len(rs)
}

// floorDiv is a / b rounded towards minus infinity (times before 1970 stay
// in their own bucket).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func (w *sampleBatch) reset() {
	clear(w.batches) // drop references to the hubs' ids
	w.batches = w.batches[:0]
	w.blobs = w.blobs[:0]
	if cap(w.blobs) > maxKeptBlobs {
		w.blobs = nil
	}
	if cap(w.spare) > maxKeptBlobs {
		w.spare = nil
	}
	w.readings = 0
	clear(w.accel)
	w.accel = w.accel[:0]
	w.dirty = w.dirty[:0]
	clear(w.old)
	w.waiters = w.waiters[:0]
	w.problems = w.problems[:0]
}

// runSampleWriter flushes queued readings and accel chunks every
// FlushInterval, or sooner once FlushRows are pending.
func (s *database) runSampleWriter(ctx context.Context) {
	w := newSampleBatch(s.cfg.FlushRows + devices.DefaultLimits.MaxReadings)
	tick := time.NewTicker(s.cfg.FlushInterval)
	defer tick.Stop()
	for {
		select {
		case it := <-s.sampleQ:
			w.add(it)
			if w.rows() >= s.cfg.FlushRows || it.flushed != nil {
				s.flushSamples(ctx, w)
			}
		case <-tick.C:
			s.flushSamples(ctx, w)
		case <-s.intake.idle:
			for len(s.sampleQ) > 0 {
				w.add(<-s.sampleQ)
				if w.rows() >= s.cfg.FlushRows {
					s.flushSamples(ctx, w)
				}
			}
			s.flushSamples(ctx, w)
			return
		}
	}
}

// flushSamples writes w, retrying a failed write: while running, the queue
// then fills and pushes back on the hubs; once intake has stopped, it gives
// up after DrainTimeout and counts the readings as dropped.
func (s *database) flushSamples(ctx context.Context, w *sampleBatch) {
	if w.rows() > 0 {
		w.coalesce()
		backoff := 100 * time.Millisecond
		var giveUp time.Time
		for attempt := 1; ; attempt++ {
			start := time.Now()
			w.problems = w.problems[:0]
			// Late rows are judged against the clock at each attempt: a
			// retry may come after the sealer has sealed their hour.
			w.planLate(toUS(s.cfg.Now()), s.cfg.RawRetention, s.cfg.SealGrace, s.cfg.SealMargin)
			// The sealer's exactness needs every attempt to commit within
			// SealMargin of planLate's clock: an attempt that takes longer
			// (a hung connection, a long wait for the writer) is abandoned
			// and planned again.
			actx, cancel := context.WithTimeout(ctx, s.cfg.SealMargin/2)
			err := s.rd.writeSamples(actx, w)
			cancel()
			s.avail.wrote(pathReadings, err)
			if err == nil {
				s.metrics.rollupSeal.WithLabelValues("markers_written").Add(float64(len(w.dirty)))
				s.metrics.rollupSeal.WithLabelValues("merged_old").Add(float64(len(w.old)))
				s.metrics.commitSeconds.WithLabelValues("readings").Observe(time.Since(start).Seconds())
				s.metrics.rowsWritten.WithLabelValues("readings").Add(float64(w.readings))
				s.metrics.rowsWritten.WithLabelValues("reading_batches").Add(float64(len(w.batches)))
				for _, p := range w.problems {
					s.log.Error().Err(p).Msg("readings flush")
				}
				s.metrics.rowsWritten.WithLabelValues("accel").Add(float64(len(w.accel)))
				break
			}
			s.log.Error().Err(err).Int("readings", w.readings).Int("attempt", attempt).Msg("readings flush failed; retrying")
			if s.draining() {
				if giveUp.IsZero() {
					giveUp = time.Now().Add(s.cfg.DrainTimeout)
				} else if time.Now().After(giveUp) {
					s.metrics.dropped.Add(float64(w.readings))
					s.log.Error().Int("readings", w.readings).Int("accel_chunks", len(w.accel)).Msg("readings dropped at shutdown")
					break
				}
			}
			time.Sleep(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
	for _, c := range w.waiters {
		close(c)
	}
	w.reset()
}

func (s *database) draining() bool {
	s.intake.Lock()
	defer s.intake.Unlock()
	return s.intake.closed
}

// Accelerometer samples are stored as one little-endian float32 blob per
// chunk, x then y then z: 12 bytes a sample instead of a row each.
func encodeSamples(c *devices.AccelChunk) []byte {
	b := make([]byte, 0, 12*len(c.X))
	for _, axis := range [3][]float32{c.X, c.Y, c.Z} {
		for _, v := range axis {
			b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
		}
	}
	return b
}

var errBadSamples = errors.New("store: accel samples blob malformed")

func decodeSamples(b []byte, c *devices.AccelChunk) error {
	if len(b)%12 != 0 {
		return errBadSamples
	}
	n := len(b) / 12
	all := make([]float32, 3*n)
	for i := range all {
		all[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	c.X, c.Y, c.Z = all[:n:n], all[n:2*n:2*n], all[2*n:]
	return nil
}

func accelArgs(c *devices.AccelChunk) []any {
	return []any{string(c.Hub), string(c.Sensor), toUS(c.At), toUS(c.Received), c.RateHz, encodeSamples(c)}
}
