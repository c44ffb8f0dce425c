package store

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// Registry is the sub-store of residents, hubs, sensors and the hubs'
// credentials: the broker's directory (broker.HubDirectory), dispatch's
// (dispatch.Directory), the health monitor's fleet (detectors.Fleet) and
// the console's registry and resident pages.
type Registry struct{ *database }

// Registry returns the sub-store of residents, hubs, sensors and
// credentials.
func (s *Store) Registry() Registry { return Registry{s.database} }

// Lists page in id order with the console's query (console.ListQuery): the
// last id of one page as After gives the next. Search is, for residents,
// devices.ParseResidentSearch (name, address, phone, exact id), for hubs part
// of the id; SocialWorkerID selects residents, ResidentID hubs.

// pageLimit is the page size asked for: default 100, at most 1000.
func pageLimit(q console.ListQuery) int {
	switch {
	case q.Limit <= 0:
		return 100
	case q.Limit > 1000:
		return 1000
	}
	return q.Limit
}

// newID returns prefix and 12 random lower-case base32 characters (60 bits).
func newID(prefix string) string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:12]
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("store: %w: %s", devices.ErrInvalid, fmt.Sprintf(format, args...))
}

func (s *database) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// likePattern escapes s for LIKE ... ESCAPE '\'.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// validRecordID accepts resident ids: 1-64 characters of [a-z0-9_-].
func validRecordID(id string) bool {
	if id == "" || len(id) > devices.MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ---- residents ----

func validateResident(r *devices.Resident) error {
	if !validRecordID(string(r.ID)) {
		return invalid("resident id %q: want 1-64 characters of a-z, 0-9, '-', '_'", r.ID)
	}
	if strings.TrimSpace(r.Name) == "" {
		return invalid("resident name is required")
	}
	if r.Language == "" {
		r.Language = "ko"
	}
	if r.Language != "ko" && r.Language != "en" {
		return invalid("resident language %q: want \"ko\" or \"en\"", r.Language)
	}
	if r.BirthDate != "" {
		if _, err := time.Parse(time.DateOnly, r.BirthDate); err != nil {
			return invalid("birth date %q: want YYYY-MM-DD", r.BirthDate)
		}
	}
	if r.Phone != "" && !validPhone(r.Phone) {
		return invalid("phone %q: want E.164 (+82...)", r.Phone)
	}
	if err := settleDistrict(r); err != nil {
		return err
	}
	for i := range r.Guardians {
		g := &r.Guardians[i]
		if strings.TrimSpace(g.Name) == "" || !validPhone(g.Phone) {
			return invalid("guardian %d: name and an E.164 phone (+82...) are required", i+1)
		}
		if g.Language == "" {
			g.Language = "ko"
		}
	}
	return nil
}

func validPhone(p string) bool {
	if len(p) < 8 || len(p) > 16 || p[0] != '+' {
		return false
	}
	for _, c := range p[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

type accessSecrets struct {
	KeySafeCode string `json:"key_safe_code,omitempty"`
	DoorCode    string `json:"door_code,omitempty"`
}

func sealAD(id devices.ResidentID) string { return "resident:" + string(id) }

const residentColumns = `id, name, birth_date, phone, language, address, medical_notes, medications, allergies,
	key_holder, access_notes, access_sealed, guardians, social_worker_id, priority, consent, disabled,
	created_us, updated_us, district_code`

// residentArgs returns the column values in residentColumns order; the
// access codes are sealed, never stored in the clear.
func (s *database) residentArgs(r *devices.Resident) []any {
	secrets, _ := json.Marshal(accessSecrets{KeySafeCode: r.Access.KeySafeCode, DoorCode: r.Access.DoorCode})
	return []any{string(r.ID), r.Name, r.BirthDate, r.Phone, r.Language, mustJSON(r.Address), r.MedicalNotes,
		mustJSON(r.Medications), mustJSON(r.Allergies), r.Access.KeyHolder, r.Access.Notes,
		s.sealer.seal(secrets, sealAD(r.ID)), mustJSON(r.Guardians), r.SocialWorkerID, r.Priority,
		mustJSON(r.Consent), r.Disabled, toUS(r.CreatedAt), toUS(r.UpdatedAt), r.DistrictCode}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain structs and slices of strings reach here
	}
	return string(b)
}

func (s *database) scanResident(sc row) (devices.Resident, error) {
	var r devices.Resident
	var id, address, medications, allergies, guardians, consent string
	var sealed []byte
	var created, updated int64
	err := sc.Scan(&id, &r.Name, &r.BirthDate, &r.Phone, &r.Language, &address, &r.MedicalNotes, &medications,
		&allergies, &r.Access.KeyHolder, &r.Access.Notes, &sealed, &guardians, &r.SocialWorkerID, &r.Priority,
		&consent, &r.Disabled, &created, &updated, &r.DistrictCode)
	if err != nil {
		return r, err
	}
	r.ID, r.CreatedAt, r.UpdatedAt = devices.ResidentID(id), fromUS(created), fromUS(updated)
	for _, f := range []struct {
		src string
		dst any
	}{{address, &r.Address}, {medications, &r.Medications}, {allergies, &r.Allergies}, {guardians, &r.Guardians}, {consent, &r.Consent}} {
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return r, fmt.Errorf("store: resident %s: decode column: %w", id, err)
		}
	}
	plain, err := s.sealer.open(sealed, sealAD(r.ID))
	if err != nil {
		return r, fmt.Errorf("store: resident %s: access codes: %w", id, err)
	}
	var sec accessSecrets
	if err := json.Unmarshal(plain, &sec); err != nil {
		return r, fmt.Errorf("store: resident %s: access codes: %w", id, err)
	}
	r.Access.KeySafeCode, r.Access.DoorCode = sec.KeySafeCode, sec.DoorCode
	return r, nil
}

// CreateResident stores a new resident, giving it an id ("res-...") if it
// has none, and returns it as stored.
func (s Registry) CreateResident(ctx context.Context, r devices.Resident) (devices.Resident, error) {
	if r.ID == "" {
		r.ID = devices.ResidentID(newID("res-"))
	}
	if err := validateResident(&r); err != nil {
		return devices.Resident{}, err
	}
	r.CreatedAt = s.now()
	r.UpdatedAt = r.CreatedAt
	err := s.be.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `INSERT INTO residents (`+residentColumns+`) VALUES `+placeholders(1, 20)+
			` ON CONFLICT (id) DO NOTHING`, s.residentArgs(&r)...)
		if err != nil {
			return fmt.Errorf("store: create resident: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: %w: resident %s", devices.ErrConflict, r.ID)
		}
		return nil
	})
	if err != nil {
		return devices.Resident{}, err
	}
	return r, nil
}

