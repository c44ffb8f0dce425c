package devices

import (
	"errors"
	"time"
)

// ErrNotFound is returned by registry look-ups (in every store back end) for
// a resident, hub or sensor that does not exist.
var ErrNotFound = errors.New("not found")

// The registry's other two answers, one sentinel each for every layer: the
// store wraps them, the console answers them (409, 400), and errors.Is
// finds them across the layers.
var (
	// ErrConflict: a record with the same id (or unique field) exists.
	ErrConflict = errors.New("already exists")
	// ErrInvalid is wrapped by errors for input that is refused; the
	// message says which field and why.
	ErrInvalid = errors.New("invalid")
)

// Resident is a person the service looks after, with what a 119 dispatcher
// needs to know about them.
type Resident struct {
	ID        ResidentID `json:"id"`
	Name      string     `json:"name"`
	BirthDate string     `json:"birth_date,omitempty"` // YYYY-MM-DD
	Phone     string     `json:"phone,omitempty"`      // E.164, +82...
	Language  string     `json:"language"`             // "ko" or "en"
	Address   Address    `json:"address"`
	// DistrictCode is the 시군구 the resident lives in (devices/region: 5
	// digits of the 법정동코드, "26350" for 부산광역시 해운대구), derived
	// from the address when not given. Its first two digits are the 시도
	// whose 119 receives the resident's emergencies. Empty only for a
	// resident registered without an address (or before the district was
	// kept: the gateway derives it at start where it can).
	DistrictCode string `json:"district_code,omitempty"`

	MedicalNotes string   `json:"medical_notes,omitempty"`
	Medications  []string `json:"medications,omitempty"`
	Allergies    []string `json:"allergies,omitempty"`

	Access    Access     `json:"access"`
	Guardians []Guardian `json:"guardians,omitempty"`

	SocialWorkerID string  `json:"social_worker_id,omitempty"`
	Priority       bool    `json:"priority,omitempty"` // "priority" client: monthly home visit
	Consent        Consent `json:"consent"`

	Disabled  bool      `json:"disabled,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Address is where 119 must go.
type Address struct {
	Line1    string  `json:"line1"` // road-name address (도로명주소)
	Building string  `json:"building,omitempty"`
	Floor    string  `json:"floor,omitempty"`
	Unit     string  `json:"unit,omitempty"`
	District string  `json:"district,omitempty"` // 시군구
	Postcode string  `json:"postcode,omitempty"`
	Lat      float64 `json:"lat,omitempty"`
	Lon      float64 `json:"lon,omitempty"`
}

// Access tells responders how to get in. KeySafeCode and DoorCode are
// secrets: the store encrypts them at rest and the API shows them only to
// those entitled.
type Access struct {
	KeyHolder   string `json:"key_holder,omitempty"` // a neighbour or the building manager, with phone
	KeySafeCode string `json:"key_safe_code,omitempty"`
	DoorCode    string `json:"door_code,omitempty"`
	Notes       string `json:"notes,omitempty"`
}

// Guardian is a relative or caregiver to call or text.
type Guardian struct {
	Name     string `json:"name"`
	Relation string `json:"relation,omitempty"`
	Phone    string `json:"phone"`
	Language string `json:"language,omitempty"` // defaults to "ko"
	Order    int    `json:"order,omitempty"`    // 1 is called first
}

// Consent records what the resident agreed to.
type Consent struct {
	ShareMedicalWith119  bool `json:"share_medical_with_119"`
	NotifyGuardians      bool `json:"notify_guardians"`
	VitalSignsMonitoring bool `json:"vital_signs_monitoring"`
}

// Hub is the gateway device in one home. SecretHash is never sent over the
// API.
type Hub struct {
	ID          HubID      `json:"id"`
	ResidentID  ResidentID `json:"resident_id"`
	SecretHash  string     `json:"-"`
	Firmware    string     `json:"firmware,omitempty"`
	Model       string     `json:"model,omitempty"`
	InstalledAt time.Time  `json:"installed_at"`
	EndOfLife   time.Time  `json:"end_of_life"` // default: installed + 5 years
	Disabled    bool       `json:"disabled,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// Sensor is one device attached to a hub.
type Sensor struct {
	Hub         HubID      `json:"hub_id"`
	ID          SensorID   `json:"id"`
	Kind        SensorKind `json:"kind"`
	Location    Location   `json:"location"`
	InstalledAt time.Time  `json:"installed_at"`
	// ReportSeconds is how often the sensor reports at least once; silence
	// for longer than a few intervals is a supervision fault.
	ReportSeconds int  `json:"report_interval_s"`
	Disabled      bool `json:"disabled,omitempty"`
}

// ReportInterval is ReportSeconds as a duration.
func (s Sensor) ReportInterval() time.Duration { return time.Duration(s.ReportSeconds) * time.Second }

// HubCredential is what the broker needs to authenticate a hub.
type HubCredential struct {
	Hub        HubID
	SecretHash string
	Disabled   bool
}
