package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// Notifier delivers notifications on one Channel (Channel119, ChannelSMS,
// ...). It returns the provider's reference (a CAP identifier, a Twilio
// SID) on success; on failure retry says whether trying again later can
// help (an endpoint down: yes; a number that does not exist: no). Notify
// must honour ctx's deadline. Notification.Key is stable across retries and
// crashes: a provider that can de-duplicate should use it.
type Notifier interface {
	Notify(ctx context.Context, n Notification) (ref string, retry bool, err error)
}

// NotifierFunc adapts a function to Notifier.
type NotifierFunc func(ctx context.Context, n Notification) (ref string, retry bool, err error)

// Notify calls f.
func (f NotifierFunc) Notify(ctx context.Context, n Notification) (string, bool, error) {
	return f(ctx, n)
}

// Looker is implemented by a Notifier that can tell whether a notification
// with the given key was already accepted. A row left in "sending" by a
// crash is in doubt: with a Looker it is looked up before being sent again;
// without one it is sent again with the same key (safe for CAP, whose
// receiver de-duplicates by identifier).
type Looker interface {
	Lookup(ctx context.Context, key string) (ref string, found bool, err error)
}

// HubCommander sends a command to a hub (the broker implements it).
type HubCommander interface {
	SendCommand(ctx context.Context, hub devices.HubID, cmd devices.Command) error
}

// Directory finds the resident living where a hub is. An error wrapping
// devices.ErrNotFound means no resident is registered for the hub.
type Directory interface {
	ResidentOfHub(ctx context.Context, hub devices.HubID) (devices.Resident, error)
}

// Store keeps incidents, their timelines, the outbox and the policies
// (package store implements it on SQLite and PostgreSQL).
//
// Errors: a missing incident wraps devices.ErrNotFound.
type Store interface {
	// ApplyIncidents runs the mutations in order, all in one transaction:
	// either every change is committed or none. A mutation whose Apply
	// returns an error is skipped (its error lands in its result) without
	// affecting the others.
	ApplyIncidents(ctx context.Context, muts []Mutation) ([]MutationResult, error)
	// ClaimOutbox marks up to limit due rows as "sending" with the claim's
	// id and lease and returns them, most urgent first. Due rows are pending
	// rows whose DueAt has come and "sending" rows whose lease ran out (a
	// crashed or stuck worker; returned with Recovered set). Concurrent
	// claims, from any number of processes, never return the same row.
	ClaimOutbox(ctx context.Context, c Claim) ([]OutboxRow, error)
	// NextOutboxDue is the earliest DueAt of pending rows or lease end of
	// sending rows; ok is false when there are none.
	NextOutboxDue(ctx context.Context) (due time.Time, ok bool, err error)

	Incident(ctx context.Context, id string) (Incident, error)
	Timeline(ctx context.Context, id string) ([]TimelineEntry, error)
	// Outbox lists an incident's rows in creation order.
	Outbox(ctx context.Context, incidentID string) ([]OutboxRow, error)
	// ListIncidents returns incidents ordered by priority, then age.
	ListIncidents(ctx context.Context, q IncidentQuery) ([]Incident, error)
	// IncidentsChangedSince returns incidents whose Seq is greater than
	// seq, in Seq order: the live feed's resume.
	IncidentsChangedSince(ctx context.Context, seq int64, limit int) ([]Incident, error)
	// LastIncidentSeq is the highest change number committed so far (0
	// when there is none).
	LastIncidentSeq(ctx context.Context) (int64, error)

	// Policies returns the policies saved through the API, by cause.
	Policies(ctx context.Context) (map[detectors.Cause]Policy, error)
	SavePolicy(ctx context.Context, cause detectors.Cause, p Policy, at time.Time) error
}

// OutboxListener is implemented by a Store shared by several processes
// (PostgreSQL LISTEN/NOTIFY): ListenOutbox calls wake whenever another
// process committed outbox rows, until ctx ends. The table stays the truth;
// a wake-up only shortens the wait.
type OutboxListener interface {
	ListenOutbox(ctx context.Context, wake func()) error
}

// IncidentListener is implemented by a Store shared by several processes
// (PostgreSQL LISTEN/NOTIFY): ListenIncidents calls wake whenever any
// process committed incident changes, until ctx ends. The live feed then
// reads what changed from the store, so a console attached to one gateway
// sees the changes made through every gateway.
type IncidentListener interface {
	ListenIncidents(ctx context.Context, wake func()) error
	// LastIncidentSeq is the highest change number committed so far (0
	// when there is none): where following starts.
	LastIncidentSeq(ctx context.Context) (int64, error)
	// IncidentsChangedAt returns the incidents whose Seq is one of seqs
	// (numbers the follower skipped over, which may commit late) or
	// greater than after, in Seq order, at most limit.
	IncidentsChangedAt(ctx context.Context, seqs []int64, after int64, limit int) ([]Incident, error)
}