// GetResident returns a resident with its access codes decrypted.
func (s Registry) GetResident(ctx context.Context, id devices.ResidentID) (devices.Resident, error) {
	r, err := s.scanResident(s.be.queryRow(ctx, `SELECT `+residentColumns+` FROM residents WHERE id = $1`, string(id)))
	return one(r, err, "resident", id)
}

// ListResidents returns a page of residents in id order.
func (s Registry) ListResidents(ctx context.Context, lq console.ListQuery) ([]devices.Resident, error) {
	w := where{}
	w.add("id > ?", lq.After)
	if !lq.IncludeDisabled {
		w.raw("NOT disabled")
	}
	if lq.SocialWorkerID != "" {
		w.add("social_worker_id = ?", lq.SocialWorkerID)
	}
	w.inRegions("district_code", lq.Regions)
	if q := devices.ParseResidentSearch(lq.Search); q.Raw != "" {
		w.residentSearch(q)
	}
	rows, err := s.be.query(ctx, `SELECT `+residentColumns+` FROM residents`+w.sql()+
		fmt.Sprintf(` ORDER BY id LIMIT %d`, pageLimit(lq)), w.args...)
	return collect(rows, err, "list residents", s.scanResident)
}

// UpdateResident replaces every field of a stored resident except its id,
// CreatedAt and Disabled (see SetResidentDisabled), and returns it as stored.
func (s Registry) UpdateResident(ctx context.Context, r devices.Resident) (devices.Resident, error) {
	if err := validateResident(&r); err != nil {
		return devices.Resident{}, err
	}
	r.UpdatedAt = s.now()
	args := s.residentArgs(&r)
	err := s.be.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, `UPDATE residents SET name = $2, birth_date = $3, phone = $4, language = $5,
			address = $6, medical_notes = $7, medications = $8, allergies = $9, key_holder = $10,
			access_notes = $11, access_sealed = $12, guardians = $13, social_worker_id = $14, priority = $15,
			consent = $16, updated_us = $17, district_code = $18 WHERE id = $1`,
			args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10],
			args[11], args[12], args[13], args[14], args[15], args[18], args[19])
		if err != nil {
			return fmt.Errorf("store: update resident: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: resident %s: %w", r.ID, devices.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return devices.Resident{}, err
	}
	return s.GetResident(ctx, r.ID)
}

