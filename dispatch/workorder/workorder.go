// Package workorder turns device faults into maintenance work orders for
// the region's technician (docs/operations.md, "Work orders"): a battery
// low, a sensor silent, a sensor's tamper switch or failed self-test, or a
// hub past its end of life opens one order per hub and fault, texted once
// to the technician of the resident's region with the address and the
// access details a technician may see; a second detection of the same
// fault adds to the open order and texts nobody. The order is closed with
// what was replaced, and the resident's record keeps the history.
//
// The orders follow the dispatcher's incident feed (the device-health
// incidents dispatch already opens), so the detectors and the dispatcher
// know nothing of them.
package workorder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// Fault is what a work order is about: the device-health cause that opened
// it.
type Fault string

const (
	FaultBatteryLow   Fault = Fault(detectors.CauseBatteryLow)
	FaultSensorSilent Fault = Fault(detectors.CauseSensorSilent)
	// FaultTamper is a sensor's tamper switch or failed self-test
	// (detectors.CauseSensorFault): someone has to look at it either way.
	FaultTamper    Fault = Fault(detectors.CauseSensorFault)
	FaultEndOfLife Fault = Fault(detectors.CauseEndOfLife)
)

// FaultOf is the fault a cause opens an order for; false for the causes a
// technician is not sent for (a hub offline or the mains lost are the
// household's or the power company's first: they have their own
// responders in dispatch).
func FaultOf(cause detectors.Cause) (Fault, bool) {
	switch f := Fault(cause); f {
	case FaultBatteryLow, FaultSensorSilent, FaultTamper, FaultEndOfLife:
		return f, true
	}
	return "", false
}

// Faults are the causes FaultOf opens orders for.
func Faults() []detectors.Cause {
	return []detectors.Cause{detectors.CauseBatteryLow, detectors.CauseSensorSilent, detectors.CauseSensorFault, detectors.CauseEndOfLife}
}

// Status of an order.
type Status string

const (
	StatusOpen   Status = "open"
	StatusClosed Status = "closed"
)

// Order is one maintenance work order.
type Order struct {
	ID         string             `json:"id"`
	Hub        devices.HubID      `json:"hub_id"`
	ResidentID devices.ResidentID `json:"resident_id,omitempty"`
	Fault      Fault              `json:"fault"`
	// Region is the resident's district when the order was opened (the
	// technician's region and the scope of regional accounts).
	Region     string `json:"region,omitempty"`
	Technician string `json:"technician_id,omitempty"` // "" when the region has none
	Status     Status `json:"status"`
	// Detections counts the distinct incidents of this fault while the
	// order was open; LastIncident is the latest.
	Detections   int       `json:"detections"`
	LastIncident string    `json:"last_incident_id,omitempty"`
	OpenedAt     time.Time `json:"opened_at"`
	LastAt       time.Time `json:"last_at"`
	// NotifiedAt is when the technician's SMS was accepted (zero: not
	// yet); NoticeSID is Twilio's id of it.
	NotifiedAt time.Time `json:"notified_at,omitzero"`
	NoticeSID  string    `json:"notice_sid,omitempty"`
	// Notice is where telling the technician stands; NoticeAttempts counts
	// the SMS tried, NoticeUndelivered those Twilio reported undelivered;
	// NoticeDue is the next try (pending) or recheck (parked); NoticeError
	// is the last failure.
	Notice            NoticeState `json:"notice"`
	NoticeAttempts    int         `json:"notice_attempts"`
	NoticeUndelivered int         `json:"notice_undelivered,omitempty"`
	NoticeDue         time.Time   `json:"notice_due,omitzero"`
	NoticeError       string      `json:"notice_error,omitempty"`
	ClosedAt          time.Time   `json:"closed_at,omitzero"`
	ClosedBy          string      `json:"closed_by,omitempty"`
	Replaced          string      `json:"replaced,omitempty"` // what was replaced or done
}

// NoticeState is where telling an order's technician stands.
type NoticeState string

const (
	// NoticePending: to be texted at NoticeDue (at once when zero).
	NoticePending NoticeState = "pending"
	// NoticeParked: no technician covers the order's region. Adding or
	// changing a technician puts it back to pending; it is rechecked at
	// NoticeDue anyway (ParkFor).
	NoticeParked NoticeState = "parked"
	// NoticeSent: Twilio accepted the SMS. An undelivered report puts it
	// back to pending, up to MaxUndelivered times.
	NoticeSent NoticeState = "sent"
	// NoticeFailed: given up (Twilio refused the SMS for good, or it was
	// undelivered MaxUndelivered times): a person must call the
	// technician. The console shows it; a metric counts it.
	NoticeFailed NoticeState = "failed"
)