// GroupClaimer is implemented by a Store that can claim outbox rows in the
// same transaction as a group of mutations. Where SingleWriter is true
// (SQLite: one writer at a time, an fsync per commit) the dispatcher's
// writer carries the claims: a claim then costs no commit of its own and
// never holds the write lock while a detection waits for it.
type GroupClaimer interface {
	SingleWriter() bool
	// ApplyIncidentsAndClaim is ApplyIncidents followed by ClaimOutbox,
	// both in one transaction.
	ApplyIncidentsAndClaim(ctx context.Context, muts []Mutation, c Claim) ([]MutationResult, []OutboxRow, error)
}

// ClaimReleaser is implemented by a Store owned by one process at a time
// (SingleWriter): every claim it holds at start was made by a process that
// is gone, a crash, and waiting out its lease would hold back its rows,
// 119 alerts among them, for up to Lease. ReleaseClaims makes them
// claimable now (as recovered: in doubt whether they were sent).
type ClaimReleaser interface {
	ReleaseClaims(ctx context.Context) (int64, error)
}

// Claim is one ClaimOutbox request.
type Claim struct {
	ID    string        // written to the claimed rows; completions must match it
	Now   time.Time     // rows due at or before Now
	Lease time.Duration // how long the claim holds before the row counts as abandoned
	Limit int
}

// Mutation is one change to one incident, decided by Apply inside the
// store's transaction from the incident's current state. The incident is
// found by IncidentID, else by Fingerprint (cur is nil when none exists
// yet), else through the outbox row whose key or provider reference is
// RowRef (row is then that row).
type Mutation struct {
	IncidentID  string
	Fingerprint string
	RowRef      string
	Apply       func(cur *Incident, row *OutboxRow) (Change, error)
	// FoldHub and Fold let a detection of a new episode join an open
	// incident of its home: when no incident has Fingerprint (nor has it
	// as an alias), the store lists FoldHub's open (not closed) incidents
	// and Apply gets the one Fold picks (nil: none, and cur is nil).
	FoldHub devices.HubID
	Fold    func(open []Incident) *Incident
	// Relaxed marks delivery bookkeeping (a send's outcome, a timer run)
	// whose loss in a power cut is harmless: the row it completes is still
	// "sending" afterwards and is taken up again after its lease, exactly
	// as after a crash just before the commit. A group made only of
	// relaxed mutations may be committed without waiting for the disk
	// (SQLite synchronous=NORMAL, PostgreSQL synchronous_commit=off); it
	// becomes durable with the next ordinary commit, which every claim
	// (and so every send) is. A process crash loses nothing either way.
	Relaxed bool
	// Fence, when its Hub is set, makes the mutation a per-home write of
	// the detectors under an ownership epoch (docs/cluster.md): the store
	// applies it only while Fence.Epoch is the hub's current epoch, and
	// otherwise skips it with MutationResult.Err = ErrStaleEpoch. Mutations
	// from 119, the console, callbacks and timers carry none.
	Fence Fence
}

// Fence is the hub and ownership epoch a per-home write was made under.
// A single gateway's store checks nothing (its epochs are 0); a cluster
// store refuses a Fence naming a hub with epoch 0 (a wiring bug), and
// the zero Fence fences nothing.
type Fence struct {
	Hub   devices.HubID
	Epoch devices.Epoch
}

// ErrStaleEpoch is the MutationResult.Err of a fenced mutation whose epoch
// is no longer the hub's: the home moved to another gateway, which applies
// the detection itself from the journal.
var ErrStaleEpoch = errors.New("dispatch: the home moved to another gateway (stale ownership epoch)")

// MutationResult is the outcome of one mutation.
type MutationResult struct {
	Incident Incident // after the change (zero when there is none)
	Changed  bool     // the incident row was written
	Enqueued int      // outbox rows added
	Err      error    // Apply's error: the mutation was skipped
}

// Change is what a mutation writes.
type Change struct {
	// Incident is written when not nil: inserted when it is new, else
	// updated. The store assigns Seq.
	Incident *Incident
	Timeline []TimelineEntry
	// Enqueue adds outbox rows; a row whose key exists already is ignored
	// (a replayed step does not send twice).
	Enqueue []OutboxRow
	// CancelPending cancels the incident's pending rows except those on
	// the channels in Keep (pending 119 alerts survive an acknowledgement).
	CancelPending bool
	Keep          []Channel
	// CancelKeys cancels these rows if still pending (a superseded timer).
	CancelKeys []string
	// CancelRecipients cancels the incident's pending notifications to
	// these recipients (Recipient.ID: "guardian-1"), whatever step, attempt
	// or plan queued them: a responder who answered is not contacted again.
	CancelRecipients []string
	// Reschedule moves pending rows to a new due time (the second attempt
	// of a failed call; an escalation brought forward).
	Reschedule []Reschedule
	// Row completes or updates one outbox row.
	Row *RowUpdate
	// Alias records a fingerprint as the incident's (a folded episode):
	// later mutations with that Fingerprint find this incident, even once
	// it is closed.
	Alias string
}

// Reschedule moves one pending row.
type Reschedule struct {
	Key   string
	DueAt time.Time
}

// RowUpdate sets one outbox row's state. With a ClaimID the update applies
// only while the row is still held by that claim (a late completion after
// the lease was taken over is dropped).
type RowUpdate struct {
	Key       string
	ClaimID   string
	State     OutboxState
	Ref       string // kept when empty
	DueAt     time.Time
	LastError string
}
