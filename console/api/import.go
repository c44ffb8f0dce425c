package api

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
	// copy moves this column's field from a row to a stored resident: a
	// re-import with update changes only the columns the file has.
	copy func(dst, src *devices.Resident)
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

// column builds a column whose cell parse turns into the field acc points
// at.
func column[T any](name, field string, acc func(*devices.Resident) *T, parse func(string) (T, error)) csvColumn {
	return csvColumn{name: name, field: field,
		set: func(r *devices.Resident, v string) error {
			x, err := parse(v)
			*acc(r) = x
			return err
		},
		copy: func(dst, src *devices.Resident) { *acc(dst) = *acc(src) },
	}
}

func buildImportColumns() []csvColumn {
	text := func(v string) (string, error) { return v, nil }
	list := func(v string) ([]string, error) {
		var out []string
		for item := range strings.SplitSeq(v, ";") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		return out, nil
	}
	number := func(v string) (float64, error) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number (use a dot for decimals: 37.5665)", v)
		}
		return f, nil
	}
	type R = devices.Resident
	cols := []csvColumn{
		column("id", "id", func(r *R) *devices.ResidentID { return &r.ID }, func(v string) (devices.ResidentID, error) { return devices.ResidentID(v), nil }),
		column("name", "name", func(r *R) *string { return &r.Name }, text),
		column("birth_date", "birth_date", func(r *R) *string { return &r.BirthDate }, text),
		column("phone", "phone", func(r *R) *string { return &r.Phone }, text),
		column("language", "language", func(r *R) *string { return &r.Language }, text),
		column("address", "address.line1", func(r *R) *string { return &r.Address.Line1 }, text),
		column("building", "address.building", func(r *R) *string { return &r.Address.Building }, text),
		column("floor", "address.floor", func(r *R) *string { return &r.Address.Floor }, text),
		column("unit", "address.unit", func(r *R) *string { return &r.Address.Unit }, text),
		column("district", "address.district", func(r *R) *string { return &r.Address.District }, text),
		column("district_code", "district_code", func(r *R) *string { return &r.DistrictCode }, text),
		column("postcode", "address.postcode", func(r *R) *string { return &r.Address.Postcode }, text),
		column("lat", "address.lat", func(r *R) *float64 { return &r.Address.Lat }, number),
		column("lon", "address.lon", func(r *R) *float64 { return &r.Address.Lon }, number),
		column("medical_notes", "medical_notes", func(r *R) *string { return &r.MedicalNotes }, text),
		column("medications", "medications", func(r *R) *[]string { return &r.Medications }, list),
		column("allergies", "allergies", func(r *R) *[]string { return &r.Allergies }, list),
		column("key_holder", "access.key_holder", func(r *R) *string { return &r.Access.KeyHolder }, text),
		column("key_safe_code", "access.key_safe_code", func(r *R) *string { return &r.Access.KeySafeCode }, text),
		column("door_code", "access.door_code", func(r *R) *string { return &r.Access.DoorCode }, text),
		column("access_notes", "access.notes", func(r *R) *string { return &r.Access.Notes }, text),
	}
	for slot := range guardianSlots {
		g := func(r *R) *devices.Guardian {
			for len(r.Guardians) <= slot {
				r.Guardians = append(r.Guardians, devices.Guardian{})
			}
			return &r.Guardians[slot]
		}
		prefix := "guardian" + strconv.Itoa(slot+1) + "_"
		path := "guardians[" + strconv.Itoa(slot) + "]."
		// The guardians of a row replace the stored ones as a whole: a list
		// in order, not cells to merge.
		guardians := func(dst, src *R) { dst.Guardians = slices.Clone(src.Guardians) }
		cols = append(cols,
			csvColumn{prefix + "name", path + "name", func(r *R, v string) error { g(r).Name = v; return nil }, guardians},
			csvColumn{prefix + "phone", path + "phone", func(r *R, v string) error { g(r).Phone = v; return nil }, guardians},
			csvColumn{prefix + "relation", path + "relation", func(r *R, v string) error { g(r).Relation = v; return nil }, guardians},
			csvColumn{prefix + "language", path + "language", func(r *R, v string) error { g(r).Language = v; return nil }, guardians},
		)
	}
	return append(cols,
		column("social_worker_id", "social_worker_id", func(r *R) *string { return &r.SocialWorkerID }, text),
		column("priority", "priority", func(r *R) *bool { return &r.Priority }, parseCSVBool),
		column("consent_share_medical_with_119", "consent.share_medical_with_119", func(r *R) *bool { return &r.Consent.ShareMedicalWith119 }, parseCSVBool),
		column("consent_notify_guardians", "consent.notify_guardians", func(r *R) *bool { return &r.Consent.NotifyGuardians }, parseCSVBool),
		column("consent_vital_signs_monitoring", "consent.vital_signs_monitoring", func(r *R) *bool { return &r.Consent.VitalSignsMonitoring }, parseCSVBool),
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

// importCounts sums up an import: every row read is in exactly one of them
// (a row that failed while the import stopped counts as refused).
type importCounts struct {
	Created int `json:"created"`
	Updated int `json:"updated"`
	Refused int `json:"refused"`
}

type importResult struct {
	DryRun  bool            `json:"dry_run,omitempty"`
	Update  bool            `json:"update,omitempty"`
	Rows    int             `json:"rows"`
	Counts  importCounts    `json:"counts"`
	Created []importCreated `json:"created"`
	Updated []importCreated `json:"updated"`
	Errors  []importError   `json:"errors"`
	// Stopped is set when an internal error (the store failing) ended the
	// import early: rows after the named line were not looked at.
	Stopped string `json:"stopped,omitempty"`
}

type importRow struct {
	line     int
	resident devices.Resident
}

// importOptions are the query of an import: dry_run checks and changes
// nothing; update updates the stored resident of a row whose id exists
// (otherwise such a row is refused as a conflict).
type importOptions struct {
	dryRun, update bool
}

// importResidents creates a resident from every valid row of a CSV body,
// and with update=true updates the residents whose id exists (only the
// columns the file has). A bad row is reported with its line number and
// does not stop the others. Problems of the file as a whole (size, header)
// are refused before any row is created. Writing is not tied to the
// request's context: once begun, an import runs to the end even if the
// client disconnects, so the outcome does not depend on when it did.
func (a *adminAPI) importResidents(w http.ResponseWriter, r *http.Request) {
	opts, err := importParams(r)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxImportBytes))
	if err != nil {
		a.fail(w, r, jsonError(err), "")
		return
	}
	rows, cols, result, err := a.parseImport(body)
	if err != nil {
		a.fail(w, r, err, "")
		return
	}
	result.DryRun, result.Update = opts.dryRun, opts.update
	ctx := context.WithoutCancel(r.Context())
	imp := importer{Registrar: a.registrar(r), opts: opts, cols: cols, workers: map[string]error{}}
	for _, row := range rows {
		id, updated, err := imp.row(ctx, row)
		var ae *Error
		switch {
		case err == nil && updated:
			result.Updated = append(result.Updated, importCreated{Line: row.line, ID: id})
		case err == nil:
			result.Created = append(result.Created, importCreated{Line: row.line, ID: id})
		case errors.As(err, &ae):
			result.Errors = append(result.Errors, importError{Line: row.line, Column: columnOf(ae.Field), Error: ae.Msg})
		case errors.Is(err, devices.ErrConflict), errors.Is(err, devices.ErrInvalid):
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
	result.Counts = importCounts{Created: len(result.Created), Updated: len(result.Updated), Refused: len(result.Errors)}
	a.log.Info().Int("rows", result.Rows).Int("created", result.Counts.Created).Int("updated", result.Counts.Updated).
		Int("refused", result.Counts.Refused).Bool("dry_run", opts.dryRun).Bool("update", opts.update).Msg("residents imported")
	WriteJSON(w, http.StatusOK, result)
}

// importer writes the rows of one import.
type importer struct {
	Registrar
	opts importOptions
	cols []*csvColumn
	// workers caches the social worker check per id: a file assigns a few
	// hundred residents to each worker.
	workers map[string]error
}

// row creates or (with update) updates the row's resident and returns its
// id; in a dry run it only checks what the real run could refuse.
func (im *importer) row(ctx context.Context, row importRow) (id devices.ResidentID, updated bool, err error) {
	res := row.resident
	if id := res.SocialWorkerID; id != "" {
		werr, seen := im.workers[id]
		if !seen {
			werr = im.checkSocialWorker(ctx, id)
			var ae *Error
			if werr != nil && !errors.As(werr, &ae) {
				return "", false, werr // the store failed: not the row's fault
			}
			im.workers[id] = werr
		}
		if werr != nil {
			return "", false, werr
		}
	}
	var cur devices.Resident
	exists := false
	if res.ID != "" {
		cur, err = im.reg.GetResident(ctx, res.ID)
		switch {
		case err == nil:
			exists = true
		case !errors.Is(err, devices.ErrNotFound):
			return "", false, err
		}
	}
	switch {
	case exists && !im.opts.update:
		return "", false, &Error{Status: http.StatusConflict, Field: "id",
			Msg: residentLabel(res.ID) + " already exists (import with update=true, dolbomctl import --update, to update it)"}
	case exists:
		next := Editable(cur)
		for _, c := range im.cols {
			c.copy(&next, &res)
		}
		if im.opts.dryRun {
			movedAddress(cur, &next)
			return res.ID, true, validateResident(&next, im.now())
		}
		_, err := im.UpdateResident(ctx, cur, next)
		return res.ID, true, err
	case im.opts.dryRun:
		return res.ID, false, nil // the row was validated as it was read
	}
	err = im.reg.CreateResident(ctx, &res)
	return res.ID, false, err
}

func importParams(r *http.Request) (opts importOptions, err error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, params, err := mime.ParseMediaType(ct)
		switch {
		case err != nil || (mt != "text/csv" && mt != "application/csv" && mt != "text/plain"):
			return opts, &Error{Status: http.StatusUnsupportedMediaType,
				Msg: fmt.Sprintf("Content-Type %q: send the file as text/csv (curl: -H 'Content-Type: text/csv' --data-binary @residents.csv)", ct)}
		case params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8"):
			return opts, &Error{Status: http.StatusUnsupportedMediaType,
				Msg: fmt.Sprintf("charset %q: the file must be UTF-8 (in Excel: save as \"CSV UTF-8\")", params["charset"])}
		}
	}
	q := r.URL.Query()
	for name := range q {
		if name != "dry_run" && name != "update" {
			return opts, BadRequest(name, "unknown query parameter %q; this route takes: dry_run, update", name)
		}
	}
	for name, dst := range map[string]*bool{"dry_run": &opts.dryRun, "update": &opts.update} {
		if s := q.Get(name); s != "" {
			if *dst, err = strconv.ParseBool(s); err != nil {
				return opts, BadRequest(name, "%q: true or false", s)
			}
		}
	}
	return opts, nil
}

