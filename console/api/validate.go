package api

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dolbom/dolbom/devices"
)

// Bounds on free text: generous for real data, small enough that a mistake
// (a whole file pasted into a field) is caught.
const (
	maxName      = 100
	maxShortText = 200
	maxNotes     = 4000
	maxListItems = 50
	maxGuardians = 5
	// accessMask replaces key safe and door codes in answers that were not
	// asked to reveal them. Sent back unchanged in an update, it keeps the
	// stored code, so GET -> edit -> PUT does not overwrite codes with stars.
	accessMask = "****"
)

// kst is the service's time zone: a birth date is "in the future" by the
// Korean calendar day.
var kst = time.FixedZone("KST", 9*60*60)

// checkText bounds a free-text field and refuses control characters other
// than newlines and tabs, which would corrupt logs and dispatch messages.
func checkText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return BadRequest(field, "not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return BadRequest(field, "%d characters, at most %d", n, max)
	}
	for _, c := range s {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			return BadRequest(field, "control character %U not allowed", c)
		}
	}
	return nil
}

// validateResident checks r and normalises it in place (phones to E.164,
// default languages, guardian order). now is the current time, for the
// birth date.
func validateResident(r *devices.Resident, now time.Time) error {
	r.Name = strings.TrimSpace(r.Name)
	if r.Name == "" {
		return BadRequest("name", "the name is required")
	}
	if r.ID != "" && !devices.ValidToken(string(r.ID)) {
		return BadRequest("id", "%q: ids are 1-64 characters of A-Z a-z 0-9 . _ : -", r.ID)
	}
	if r.BirthDate != "" {
		d, err := time.ParseInLocation(time.DateOnly, r.BirthDate, kst)
		if err != nil {
			return BadRequest("birth_date", "%q is not a date in the form YYYY-MM-DD", r.BirthDate)
		}
		if d.After(now.In(kst)) {
			return BadRequest("birth_date", "%s is in the future", r.BirthDate)
		}
		if d.Year() < 1900 {
			return BadRequest("birth_date", "%s is before 1900", r.BirthDate)
		}
	}
	if r.Phone != "" {
		p, err := devices.NormalizePhone(r.Phone)
		if err != nil {
			return BadRequest("phone", "%v", err)
		}
		r.Phone = p
	}
	if err := validateLanguage("language", &r.Language); err != nil {
		return err
	}
	texts := []struct {
		field string
		value string
		max   int
	}{
		{"name", r.Name, maxName},
		{"address.line1", r.Address.Line1, maxShortText},
		{"address.building", r.Address.Building, maxShortText},
		{"address.floor", r.Address.Floor, maxShortText},
		{"address.unit", r.Address.Unit, maxShortText},
		{"address.district", r.Address.District, maxShortText},
		{"address.postcode", r.Address.Postcode, 20},
		{"medical_notes", r.MedicalNotes, maxNotes},
		{"access.key_holder", r.Access.KeyHolder, maxShortText},
		{"access.key_safe_code", r.Access.KeySafeCode, 64},
		{"access.door_code", r.Access.DoorCode, 64},
		{"access.notes", r.Access.Notes, maxNotes},
		{"social_worker_id", r.SocialWorkerID, devices.MaxIDLen},
	}
	for _, t := range texts {
		if err := checkText(t.field, t.value, t.max); err != nil {
			return err
		}
	}
	if err := checkCoordinates(r.Address.Lat, r.Address.Lon); err != nil {
		return err
	}
	if err := settleDistrict(r); err != nil {
		return err
	}
	for _, list := range []struct {
		field string
		items []string
	}{{"medications", r.Medications}, {"allergies", r.Allergies}} {
		if len(list.items) > maxListItems {
			return BadRequest(list.field, "%d entries, at most %d", len(list.items), maxListItems)
		}
		for i, item := range list.items {
			f := list.field + "[" + strconv.Itoa(i) + "]"
			if strings.TrimSpace(item) == "" {
				return BadRequest(f, "empty entry")
			}
			if err := checkText(f, item, maxShortText); err != nil {
				return err
			}
		}
	}
	if r.Access.KeySafeCode == accessMask || r.Access.DoorCode == accessMask {
		return BadRequest("access", "%q is the mask shown in place of a code; send the code itself", accessMask)
	}
	if len(r.Guardians) > maxGuardians {
		return BadRequest("guardians", "%d guardians, at most %d", len(r.Guardians), maxGuardians)
	}
	for i := range r.Guardians {
		if err := validateGuardian(&r.Guardians[i], i); err != nil {
			return err
		}
	}
	return nil
}

