package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

type importAnswer struct {
	DryRun  bool `json:"dry_run"`
	Rows    int  `json:"rows"`
	Created []struct {
		Line int                `json:"line"`
		ID   devices.ResidentID `json:"id"`
	} `json:"created"`
	Errors []struct {
		Line   int    `json:"line"`
		Column string `json:"column"`
		Error  string `json:"error"`
	} `json:"errors"`
	Stopped string `json:"stopped"`
}

func (e *testEnv) importCSV(t testing.TB, query, csv string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/api/v1/import/residents"+query, strings.NewReader(csv))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "text/csv; charset=utf-8")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// mixedCSV has good and bad rows; the comment after each line is its line
// number and what the import must say about it.
var mixedCSV = strings.Join([]string{
	"\ufeffid,name,birth_date,phone,address,floor,lat,lon,medications,guardian1_name,guardian1_phone,guardian1_relation,guardian2_name,guardian2_phone,priority,consent_notify_guardians,medical_notes", // 1 header, with Excel's BOM
	`,김영희,1941-03-05,010-1234-5678,서울 종로구 세종대로 175,3,37.57,126.97,amlodipine 5mg; metformin,이철수,010-9876-5432,son,,,yes,예,`,                                                                             // 2 good
	`,박민수,1950-01-01,12345,,,,,,,,,,,no,no,`,                           // 3 bad phone
	`,최순자,1938-12-31,+82 10 5555 6666,,,,,,,,,,,,,"당뇨` + "\n" + `고혈압"`, // 4-5 good, a note over two lines
	`,too,few`,                          // 6 wrong field count
	`,정"숙,1940-01-01,,,,,,,,,,,,,,`,     // 7 bare quote
	``,                                  // 8 blank: skipped
	`r-dup,한명,1945-05-05,,,,,,,,,,,,,,`, // 9 good
	`r-dup,두명,1945-05-05,,,,,,,,,,,,,,`, // 10 duplicate id: conflict
	`,미래,2031-01-01,,,,,,,,,,,,,,`,      // 11 birth date in the future
	`,위도,,,,,95,127,,,,,,,,,`,           // 12 lat out of range
	`,보호자,,,,,,,,,,,김보호,010-1111-2222,,,`,                 // 13 guardian2 without guardian1
	`,참거짓,,,,,,,,,,,,,maybe,,`,                            // 14 bad boolean
	`,,1940-01-01,,,,,,,,,,,,,,`,                          // 15 no name
	`,Lee Young,1939-07-07,02-123-4567,,,,,,,,,,,true,1,`, // 16 good, landline
}, "\n") + "\n"

func TestImportMixedRows(t *testing.T) {
	e := newTestEnv(t)
	rec := e.importCSV(t, "", mixedCSV)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	got := decode[importAnswer](t, rec)

	var createdLines []int
	for _, c := range got.Created {
		createdLines = append(createdLines, c.Line)
		if c.ID == "" {
			t.Errorf("line %d created without an id", c.Line)
		}
	}
	if want := []int{2, 4, 9, 16}; !slices.Equal(createdLines, want) {
		t.Errorf("created lines %v, want %v", createdLines, want)
	}
	wantErrors := []struct {
		line   int
		column string
		text   string
	}{
		{3, "phone", "12345"},
		{6, "", "3 fields, the header has 17"},
		{7, "", "bare"},
		{10, "id", "already used on line 9"},
		{11, "birth_date", "future"},
		{12, "lat", "-90..90"},
		{13, "guardian1_name", "in order"},
		{14, "priority", "yes or no"},
		{15, "name", "required"},
	}
	if len(got.Errors) != len(wantErrors) {
		t.Fatalf("errors %+v, want %d", got.Errors, len(wantErrors))
	}
	for i, w := range wantErrors {
		g := got.Errors[i]
		if g.Line != w.line || g.Column != w.column || !strings.Contains(g.Error, w.text) {
			t.Errorf("error %d = %+v; want line %d column %q containing %q", i, g, w.line, w.column, w.text)
		}
	}
	if got.Rows != 13 {
		t.Errorf("rows = %d, want 13 (a note over two lines is one row; blank line skipped)", got.Rows)
	}

	r, err := e.reg.GetResident(t.Context(), "r-dup")
	if err != nil || r.Name != "한명" {
		t.Errorf("r-dup = %+v, %v; the first row with the id should win", r, err)
	}
	first, _ := e.reg.GetResident(t.Context(), got.Created[0].ID)
	if first.Name != "김영희" || first.Phone != "+821012345678" || !slices.Equal(first.Medications, []string{"amlodipine 5mg", "metformin"}) ||
		len(first.Guardians) != 1 || first.Guardians[0].Phone != "+821098765432" || !first.Priority || !first.Consent.NotifyGuardians ||
		first.Address.Floor != "3" || first.Address.Lat != 37.57 {
		t.Errorf("line 2 stored as %+v", first)
	}
	notes, _ := e.reg.GetResident(t.Context(), got.Created[1].ID)
	if notes.MedicalNotes != "당뇨\n고혈압" {
		t.Errorf("multi-line note stored as %q", notes.MedicalNotes)
	}
	landline, _ := e.reg.GetResident(t.Context(), got.Created[3].ID)
	if landline.Phone != "+8221234567" {
		t.Errorf("landline stored as %q", landline.Phone)
	}
}

func TestImportDryRun(t *testing.T) {
	e := newTestEnv(t)
	got := decode[importAnswer](t, e.importCSV(t, "?dry_run=true", mixedCSV))
	if !got.DryRun || len(got.Created) != 4 || len(got.Errors) != 9 {
		t.Fatalf("dry run answer: %+v", got)
	}
	list := decode[struct{ Items []any }](t, e.must(t, 200, "GET", "/api/v1/residents", ""))
	if len(list.Items) != 0 {
		t.Fatalf("dry run created %d residents", len(list.Items))
	}
}

func TestImportRefusesTheFile(t *testing.T) {
	tests := []struct {
		name, contentType, query, body string
		status                         int
		text                           string
	}{
		{"empty", "text/csv", "", "", 400, "header row"},
		{"unknown column", "text/csv", "", "name,phone_number\na,010-1234-5678\n", 400, `"phone_number"`},
		{"no name column", "text/csv", "", "phone\n010-1234-5678\n", 400, `"name"`},
		{"repeated column", "text/csv", "", "name,name\na,b\n", 400, "twice"},
		{"form content type", "application/x-www-form-urlencoded", "", "name\na\n", 415, "text/csv"},
		{"euc-kr", "text/csv; charset=euc-kr", "", "name\na\n", 415, "UTF-8"},
		{"unknown parameter", "text/csv", "?dryrun=1", "name\na\n", 400, "dry_run"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			req := httptest.NewRequest("POST", "/api/v1/import/residents"+tc.query, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", tc.contentType)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if eb := decode[errorBody](t, rec); !strings.Contains(eb.Error, tc.text) {
				t.Errorf("error %q does not contain %q", eb.Error, tc.text)
			}
		})
	}
}