// parseImport reads and validates every row. It fails as a whole only for
// problems no row can be blamed for.
func (a *adminAPI) parseImport(body []byte) ([]importRow, []*csvColumn, importResult, error) {
	result := importResult{Created: []importCreated{}, Updated: []importCreated{}, Errors: []importError{}}
	body = bytes.TrimPrefix(body, []byte("\ufeff")) // Excel's "CSV UTF-8" starts with a byte-order mark
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1 // a short row is that row's error, said in our words
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, result, BadRequest("", "the file is empty: a header row naming the columns is required (see docs/api.md)")
	}
	if err != nil {
		return nil, nil, result, BadRequest("", "header row: %v", err)
	}
	cols, err := importHeader(header)
	if err != nil {
		return nil, nil, result, err
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
			return nil, nil, result, err
		}
		result.Rows++
		if result.Rows > a.cfg.MaxImportRows {
			return nil, nil, result, &Error{Status: http.StatusRequestEntityTooLarge,
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
	return rows, cols, result, nil
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
			return nil, BadRequest("", "header: column %q appears twice", name)
		}
		seen[name] = true
		for j := range importColumns {
			if importColumns[j].name == name {
				cols[i] = &importColumns[j]
			}
		}
		if cols[i] == nil {
			return nil, BadRequest("", "header: unknown column %q (column %d); the columns are: %s",
				cell, i+1, strings.Join(ImportColumns(), ", "))
		}
	}
	if !seen["name"] {
		return nil, BadRequest("", "header: the column \"name\" is required")
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
		var ae *Error
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
