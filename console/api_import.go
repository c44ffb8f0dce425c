package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dolbom/dolbom/devices"
)

// csvColumn is one column of the resident import. field is the JSON path
// validateResident names in its errors, so that a row's error names the
// column the agency must fix.
type csvColumn struct {
	name  string
	field string
	set   func(r *devices.Resident, v string) error
}

// guardianSlots is how many guardians a CSV row can carry (guardian1_...
// to guardian3_...); the JSON API takes up to maxGuardians.
const guardianSlots = 3

// ImportColumns lists the CSV columns of POST /api/v1/import/residents in
// their documented order (docs/api.md explains each).
func ImportColumns() []string {
	names := make([]string, len(importColumns))
	for i, c := range importColumns {
		names[i] = c.name
	}
	return names
}

var importColumns = buildImportColumns()

func buildImportColumns() []csvColumn {
	text := func(dst func(*devices.Resident) *string) func(*devices.Resident, string) error {
		return func(r *devices.Resident, v string) error { *dst(r) = v; return nil }
	}
	list := func(dst func(*devices.Resident) *[]string) func(*devices.Resident, string) error {
		return func(r *devices.Resident, v string) error {
			for item := range strings.SplitSeq(v, ";") {
				if item = strings.TrimSpace(item); item != "" {
					*dst(r) = append(*dst(r), item)
				}
			}
			return nil
		}
	}
	number := func(dst func(*devices.Resident) *float64) func(*devices.Resident, string) error {
		return func(r *devices.Resident, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("%q is not a number (use a dot for decimals: 37.5665)", v)
			}
			*dst(r) = f
			return nil
		}
	}
	flag := func(dst func(*devices.Resident) *bool) func(*devices.Resident, string) error {
		return func(r *devices.Resident, v string) error {
			b, err := parseCSVBool(v)
			*dst(r) = b
			return err
		}
	}
	cols := []csvColumn{
		{"id", "id", func(r *devices.Resident, v string) error { r.ID = devices.ResidentID(v); return nil }},
		{"name", "name", text(func(r *devices.Resident) *string { return &r.Name })},
		{"birth_date", "birth_date", text(func(r *devices.Resident) *string { return &r.BirthDate })},
		{"phone", "phone", text(func(r *devices.Resident) *string { return &r.Phone })},
		{"language", "language", text(func(r *devices.Resident) *string { return &r.Language })},
		{"address", "address.line1", text(func(r *devices.Resident) *string { return &r.Address.Line1 })},
		{"building", "address.building", text(func(r *devices.Resident) *string { return &r.Address.Building })},
		{"floor", "address.floor", text(func(r *devices.Resident) *string { return &r.Address.Floor })},
		{"unit", "address.unit", text(func(r *devices.Resident) *string { return &r.Address.Unit })},
		{"district", "address.district", text(func(r *devices.Resident) *string { return &r.Address.District })},
		{"postcode", "address.postcode", text(func(r *devices.Resident) *string { return &r.Address.Postcode })},
		{"lat", "address.lat", number(func(r *devices.Resident) *float64 { return &r.Address.Lat })},
		{"lon", "address.lon", number(func(r *devices.Resident) *float64 { return &r.Address.Lon })},
		{"medical_notes", "medical_notes", text(func(r *devices.Resident) *string { return &r.MedicalNotes })},
		{"medications", "medications", list(func(r *devices.Resident) *[]string { return &r.Medications })},
		{"allergies", "allergies", list(func(r *devices.Resident) *[]string { return &r.Allergies })},
		{"key_holder", "access.key_holder", text(func(r *devices.Resident) *string { return &r.Access.KeyHolder })},
		{"key_safe_code", "access.key_safe_code", text(func(r *devices.Resident) *string { return &r.Access.KeySafeCode })},
		{"door_code", "access.door_code", text(func(r *devices.Resident) *string { return &r.Access.DoorCode })},
		{"access_notes", "access.notes", text(func(r *devices.Resident) *string { return &r.Access.Notes })},
	}
	for slot := range guardianSlots {
		g := func(r *devices.Resident) *devices.Guardian {
			for len(r.Guardians) <= slot {
				r.Guardians = append(r.Guardians, devices.Guardian{})
			}
			return &r.Guardians[slot]
		}
		prefix := "guardian" + strconv.Itoa(slot+1) + "_"
		path := "guardians[" + strconv.Itoa(slot) + "]."
		cols = append(cols,
			csvColumn{prefix + "name", path + "name", func(r *devices.Resident, v string) error { g(r).Name = v; return nil }},
			csvColumn{prefix + "phone", path + "phone", func(r *devices.Resident, v string) error { g(r).Phone = v; return nil }},
			csvColumn{prefix + "relation", path + "relation", func(r *devices.Resident, v string) error { g(r).Relation = v; return nil }},
			csvColumn{prefix + "language", path + "language", func(r *devices.Resident, v string) error { g(r).Language = v; return nil }},
		)
	}
	return append(cols,
		csvColumn{"social_worker_id", "social_worker_id", text(func(r *devices.Resident) *string { return &r.SocialWorkerID })},
		csvColumn{"priority", "priority", flag(func(r *devices.Resident) *bool { return &r.Priority })},
		csvColumn{"consent_share_medical_with_119", "consent.share_medical_with_119",
			flag(func(r *devices.Resident) *bool { return &r.Consent.ShareMedicalWith119 })},
		csvColumn{"consent_notify_guardians", "consent.notify_guardians",
			flag(func(r *devices.Resident) *bool { return &r.Consent.NotifyGuardians })},
		csvColumn{"consent_vital_signs_monitoring", "consent.vital_signs_monitoring",
			flag(func(r *devices.Resident) *bool { return &r.Consent.VitalSignsMonitoring })},
	)
}