func TestImportInvalidUTF8Row(t *testing.T) {
	e := newTestEnv(t)
	// "김" in EUC-KR is 0xB1 0xE8: not UTF-8.
	got := decode[importAnswer](t, e.importCSV(t, "", "name,phone\n\xb1\xe8,\nok,\n"))
	if len(got.Errors) != 1 || got.Errors[0].Line != 2 || !strings.Contains(got.Errors[0].Error, "UTF-8") || len(got.Created) != 1 {
		t.Fatalf("answer %+v", got)
	}
}

func TestImportThousandsOfRows(t *testing.T) {
	e := newTestEnv(t)
	var b strings.Builder
	b.WriteString("name,phone,birth_date,guardian1_name,guardian1_phone\n")
	const rows = 5000
	for i := range rows {
		phone := fmt.Sprintf("010-%04d-%04d", i/10000, i%10000)
		if i%1000 == 999 {
			phone = "bad"
		}
		fmt.Fprintf(&b, "주민 %d,%s,1940-01-01,보호자 %d,010-9999-%04d\n", i, phone, i, i%10000)
	}
	rec := e.importCSV(t, "", b.String())
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %.300s", rec.Code, rec.Body)
	}
	got := decode[importAnswer](t, rec)
	if len(got.Created) != rows-5 || len(got.Errors) != 5 {
		t.Fatalf("created %d, errors %d", len(got.Created), len(got.Errors))
	}
	for i, er := range got.Errors {
		if want := 1000*(i+1) + 1; er.Line != want || er.Column != "phone" {
			t.Errorf("error %d at line %d column %q, want line %d phone", i, er.Line, er.Column, want)
		}
	}
}