// SetResidentDisabled disables or re-enables a resident.
func (s Registry) SetResidentDisabled(ctx context.Context, id devices.ResidentID, disabled bool) error {
	return s.setFlag(ctx, "resident", `UPDATE residents SET disabled = $2, updated_us = $3 WHERE id = $1`,
		string(id), disabled, toUS(s.now()))
}

func (s *database) setFlag(ctx context.Context, what, query string, args ...any) error {
	return s.be.inTx(ctx, func(q querier) error {
		n, err := q.exec(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("store: update %s: %w", what, err)
		}
		if n == 0 {
			return fmt.Errorf("store: %s %v: %w", what, args[0], devices.ErrNotFound)
		}
		return nil
	})
}

// where builds a WHERE clause with $N placeholders from "?" markers.
type where struct {
	parts []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1)
	}
	w.parts = append(w.parts, cond)
}

// residentSearchText is devices.Resident.SearchText in SQL: both back ends
// read JSON fields with ->> (SQLite since 3.38; address is JSONB in
// PostgreSQL and JSON text in SQLite).
const residentSearchText = `lower(name || ' ' || coalesce(address->>'line1', '') || ' ' || coalesce(address->>'building', '') ||
	' ' || coalesce(address->>'floor', '') || ' ' || coalesce(address->>'unit', '') || ' ' ||
	coalesce(address->>'district', '') || ' ' || coalesce(address->>'postcode', '') || ' ' || phone)`

// residentSearch adds what devices.ResidentSearch.Matches means: the exact
// id, the phone however it was typed, or every word somewhere in the name,
// address or phone.
func (w *where) residentSearch(q devices.ResidentSearch) {
	cond, args := "id = ?", []any{q.Raw}
	if q.Phone != "" {
		cond += " OR phone = ?"
		args = append(args, q.Phone)
	}
	if len(q.Terms) > 0 {
		terms := make([]string, len(q.Terms))
		for i, t := range q.Terms {
			terms[i] = residentSearchText + ` LIKE ? ESCAPE '\'`
			args = append(args, likePattern(t))
		}
		cond += " OR (" + strings.Join(terms, " AND ") + ")"
	}
	w.add("("+cond+")", args...)
}

func (w *where) raw(cond string) { w.parts = append(w.parts, cond) }

// inRegions keeps rows whose district column lies in one of the region
// codes (a 시도's 2 digits or a 시군구's 5: a prefix); none keeps all.
func (w *where) inRegions(column string, regions []string) {
	if len(regions) == 0 {
		return
	}
	conds := make([]string, len(regions))
	for i, r := range regions {
		w.args = append(w.args, r+"%")
		conds[i] = fmt.Sprintf("%s LIKE $%d", column, len(w.args))
	}
	w.raw("(" + strings.Join(conds, " OR ") + ")")
}

func (w *where) sql() string {
	if len(w.parts) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.parts, " AND ")
}

// ---- hubs ----