// parseCSVBool takes what spreadsheets and people write for yes and no.
func parseCSVBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "1", "true", "yes", "y", "예", "o":
		return true, nil
	case "0", "false", "no", "n", "아니오", "x":
		return false, nil
	}
	return false, fmt.Errorf("%q: write yes or no (also true/false, 1/0, 예/아니오)", v)
}

type importCreated struct {
	Line int                `json:"line"`
	ID   devices.ResidentID `json:"id"`
}

type importError struct {
	Line   int    `json:"line"`
	Column string `json:"column,omitempty"`
	Error  string `json:"error"`
}

type importResult struct {
	DryRun  bool            `json:"dry_run,omitempty"`
	Rows    int             `json:"rows"`
	Created []importCreated `json:"created"`
	Errors  []importError   `json:"errors"`
	// Stopped is set when an internal error (the store failing) ended the
	// import early: rows after the named line were not looked at.
	Stopped string `json:"stopped,omitempty"`
}

type importRow struct {
	line     int
	resident devices.Resident
}

// importResidents creates a resident from every valid row of a CSV body.
// A bad row is reported with its line number and does not stop the others.
// Problems of the file as a whole (size, header) are refused before any row
// is created. Creation is not tied to the request's context: once begun, an
// import runs to the end even if the client disconnects, so the outcome does
// not depend on when it did.
func (a *adminAPI) importResidents(w http.ResponseWriter, r *http.Request) {
	dryRun, err := importParams(r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxImportBytes))
	if err != nil {
		a.fail(w, r, jsonError(err), "")
		return
	}
	rows, result, err := a.parseImport(body)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	result.DryRun = dryRun
	ctx := context.WithoutCancel(r.Context())
	for _, row := range rows {
		if dryRun {
			// Only an id already taken can fail the real run; look it up.
			if id := row.resident.ID; id != "" {
				if _, err := a.reg.GetResident(ctx, id); err == nil {
					result.Errors = append(result.Errors, importError{Line: row.line, Column: "id", Error: residentLabel(id) + " already exists"})
					continue
				}
			}
			result.Created = append(result.Created, importCreated{Line: row.line, ID: row.resident.ID})
			continue
		}
		res := row.resident
		err := a.reg.CreateResident(ctx, &res)
		var conflict interface{ Conflict() bool }
		var invalid interface{ Invalid() bool }
		switch {
		case err == nil:
			result.Created = append(result.Created, importCreated{Line: row.line, ID: res.ID})
		case errors.As(err, &conflict) && conflict.Conflict(), errors.As(err, &invalid) && invalid.Invalid():
			result.Errors = append(result.Errors, importError{Line: row.line, Error: err.Error()})
		default:
			a.log.Error().Err(err).Int("line", row.line).Msg("resident import stopped")
			result.Errors = append(result.Errors, importError{Line: row.line, Error: "internal error (logged on the server)"})
			result.Stopped = fmt.Sprintf("internal error at line %d: rows after it were not imported", row.line)
		}
		if result.Stopped != "" {
			break
		}
	}
	sortImportErrors(result.Errors)
	a.log.Info().Int("rows", result.Rows).Int("created", len(result.Created)).Int("rejected", len(result.Errors)).
		Bool("dry_run", dryRun).Msg("residents imported")
	writeJSON(w, http.StatusOK, result)
}

func importParams(r *http.Request) (dryRun bool, err error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		switch {
		case err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain"):
			return false, &apiError{status: http.StatusUnsupportedMediaType,
				Msg: fmt.Sprintf("Content-Type %q: send the file as text/csv (curl: -H 'Content-Type: text/csv' --data-binary @residents.csv)", ct)}
		case params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8"):
			return false, &apiError{status: http.StatusUnsupportedMediaType,
				Msg: fmt.Sprintf("charset %q: the file must be UTF-8 (in Excel: save as \"CSV UTF-8\")", params["charset"])}
		}
	}
	q := r.URL.Query()
	for name := range q {
		if name != "dry_run" {
			return false, badRequest(name, "unknown query parameter %q; this route takes: dry_run", name)
		}
	}
	if s := q.Get("dry_run"); s != "" {
		if dryRun, err = strconv.ParseBool(s); err != nil {
			return false, badRequest("dry_run", "%q: true or false", s)
		}
	}
	return dryRun, nil
}