func TestImportExistingID(t *testing.T) {
	e := newTestEnv(t)
	createResident(t, e, `{"id": "r-7", "name": "기존"}`)
	csv := "id,name\nr-7,새로운\nr-8,다른\n"
	for _, query := range []string{"?dry_run=true", ""} {
		got := decode[importAnswer](t, e.importCSV(t, query, csv))
		if len(got.Errors) != 1 || got.Errors[0].Line != 2 || !strings.Contains(got.Errors[0].Error, "already exists") ||
			len(got.Created) != 1 || got.Created[0].ID != "r-8" {
			t.Errorf("import%s: %+v", query, got)
		}
	}
	if r, _ := e.reg.GetResident(t.Context(), "r-7"); r.Name != "기존" {
		t.Errorf("import overwrote r-7: %+v", r)
	}
}

func TestImportStopsOnStoreFailure(t *testing.T) {
	e := newTestEnv(t)
	e.reg.FailNext(fmt.Errorf("store: database is locked"))
	got := decode[importAnswer](t, e.importCSV(t, "", "name\na\nb\n"))
	if got.Stopped == "" || len(got.Created) != 0 || len(got.Errors) != 1 || got.Errors[0].Line != 2 {
		t.Fatalf("answer %+v", got)
	}
	if strings.Contains(got.Errors[0].Error, "locked") {
		t.Errorf("internal error leaked: %q", got.Errors[0].Error)
	}
}

// TestImportDocumentedExample keeps the example in docs/api.md importable.
func TestImportDocumentedExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```csv\n")
	if !ok {
		t.Fatal("docs/api.md has no ```csv example")
	}
	block, _, _ = strings.Cut(block, "```")
	e := newTestEnv(t)
	got := decode[importAnswer](t, e.importCSV(t, "", block))
	if len(got.Errors) != 0 || len(got.Created) != 2 {
		t.Fatalf("documented example: %+v", got)
	}
	r, _ := e.reg.GetResident(t.Context(), "r-1002")
	if r.Address.Line1 != "부산광역시 해운대구 해운대로 1, 101동" || r.Phone != "+8221234567" {
		t.Errorf("r-1002 stored as %+v", r)
	}
}