const hubColumns = `id, resident_id, secret_hash, firmware, model, installed_us, end_of_life_us, disabled, created_us, updated_us`

func scanHub(sc row) (devices.Hub, error) {
	var h devices.Hub
	var id, resident string
	var installed, eol, created, updated int64
	err := sc.Scan(&id, &resident, &h.SecretHash, &h.Firmware, &h.Model, &installed, &eol, &h.Disabled, &created, &updated)
	h.ID, h.ResidentID = devices.HubID(id), devices.ResidentID(resident)
	h.InstalledAt, h.EndOfLife, h.CreatedAt, h.UpdatedAt = fromUS(installed), fromUS(eol), fromUS(created), fromUS(updated)
	return h, err
}

// ServiceLife is a hub's default service life from installation.
const ServiceLife = 5 // years

func (s *database) prepareHub(h *devices.Hub) error {
	if err := devices.ValidateHubID(string(h.ID)); err != nil {
		return invalid("%v", err)
	}
	if h.InstalledAt.IsZero() {
		h.InstalledAt = s.now()
	}
	h.InstalledAt = h.InstalledAt.UTC().Truncate(time.Microsecond)
	if h.EndOfLife.IsZero() {
		h.EndOfLife = h.InstalledAt.AddDate(ServiceLife, 0, 0)
	}
	h.EndOfLife = h.EndOfLife.UTC().Truncate(time.Microsecond)
	if !h.EndOfLife.After(h.InstalledAt) {
		return invalid("hub %s: end of life %s is not after installation %s", h.ID, h.EndOfLife.Format(time.DateOnly), h.InstalledAt.Format(time.DateOnly))
	}
	return nil
}

// residentMustExist checks a hub's resident inside the hub's transaction.
func residentMustExist(ctx context.Context, q querier, id devices.ResidentID) error {
	if id == "" {
		return nil // a hub in stock, not yet installed in a home
	}
	var one int
	err := q.queryRow(ctx, `SELECT 1 FROM residents WHERE id = $1`, string(id)).Scan(&one)
	if isNoRows(err) {
		return fmt.Errorf("store: %w: resident %s: %w", devices.ErrInvalid, id, devices.ErrNotFound)
	}
	return err
}

// CreateHub stores a new hub, giving it an id ("hub-...") if it has none.
// InstalledAt defaults to now and EndOfLife to five years after it.
func (s Registry) CreateHub(ctx context.Context, h devices.Hub) (devices.Hub, error) {
	if h.ID == "" {
		h.ID = devices.HubID(newID("hub-"))
	}
	if err := s.prepareHub(&h); err != nil {
		return devices.Hub{}, err
	}
	h.CreatedAt = s.now()
	h.UpdatedAt = h.CreatedAt
	err := s.be.inTx(ctx, func(q querier) error {
		if err := residentMustExist(ctx, q, h.ResidentID); err != nil {
			return err
		}
		n, err := q.exec(ctx, `INSERT INTO hubs (`+hubColumns+`) VALUES `+placeholders(1, 10)+` ON CONFLICT (id) DO NOTHING`,
			string(h.ID), string(h.ResidentID), h.SecretHash, h.Firmware, h.Model, toUS(h.InstalledAt), toUS(h.EndOfLife),
			h.Disabled, toUS(h.CreatedAt), toUS(h.UpdatedAt))
		if err != nil {
			return fmt.Errorf("store: create hub: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: %w: hub %s", devices.ErrConflict, h.ID)
		}
		return nil
	})
	if err != nil {
		return devices.Hub{}, err
	}
	return h, nil
}

// GetHub returns a hub, its secret hash included.
func (s Registry) GetHub(ctx context.Context, id devices.HubID) (devices.Hub, error) {
	h, err := scanHub(s.be.queryRow(ctx, `SELECT `+hubColumns+` FROM hubs WHERE id = $1`, string(id)))
	return one(h, err, "hub", id)
}