func validateGuardian(g *devices.Guardian, i int) error {
	f := "guardians[" + strconv.Itoa(i) + "]."
	g.Name = strings.TrimSpace(g.Name)
	if g.Name == "" {
		return BadRequest(f+"name", "a guardian needs a name")
	}
	if err := checkText(f+"name", g.Name, maxName); err != nil {
		return err
	}
	if err := checkText(f+"relation", g.Relation, maxName); err != nil {
		return err
	}
	if g.Phone == "" {
		return BadRequest(f+"phone", "a guardian needs a phone number")
	}
	p, err := devices.NormalizePhone(g.Phone)
	if err != nil {
		return BadRequest(f+"phone", "%v", err)
	}
	g.Phone = p
	if err := validateLanguage(f+"language", &g.Language); err != nil {
		return err
	}
	if g.Order == 0 {
		g.Order = i + 1
	}
	if g.Order < 0 || g.Order > maxGuardians {
		return BadRequest(f+"order", "%d outside 1-%d", g.Order, maxGuardians)
	}
	return nil
}

func validateLanguage(field string, lang *string) error {
	switch *lang {
	case "":
		*lang = "ko"
	case "ko", "en":
	default:
		return BadRequest(field, "%q: the languages are \"ko\" and \"en\"", *lang)
	}
	return nil
}

// checkCoordinates: 0, 0 means "not geocoded" (the fields are omitted when
// zero), so one coordinate without the other is a mistake.
func checkCoordinates(lat, lon float64) error {
	if lat < -90 || lat > 90 {
		return BadRequest("address.lat", "%g outside -90..90", lat)
	}
	if lon < -180 || lon > 180 {
		return BadRequest("address.lon", "%g outside -180..180", lon)
	}
	if (lat == 0) != (lon == 0) {
		return BadRequest("address.lat", "give both lat and lon, or neither")
	}
	return nil
}

// Sensor report intervals: supervision needs at least a few per day, and
// nothing reports usefully more often than every 10 s.
const (
	defaultReportSeconds = 300
	minReportSeconds     = 10
	maxReportSeconds     = 86400
)

func validateSensor(s *devices.Sensor) error {
	if !devices.ValidToken(string(s.ID)) {
		return BadRequest("id", "%q: sensor ids are 1-64 characters of A-Z a-z 0-9 . _ : -", s.ID)
	}
	if _, ok := devices.SensorKinds[s.Kind]; !ok {
		return BadRequest("kind", "%q is not a sensor kind; known kinds: %s", s.Kind, sensorKindList())
	}
	if !devices.Locations[s.Location] {
		return BadRequest("location", "%q is not a location; known locations: %s", s.Location, locationList())
	}
	if s.ReportSeconds == 0 {
		s.ReportSeconds = defaultReportSeconds
	}
	if s.ReportSeconds < minReportSeconds || s.ReportSeconds > maxReportSeconds {
		return BadRequest("report_interval_s", "%d outside %d-%d seconds", s.ReportSeconds, minReportSeconds, maxReportSeconds)
	}
	return nil
}

func sensorKindList() string { return joinKeys(devices.SensorKinds) }

func locationList() string { return joinKeys(devices.Locations) }

func joinKeys[K ~string, V any](m map[K]V) string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = string(k)
	}
	return strings.Join(out, ", ")
}
