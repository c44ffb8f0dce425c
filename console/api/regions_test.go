package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/dolbom/dolbom/devices"
)

// A resident's district comes from the address; an unknown district, or an
// address whose 시도 or 시군구 cannot be read, is refused with the valid
// choices; a new address brings its own district.
func TestResidentDistrict(t *testing.T) {
	e := newTestEnv(t)
	alice := createResident(t, e, aliceJSON)
	if alice.DistrictCode != "11110" {
		t.Errorf("district %q, want 11110 (서울특별시 종로구) from the address", alice.DistrictCode)
	}
	for _, tc := range []struct{ name, body, field, want string }{
		{"unknown 시군구", `{"name": "박민수", "address": {"line1": "부산광역시 없는구 어딘가로 1"}}`, "address.line1", "해운대구 (26350)"},
		{"unknown 시도", `{"name": "박민수", "address": {"line1": "Busan Haeundae-gu"}}`, "address.line1", "부산광역시 (26)"},
		{"unknown code", `{"name": "박민수", "district_code": "26999"}`, "district_code", "부산광역시의 시군구: 중구 (26110)"},
		{"a 시도 is not a 시군구", `{"name": "박민수", "district_code": "26"}`, "district_code", "해운대구 (26350)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := decode[errorBody](t, e.must(t, http.StatusBadRequest, "POST", "/api/v1/residents", tc.body))
			if got.Field != tc.field || !strings.Contains(got.Error, tc.want) || !strings.Contains(got.Error, "알 수 없습니다") {
				t.Errorf("refusal %+v: want field %s, Korean first, and the choices (%q)", got, tc.field, tc.want)
			}
		})
	}
	bob := createResident(t, e, `{"name": "박민수", "district_code": "26350"}`)
	if bob.DistrictCode != "26350" {
		t.Errorf("given district %q, want 26350 kept", bob.DistrictCode)
	}
	noAddress := createResident(t, e, `{"name": "최순자"}`)
	if noAddress.DistrictCode != "" {
		t.Errorf("a resident without an address got district %q", noAddress.DistrictCode)
	}

	// Moving: the new address alone; the district follows it.
	moved := decode[devices.Resident](t, e.must(t, http.StatusOK, "PATCH", "/api/v1/residents/"+string(alice.ID),
		`{"address": {"line1": "부산광역시 해운대구 해운대로 1"}}`))
	if moved.DistrictCode != "26350" {
		t.Errorf("after the move the district is %q, want 26350 (부산광역시 해운대구)", moved.DistrictCode)
	}
	// A district set by hand stays while the address does not change.
	kept := decode[devices.Resident](t, e.must(t, http.StatusOK, "PATCH", "/api/v1/residents/"+string(alice.ID),
		`{"district_code": "26110", "phone": "010-2222-3333"}`))
	if kept.DistrictCode != "26110" {
		t.Errorf("district %q, want 26110 as given", kept.DistrictCode)
	}
}

// The CSV import derives the district per row and names the column of a
// row it cannot place.
func TestImportDistricts(t *testing.T) {
	e := newTestEnv(t)
	csv := "name,address,district_code\n김영희,서울 종로구 세종대로 175,\n박민수,부산광역시 없는구 1,\n최순자,,26350\n"
	got := decode[importAnswer](t, e.importCSV(t, "", csv))
	if len(got.Created) != 2 || len(got.Errors) != 1 {
		t.Fatalf("import: %d created, errors %+v; want 2 created and line 3 refused", len(got.Created), got.Errors)
	}
	if er := got.Errors[0]; er.Line != 3 || er.Column != "address" || !strings.Contains(er.Error, "해운대구 (26350)") {
		t.Errorf("line 3's error %+v: want column address and the choices", er)
	}
	for _, c := range got.Created {
		r, err := e.reg.GetResident(context.Background(), c.ID)
		if want := map[int]string{2: "11110", 4: "26350"}[c.Line]; err != nil || r.DistrictCode != want {
			t.Errorf("line %d: district %q, %v; want %s", c.Line, r.DistrictCode, err, want)
		}
	}
}