// ListHubs returns a page of hubs in id order.
func (s Registry) ListHubs(ctx context.Context, hq console.ListQuery) ([]devices.Hub, error) {
	w := where{}
	w.add("id > ?", hq.After)
	if !hq.IncludeDisabled {
		w.raw("NOT disabled")
	}
	if hq.ResidentID != "" {
		w.add("resident_id = ?", string(hq.ResidentID))
	}
	if len(hq.Regions) > 0 {
		// A regional admin's hubs: those of their region's residents.
		sub := where{args: w.args}
		sub.inRegions("district_code", hq.Regions)
		w.args = sub.args
		w.raw("resident_id IN (SELECT id FROM residents WHERE " + strings.Join(sub.parts, " AND ") + ")")
	}
	if hq.Search != "" {
		w.add(`id LIKE ? ESCAPE '\'`, likePattern(hq.Search))
	}
	rows, err := s.be.query(ctx, `SELECT `+hubColumns+` FROM hubs`+w.sql()+fmt.Sprintf(` ORDER BY id LIMIT %d`, pageLimit(hq)), w.args...)
	return collect(rows, err, "list hubs", scanHub)
}

// UpdateHub changes a hub's resident, firmware, model, installation and end
// of life; its secret and disabled flag have their own methods.
func (s Registry) UpdateHub(ctx context.Context, h devices.Hub) (devices.Hub, error) {
	if err := s.prepareHub(&h); err != nil {
		return devices.Hub{}, err
	}
	err := s.be.inTx(ctx, func(q querier) error {
		if err := residentMustExist(ctx, q, h.ResidentID); err != nil {
			return err
		}
		n, err := q.exec(ctx, `UPDATE hubs SET resident_id = $2, firmware = $3, model = $4, installed_us = $5,
			end_of_life_us = $6, updated_us = $7 WHERE id = $1`,
			string(h.ID), string(h.ResidentID), h.Firmware, h.Model, toUS(h.InstalledAt), toUS(h.EndOfLife), toUS(s.now()))
		if err != nil {
			return fmt.Errorf("store: update hub: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: hub %s: %w", h.ID, devices.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return devices.Hub{}, err
	}
	return s.GetHub(ctx, h.ID)
}

// SetHubSecretHash replaces a hub's secret hash (devices.HashSecret).
func (s Registry) SetHubSecretHash(ctx context.Context, id devices.HubID, hash string) error {
	return s.setFlag(ctx, "hub", `UPDATE hubs SET secret_hash = $2, updated_us = $3 WHERE id = $1`, string(id), hash, toUS(s.now()))
}

// SetHubDisabled disables or re-enables a hub; a disabled hub is refused at
// CONNECT.
func (s Registry) SetHubDisabled(ctx context.Context, id devices.HubID, disabled bool) error {
	return s.setFlag(ctx, "hub", `UPDATE hubs SET disabled = $2, updated_us = $3 WHERE id = $1`, string(id), disabled, toUS(s.now()))
}

// HubCredential implements broker.HubDirectory. Concurrent lookups share
// one query (credentialBatcher).
func (s Registry) HubCredential(ctx context.Context, id devices.HubID) (devices.HubCredential, error) {
	if err := s.avail.unavailable(); err != nil {
		// At once: a CONNECT is refused (server unavailable) without
		// holding one of the broker's connect slots for a lookup that
		// would only time out.
		return devices.HubCredential{Hub: id}, fmt.Errorf("store: hub credential: %w", err)
	}
	return s.creds.get(ctx, id)
}

// hubInventory is what the device-health monitor loads for one hub: its id,
// resident, end of life and disabled flag, and its sensors (disabled ones
// included, flagged).
type hubInventory struct {
	hub     devices.Hub
	sensors []devices.Sensor
}

// inventoryPage is hubs read per round trip by FleetSnapshot.
const inventoryPage = 2000

// FleetSnapshot calls visit for every hub, in id order, with its sensors
// (detectors.Fleet). It reads a page at a time, so 300,000 hubs never sit in
// memory at once. An error from visit stops the walk and is returned.
func (s Registry) FleetSnapshot(ctx context.Context, visit func(devices.Hub, []devices.Sensor) error) error {
	after := ""
	for {
		page, err := s.inventoryPage(ctx, after)
		if err != nil {
			return err
		}
		for _, inv := range page {
			if err := visit(inv.hub, inv.sensors); err != nil {
				return err
			}
		}
		if len(page) < inventoryPage {
			return nil
		}
		after = string(page[len(page)-1].hub.ID)
	}
}

func (s *database) inventoryPage(ctx context.Context, after string) ([]hubInventory, error) {
	rows, err := s.be.query(ctx, `SELECT id, resident_id, end_of_life_us, disabled FROM hubs WHERE id > $1 ORDER BY id LIMIT $2`,
		after, inventoryPage)
	if err != nil {
		return nil, fmt.Errorf("store: hub inventory: %w", err)
	}
	page, err := scanInventory(rows)
	if err != nil || len(page) == 0 {
		return page, err
	}
	srows, err := s.be.query(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE hub_id > $1 AND hub_id <= $2 ORDER BY hub_id, id`,
		after, string(page[len(page)-1].hub.ID))
	if err != nil {
		return nil, fmt.Errorf("store: hub inventory sensors: %w", err)
	}
	return page, addSensors(srows, page)
}

// scanInventory reads and closes rows of hubs (id, resident_id,
// end_of_life_us, disabled).
func scanInventory(rows rows) ([]hubInventory, error) {
	defer rows.Close()
	var page []hubInventory
	for rows.Next() {
		var inv hubInventory
		var id, resident string
		var eol int64
		if err := rows.Scan(&id, &resident, &eol, &inv.hub.Disabled); err != nil {
			return nil, fmt.Errorf("store: hub inventory: %w", err)
		}
		inv.hub.ID, inv.hub.ResidentID, inv.hub.EndOfLife = devices.HubID(id), devices.ResidentID(resident), fromUS(eol)
		page = append(page, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: hub inventory: %w", err)
	}
	return page, nil
}

// addSensors reads and closes rows of sensors (sensorColumns) into the
// hubs of page.
func addSensors(srows rows, page []hubInventory) error {
	defer srows.Close()
	index := make(map[devices.HubID]int, len(page))
	for i := range page {
		index[page[i].hub.ID] = i
	}
	for srows.Next() {
		sn, err := scanSensor(srows)
		if err != nil {
			return fmt.Errorf("store: hub inventory sensors: %w", err)
		}
		if i, ok := index[sn.Hub]; ok {
			page[i].sensors = append(page[i].sensors, sn)
		}
	}
	return srows.Err()
}

// ---- sensors ----

const sensorColumns = `hub_id, id, kind, location, installed_us, report_seconds, disabled`

func scanSensor(sc row) (devices.Sensor, error) {
	var sn devices.Sensor
	var hub, id, kind, loc string
	var installed int64
	err := sc.Scan(&hub, &id, &kind, &loc, &installed, &sn.ReportSeconds, &sn.Disabled)
	sn.Hub, sn.ID, sn.Kind, sn.Location, sn.InstalledAt = devices.HubID(hub), devices.SensorID(id),
		devices.SensorKind(kind), devices.Location(loc), fromUS(installed)
	return sn, err
}

// maxReportSeconds bounds a sensor's supervision interval (one week).
const maxReportSeconds = 7 * 24 * 3600

func (s *database) prepareSensor(sn *devices.Sensor) error {
	if !devices.ValidToken(string(sn.ID)) {
		return invalid("sensor id %q: want 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '-'", sn.ID)
	}
	if _, ok := devices.SensorKinds[sn.Kind]; !ok {
		return invalid("sensor %s: unknown kind %q", sn.ID, sn.Kind)
	}
	if !devices.Locations[sn.Location] {
		return invalid("sensor %s: unknown location %q", sn.ID, sn.Location)
	}
	if sn.ReportSeconds < 0 || sn.ReportSeconds > maxReportSeconds {
		return invalid("sensor %s: report interval %d s outside 0-%d (0: not supervised)", sn.ID, sn.ReportSeconds, maxReportSeconds)
	}
	if sn.InstalledAt.IsZero() {
		sn.InstalledAt = s.now()
	}
	sn.InstalledAt = sn.InstalledAt.UTC().Truncate(time.Microsecond)
	return nil
}

// CreateSensor adds a sensor to an existing hub.
func (s Registry) CreateSensor(ctx context.Context, sn devices.Sensor) (devices.Sensor, error) {
	if err := s.prepareSensor(&sn); err != nil {
		return devices.Sensor{}, err
	}
	err := s.be.inTx(ctx, func(q querier) error {
		var one int
		err := q.queryRow(ctx, `SELECT 1 FROM hubs WHERE id = $1`, string(sn.Hub)).Scan(&one)
		if isNoRows(err) {
			return fmt.Errorf("store: %w: hub %s: %w", devices.ErrInvalid, sn.Hub, devices.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: create sensor: %w", err)
		}
		n, err := q.exec(ctx, `INSERT INTO sensors (`+sensorColumns+`) VALUES `+placeholders(1, 7)+` ON CONFLICT (hub_id, id) DO NOTHING`,
			string(sn.Hub), string(sn.ID), string(sn.Kind), string(sn.Location), toUS(sn.InstalledAt), sn.ReportSeconds, sn.Disabled)
		if err != nil {
			return fmt.Errorf("store: create sensor: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: %w: sensor %s/%s", devices.ErrConflict, sn.Hub, sn.ID)
		}
		return nil
	})
	if err != nil {
		return devices.Sensor{}, err
	}
	return sn, nil
}

// GetSensor returns one sensor of a hub.
func (s Registry) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	sn, err := scanSensor(s.be.queryRow(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE hub_id = $1 AND id = $2`, string(hub), string(id)))
	return one(sn, err, "sensor", string(hub)+"/"+string(id))
}

// ListSensors returns a hub's sensors, disabled ones included, in id order.
func (s Registry) ListSensors(ctx context.Context, hub devices.HubID) ([]devices.Sensor, error) {
	rows, err := s.be.query(ctx, `SELECT `+sensorColumns+` FROM sensors WHERE hub_id = $1 ORDER BY id`, string(hub))
	return collect(rows, err, "list sensors", scanSensor)
}

// UpdateSensor changes a sensor's kind, location, installation time and
// reporting interval.
func (s Registry) UpdateSensor(ctx context.Context, sn devices.Sensor) (devices.Sensor, error) {
	if err := s.prepareSensor(&sn); err != nil {
		return devices.Sensor{}, err
	}
	err := s.setFlag(ctx, "sensor", `UPDATE sensors SET kind = $3, location = $4, installed_us = $5, report_seconds = $6
		WHERE hub_id = $1 AND id = $2`, string(sn.Hub), string(sn.ID), string(sn.Kind), string(sn.Location),
		toUS(sn.InstalledAt), sn.ReportSeconds)
	if err != nil {
		return devices.Sensor{}, err
	}
	return s.GetSensor(ctx, sn.Hub, sn.ID)
}

// SetSensorDisabled disables or re-enables a sensor (a disabled sensor is
// not supervised).
func (s Registry) SetSensorDisabled(ctx context.Context, hub devices.HubID, id devices.SensorID, disabled bool) error {
	return s.setFlag(ctx, "sensor", `UPDATE sensors SET disabled = $3 WHERE hub_id = $1 AND id = $2`, string(hub), string(id), disabled)
}

// ResidentOfHub implements dispatch.Directory.
func (s Registry) ResidentOfHub(ctx context.Context, hub devices.HubID) (devices.Resident, error) {
	h, err := s.GetHub(ctx, hub)
	if err != nil {
		return devices.Resident{}, err
	}
	if h.ResidentID == "" {
		return devices.Resident{}, fmt.Errorf("store: hub %s has no resident: %w", hub, devices.ErrNotFound)
	}
	return s.GetResident(ctx, h.ResidentID)
}