// parseImport reads and validates every row. It fails as a whole only for
// problems no row can be blamed for.
func (a *adminAPI) parseImport(body []byte) ([]importRow, importResult, error) {
	result := importResult{Created: []importCreated{}, Errors: []importError{}}
	body = bytes.TrimPrefix(body, []byte("\ufeff")) // Excel's "CSV UTF-8" starts with a byte-order mark
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1 // a short row is that row's error, said in our words
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, result, badRequest("", "the file is empty: a header row naming the columns is required (see docs/api.md)")
	}
	if err != nil {
		return nil, result, badRequest("", "header row: %v", err)
	}
	cols, err := importHeader(header)
	if err != nil {
		return nil, result, err
	}
	var rows []importRow
	idLines := make(map[devices.ResidentID]int) // explicit id -> its first line
	now := a.cfg.Now()
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var parseErr *csv.ParseError
		if errors.As(err, &parseErr) {
			result.Rows++
			result.Errors = append(result.Errors, importError{Line: parseErr.StartLine, Error: "CSV syntax: " + parseErr.Err.Error()})
			continue
		}
		if err != nil {
			return nil, result, err
		}
		result.Rows++
		if result.Rows > a.cfg.MaxImportRows {
			return nil, result, &apiError{status: http.StatusRequestEntityTooLarge,
				Msg: fmt.Sprintf("more than %d rows: split the file", a.cfg.MaxImportRows)}
		}
		line, _ := cr.FieldPos(0)
		res, ierr := importRecord(rec, cols, now)
		if ierr == nil && res.ID != "" {
			if first, dup := idLines[res.ID]; dup {
				ierr = &importError{Column: "id", Error: fmt.Sprintf("id %q is already used on line %d", res.ID, first)}
			} else {
				idLines[res.ID] = line
			}
		}
		if ierr != nil {
			ierr.Line = line
			result.Errors = append(result.Errors, *ierr)
			continue
		}
		rows = append(rows, importRow{line: line, resident: res})
	}
	return rows, result, nil
}

// importHeader maps each header cell to its column. Unknown and repeated
// names refuse the whole file: a misspelt column would otherwise drop its
// data from every row without a word.
func importHeader(header []string) ([]*csvColumn, error) {
	cols := make([]*csvColumn, len(header))
	seen := make(map[string]bool, len(header))
	for i, cell := range header {
		name := strings.ToLower(strings.TrimSpace(cell))
		if seen[name] {
			return nil, badRequest("", "header: column %q appears twice", name)
		}
		seen[name] = true
		for j := range importColumns {
			if importColumns[j].name == name {
				cols[i] = &importColumns[j]
			}
		}
		if cols[i] == nil {
			return nil, badRequest("", "header: unknown column %q (column %d); the columns are: %s",
				cell, i+1, strings.Join(ImportColumns(), ", "))
		}
	}
	if !seen["name"] {
		return nil, badRequest("", "header: the column \"name\" is required")
	}
	return cols, nil
}

// importRecord turns one CSV record into a validated resident.
func importRecord(rec []string, cols []*csvColumn, now time.Time) (devices.Resident, *importError) {
	if len(rec) != len(cols) {
		return devices.Resident{}, &importError{Error: fmt.Sprintf("%d fields, the header has %d", len(rec), len(cols))}
	}
	var res devices.Resident
	for i, v := range rec {
		if !utf8.ValidString(v) {
			return res, &importError{Column: cols[i].name,
				Error: "not valid UTF-8: save the file as \"CSV UTF-8\" (EUC-KR/CP949 files are not read)"}
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if err := cols[i].set(&res, v); err != nil {
			return res, &importError{Column: cols[i].name, Error: err.Error()}
		}
	}
	for i, g := range res.Guardians {
		if g == (devices.Guardian{}) {
			return res, &importError{Column: "guardian" + strconv.Itoa(i+1) + "_name",
				Error: fmt.Sprintf("guardian%d is empty but a later guardian is given; fill the guardians in order", i+1)}
		}
	}
	if err := prepareNewResident(&res, now); err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return res, &importError{Column: columnOf(ae.Field), Error: ae.Msg}
		}
		return res, &importError{Error: err.Error()}
	}
	return res, nil
}

// columnOf maps a validator's JSON path to the CSV column holding it.
func columnOf(field string) string {
	for _, c := range importColumns {
		if c.field == field {
			return c.name
		}
	}
	if strings.HasPrefix(field, "medications[") {
		return "medications"
	}
	if strings.HasPrefix(field, "allergies[") {
		return "allergies"
	}
	return field
}

// sortImportErrors orders errors by line: syntax errors are found while
// reading, store conflicts afterwards.
func sortImportErrors(errs []importError) {
	slices.SortStableFunc(errs, func(a, b importError) int { return a.Line - b.Line })
}