// BenchmarkImportResidents measures parsing, validating and answering an
// import (the in-memory registry costs next to nothing; a real store's
// writes come on top).
func BenchmarkImportResidents(b *testing.B) {
	for _, rows := range []int{1000, 10000} {
		var sb strings.Builder
		sb.WriteString("name,phone,birth_date,address,lat,lon,medications,guardian1_name,guardian1_phone\n")
		for i := range rows {
			fmt.Fprintf(&sb, "주민 %d,010-%04d-%04d,1940-01-01,서울특별시 종로구 세종대로 %d,37.57,126.97,a; b,보호자,010-9999-0000\n", i, i/10000, i%10000, i)
		}
		csv := sb.String()
		b.Run(fmt.Sprintf("rows=%d", rows), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(csv)))
			for b.Loop() {
				e := newTestEnv(b)
				if rec := e.importCSV(b, "", csv); rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

type importUpdateAnswer struct {
	importAnswer
	Update  bool `json:"update"`
	Counts  struct{ Created, Updated, Refused int }
	Updated []struct {
		Line int                `json:"line"`
		ID   devices.ResidentID `json:"id"`
	} `json:"updated"`
}

// TestImportUpdate: a re-import reports existing ids as conflicts, row by
// row; with update=true it updates them, changing only the file's columns.
func TestImportUpdate(t *testing.T) {
	e := newTestEnv(t)
	first := "id,name,phone,unit,door_code,guardian1_name,guardian1_phone\n" +
		"r-1,김영희,010-1234-5678,301,4471,이철수,010-9876-5432\n" +
		"r-2,박민수,010-2222-3333,,,,\n"
	got := decode[importUpdateAnswer](t, e.importCSV(t, "", first))
	if got.Counts.Created != 2 || got.Counts.Updated != 0 || got.Counts.Refused != 0 {
		t.Fatalf("first import: %+v", got)
	}
	// The agency's second file: a new unit for r-1, a new resident r-3, and
	// a typo in r-2's phone. No door code column: r-1's code must stay.
	second := "id,name,phone,unit\n" +
		"r-1,김영희,010-1234-5678,1502호\n" +
		"r-2,박민수,010-2222,\n" +
		"r-3,최순자,,\n"
	got = decode[importUpdateAnswer](t, e.importCSV(t, "", second))
	if got.Counts.Created != 1 || got.Counts.Updated != 0 || got.Counts.Refused != 2 {
		t.Fatalf("re-import without update: %+v", got)
	}
	if got.Errors[0].Line != 2 || got.Errors[0].Column != "id" || !strings.Contains(got.Errors[0].Error, "update") {
		t.Errorf("conflict row: %+v", got.Errors[0])
	}
	if r1, _ := e.reg.GetResident(t.Context(), "r-1"); r1.Address.Unit != "301" {
		t.Errorf("r-1 changed without update: %+v", r1.Address)
	}

	got = decode[importUpdateAnswer](t, e.importCSV(t, "?update=true&dry_run=true", second))
	// r-3 exists since the run before: updated too.
	if !got.Update || !got.DryRun || got.Counts.Updated != 2 || got.Counts.Refused != 1 || got.Counts.Created != 0 {
		t.Fatalf("dry run with update: %+v", got)
	}
	if r1, _ := e.reg.GetResident(t.Context(), "r-1"); r1.Address.Unit != "301" {
		t.Errorf("dry run changed r-1: %+v", r1.Address)
	}

	got = decode[importUpdateAnswer](t, e.importCSV(t, "?update=true", second))
	if got.Counts.Created != 0 || got.Counts.Updated != 2 || got.Counts.Refused != 1 ||
		got.Updated[0].Line != 2 || got.Updated[0].ID != "r-1" || got.Errors[0].Line != 3 || got.Errors[0].Column != "phone" {
		t.Fatalf("re-import with update: %+v", got)
	}
	r1, _ := e.reg.GetResident(t.Context(), "r-1")
	if r1.Address.Unit != "1502호" || r1.Access.DoorCode != "4471" || len(r1.Guardians) != 1 || r1.Phone != "+821012345678" {
		t.Errorf("r-1 after update: %+v", r1)
	}
	if r2, _ := e.reg.GetResident(t.Context(), "r-2"); r2.Phone != "+821022223333" {
		t.Errorf("refused row changed r-2: %q", r2.Phone)
	}
}

// TestSocialWorkerMustExist: a typo in a social worker's id is refused by
// the API and the import, instead of leaving the resident on no caseload.
func TestSocialWorkerMustExist(t *testing.T) {
	e := newTestEnv(t)
	e.reg.AddAccount(console.Account{ID: "disp-1", Name: "상황실", Role: console.RoleDispatcher})
	e.reg.AddAccount(console.Account{ID: "sw-old", Name: "퇴직", Role: console.RoleSocialWorker, Disabled: true})
	for id, text := range map[string]string{"sw-77": `no account "sw-77"`, "disp-1": "not a social worker", "sw-old": "disabled"} {
		rec := e.do(t, "POST", "/api/v1/residents", `{"name": "김영희", "social_worker_id": "`+id+`"}`)
		if eb := decode[errorBody](t, rec); rec.Code != 400 || eb.Field != "social_worker_id" || !strings.Contains(eb.Error, text) {
			t.Errorf("create with %s: %d %+v", id, rec.Code, eb)
		}
	}
	res := createResident(t, e, `{"name": "김영희", "social_worker_id": "sw-7"}`)
	rec := e.do(t, "PATCH", "/api/v1/residents/"+string(res.ID), `{"social_worker_id": "sw-8"}`)
	if eb := decode[errorBody](t, rec); rec.Code != 400 || eb.Field != "social_worker_id" {
		t.Errorf("update to sw-8: %d %+v", rec.Code, eb)
	}
	// Disabling a worker's account later does not block editing the rest.
	e.reg.AddAccount(console.Account{ID: "sw-7", Role: console.RoleSocialWorker, Disabled: true})
	e.must(t, 200, "PATCH", "/api/v1/residents/"+string(res.ID), `{"phone": "010-1234-5678"}`)

	got := decode[importUpdateAnswer](t, e.importCSV(t, "", "name,social_worker_id\n김영희,sw-9\n박민수,sw-99\n최순자,sw-99\n"))
	if got.Counts.Created != 1 || got.Counts.Refused != 2 || got.Errors[0].Column != "social_worker_id" || got.Errors[1].Line != 4 {
		t.Fatalf("import: %+v", got)
	}
}
