package console

// The fleet view (docs/operations.md, "Fleet"): every hub with what the
// gateway last knew of its equipment (model, firmware, battery, power, last
// seen, end of life) and its sensors, filtered and paged in the store, with
// counts per region, model and firmware from one aggregate query.

import (
	"context"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// FleetQuery selects hubs for the fleet list, its counts and its CSV. Zero
// fields select everything.
type FleetQuery struct {
	// Scope is the account's regions (Account.Regions): none is national.
	// It is never taken from the request.
	Scope []string
	// Region keeps the hubs of residents in one 시도 (2 digits) or 시군구
	// (5 digits).
	Region   string
	Model    string
	Firmware string // as the hub reports it, else as registered
	// BatteryBelow keeps hubs whose reported battery is known and below
	// this percentage (0: no filter).
	BatteryBelow float64
	// OfflineFor keeps hubs that are offline and were last seen more than
	// this long before Now (hubs never heard from count as offline since
	// ever); 0: no filter.
	OfflineFor time.Duration
	// EndOfLifeWithin keeps hubs whose end of life is before Now plus this
	// (past ones included); EndOfLifeSet says the filter is on, so that 0
	// means "already past".
	EndOfLifeWithin time.Duration
	EndOfLifeSet    bool
	// Now is the time the offline and end-of-life filters count from.
	Now time.Time
	// After is the last hub id of the previous page; Limit the page size
	// (the list asks one more to learn whether another page exists).
	After string
	Limit int
}

// FleetHub is one hub of the fleet list. Health fields are zero (Battery
// -1) when the gateway has never saved the hub's health.
type FleetHub struct {
	Hub      devices.HubID      `json:"hub_id"`
	Resident devices.ResidentID `json:"resident_id"`
	District string             `json:"district_code"` // 5-digit 시군구, "" for a hub in stock
	Model    string             `json:"model"`
	Firmware string             `json:"firmware"`
	// FirmwareReported is when the hub first reported Firmware; zero (and
	// left out of the JSON) while Firmware is the registry's declared
	// version, not reported yet.
	FirmwareReported time.Time     `json:"firmware_reported,omitzero"`
	PowerKnown       bool          `json:"power_known"`
	OnMains          bool          `json:"on_mains"`
	Battery          float64       `json:"battery"` // %, -1 when unknown
	Online           bool          `json:"online"`
	LastSeen         time.Time     `json:"last_seen"`
	Installed        time.Time     `json:"installed_at"`
	EndOfLife        time.Time     `json:"end_of_life"`
	Sensors          []FleetSensor `json:"sensors"`
}

// FleetSensor is one enabled sensor of a fleet hub.
type FleetSensor struct {
	Sensor    devices.SensorID   `json:"sensor_id"`
	Kind      devices.SensorKind `json:"kind"`
	Location  devices.Location   `json:"location"`
	Installed time.Time          `json:"installed_at"`
	Battery   float64            `json:"battery"` // %, -1 when unknown
	LastSeen  time.Time          `json:"last_seen"`
}

// FleetGroup is one row of the aggregate: the hubs of one 시군구, model and
// firmware that match a FleetQuery.
type FleetGroup struct {
	District string
	Model    string
	Firmware string
	Hubs     int
	Online   int
	// LowBattery counts hubs with a known battery below FleetLowBattery.
	LowBattery int
	// PastEndOfLife counts hubs whose end of life is before the query's Now.
	PastEndOfLife int
}

// FleetLowBattery is the battery percentage under which the counts call a
// hub's battery low: the health monitor's default threshold.
const FleetLowBattery = 20

// FleetReader is the store as the fleet view reads it.
type FleetReader interface {
	// FleetHubs returns a page of hubs in id order, with their sensors.
	FleetHubs(ctx context.Context, q FleetQuery) ([]FleetHub, error)
	// FleetGroups returns the matching hubs counted per 시군구, model and
	// firmware (Limit and After are ignored).
	FleetGroups(ctx context.Context, q FleetQuery) ([]FleetGroup, error)
}