// IDPrefix begins every order's id: the delivery callbacks of an order's
// SMS carry its id as their ref, and this tells them from dispatch's.
const IDPrefix = "wo-"

// IsOrderRef tells whether a callback's ref names a work order.
func IsOrderRef(ref string) bool { return strings.HasPrefix(ref, IDPrefix) }

// Notice outcomes a desk records for a claimed order (Store.RecordNotice).
type NoticeRecord struct {
	State NoticeState
	Due   time.Time // pending or parked: when to try or check again
	Error string
	// Attempted counts one more SMS tried; Undelivered one more reported
	// undelivered.
	Attempted, Undelivered bool
	// IfSID, when set, applies the record only to an order sent with this
	// SMS (a delivery callback Twilio may repeat, or that comes late).
	IfSID string
}

// Technician is a maintenance responder of a region (a 시도 or 시군구
// code): the orders of the residents there are theirs.
type Technician struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Phone  string `json:"phone"` // E.164
	Region string `json:"region"`
	// Lang of their SMS: "ko" (default) or "en".
	Lang string `json:"lang,omitempty"`
}

// Query selects orders, newest first.
type Query struct {
	ResidentID devices.ResidentID
	Hub        devices.HubID
	Status     Status   // "" for both
	Regions    []string // orders whose region lies in one of these; nil for all
	Limit      int      // default 100, at most 1000
}

// ErrClosed is closing an order that is closed already.
var ErrClosed = errors.New("workorder: the order is closed already")

// Store keeps orders and technicians (store.WorkOrders). Missing records
// wrap devices.ErrNotFound.
type Store interface {
	// OpenOrder opens o, or adds to the open order of o's hub and fault:
	// created tells which. A detection of an incident the order counted
	// already counts nothing.
	OpenOrder(ctx context.Context, o Order) (got Order, created bool, err error)
	// ClaimDue claims for by, until now+hold, up to limit open orders
	// pending or parked whose NoticeDue has come and that nobody holds a
	// claim on (oldest due first): of several gateways on one database
	// exactly one gets each order; the claim of one that died expires.
	ClaimDue(ctx context.Context, by string, now time.Time, hold time.Duration, limit int) ([]Order, error)
	// MarkNotified records that technician's SMS (Twilio's sid) was
	// accepted, and releases the claim.
	MarkNotified(ctx context.Context, id, technician, sid string, at time.Time) error
	// RecordNotice records an outcome other than acceptance and releases
	// the claim; false when IfSID did not match (nothing changed).
	RecordNotice(ctx context.Context, id string, r NoticeRecord) (bool, error)
	// ActiveFaultIncidents pages through every active incident of a
	// fault's cause, by id after after (no cap: the feed's snapshot has
	// one).
	ActiveFaultIncidents(ctx context.Context, after string, limit int) ([]dispatch.Incident, error)
	// CloseOrder closes an open order (ErrClosed when it is not).
	CloseOrder(ctx context.Context, id, by, replaced string, at time.Time) (Order, error)
	GetOrder(ctx context.Context, id string) (Order, error)
	ListOrders(ctx context.Context, q Query) ([]Order, error)

	// PutTechnician creates or replaces t and puts the parked orders back
	// to pending: the new technician may cover them.
	PutTechnician(ctx context.Context, t Technician) error
	ListTechnicians(ctx context.Context) ([]Technician, error)
}

// TechnicianFor picks the technician of a district: the one whose region
// is the most precise that contains it (a 시군구's own before its 시도's),
// then the first by id; false when none covers it.
func TechnicianFor(techs []Technician, district string) (Technician, bool) {
	var best Technician
	found := false
	for _, t := range techs {
		if district == "" || t.Region == "" || !strings.HasPrefix(district, t.Region) {
			continue
		}
		if !found || len(t.Region) > len(best.Region) || len(t.Region) == len(best.Region) && t.ID < best.ID {
			best, found = t, true
		}
	}
	return best, found
}

// CheckClose validates what a close says.
func CheckClose(by, replaced string) error {
	switch {
	case strings.TrimSpace(by) == "":
		return fmt.Errorf("%w: by: who closes the order is required", devices.ErrInvalid)
	case strings.TrimSpace(replaced) == "":
		return fmt.Errorf("%w: replaced: what was replaced or done is required (\"battery CR123A\", \"nothing: sensor re-seated\")", devices.ErrInvalid)
	case len(replaced) > 500:
		return fmt.Errorf("%w: replaced: at most 500 bytes", devices.ErrInvalid)
	}
	return nil
}
