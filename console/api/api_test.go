package api_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/console/api"
	"github.com/dolbom/dolbom/console/consoletest"
	"github.com/dolbom/dolbom/devices"
)

const testToken = "test-token-0123456789abcdef"

var testNow = time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)

type testEnv struct {
	h      http.Handler
	reg    *consoletest.Registry
	hubs   *consoletest.Hubs
	health consoletest.Health
	logs   *bytes.Buffer
}

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	e := &testEnv{reg: consoletest.NewRegistry(), hubs: &consoletest.Hubs{}, health: consoletest.Health{}, logs: &bytes.Buffer{}}
	// The social workers residents are assigned to in these tests; any
	// other id is refused (TestSocialWorkerMustExist).
	e.reg.AddSocialWorker("sw-7")
	e.reg.AddSocialWorker("sw-9")
	cfg := api.AdminConfig{Token: testToken, MaxBodyBytes: 4 << 10, Now: func() time.Time { return testNow }}
	e.h = api.NewAdminAPI(cfg, e.reg, e.health, e.hubs, zerolog.New(e.logs))
	return e
}

// do sends a request with the right token; a non-empty body is JSON.
func (e *testEnv) do(t *testing.T, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// must sends a request and fails the test unless the status is want.
func (e *testEnv) must(t *testing.T, want int, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := e.do(t, method, path, body)
	if rec.Code != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, rec.Code, want, rec.Body)
	}
	return rec
}

func decode[T any](t *testing.T, rec *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("decoding %s: %v", rec.Body, err)
	}
	return v
}

type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

const aliceJSON = `{
	"name": "김영희", "birth_date": "1941-03-05", "phone": "010-1234-5678",
	"address": {"line1": "서울특별시 종로구 세종대로 175", "floor": "3", "unit": "301", "lat": 37.5725, "lon": 126.9769},
	"medications": ["amlodipine 5mg"], "allergies": ["penicillin"],
	"access": {"key_holder": "관리사무소 02-123-4567", "key_safe_code": "4711", "door_code": "1234*"},
	"guardians": [{"name": "이철수", "phone": "+82 10 9876 5432", "relation": "son"}],
	"social_worker_id": "sw-7", "consent": {"share_medical_with_119": true}
}`

func createResident(t *testing.T, e *testEnv, body string) devices.Resident {
	t.Helper()
	return decode[devices.Resident](t, e.must(t, http.StatusCreated, "POST", "/api/v1/residents", body))
}

func TestAuth(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no header", "", http.StatusUnauthorized},
		{"basic scheme", "Basic " + testToken, http.StatusUnauthorized},
		{"wrong token", "Bearer wrong-token-0123456789abcdef", http.StatusUnauthorized},
		{"token prefix", "Bearer " + testToken[:10], http.StatusUnauthorized},
		{"token and more", "Bearer " + testToken + "x", http.StatusUnauthorized},
		{"right token", "Bearer " + testToken, http.StatusOK},
		{"scheme case-insensitive", "bearer " + testToken, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v1/status", "/api/v1/residents", "/api/v1/no-such-route"} {
				req := httptest.NewRequest("GET", path, nil)
				if tc.header != "" {
					req.Header.Set("Authorization", tc.header)
				}
				rec := httptest.NewRecorder()
				e.h.ServeHTTP(rec, req)
				want := tc.want
				if want == http.StatusOK && path == "/api/v1/no-such-route" {
					want = http.StatusNotFound
				}
				if rec.Code != want {
					t.Fatalf("GET %s: status %d, want %d (%s)", path, rec.Code, want, rec.Body)
				}
				if want == http.StatusUnauthorized {
					if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
						t.Errorf("WWW-Authenticate = %q", got)
					}
					if eb := decode[errorBody](t, rec); !strings.Contains(eb.Error, "Authorization: Bearer") {
						t.Errorf("error %q does not say how to authenticate", eb.Error)
					}
				}
			}
		})
	}

	t.Run("no token configured", func(t *testing.T) {
		h := api.NewAdminAPI(api.AdminConfig{}, e.reg, e.health, e.hubs, zerolog.Nop())
		req := httptest.NewRequest("GET", "/api/v1/status", nil)
		req.Header.Set("Authorization", "Bearer ")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", rec.Code)
		}
	})
}

func TestStatus(t *testing.T) {
	e := newTestEnv(t)
	e.hubs.ConnectedHubs = 42
	got := decode[map[string]int](t, e.must(t, 200, "GET", "/api/v1/status", ""))
	if got["hubs_connected"] != 42 {
		t.Fatalf("hubs_connected = %d, want 42", got["hubs_connected"])
	}
}

func TestNoRoute(t *testing.T) {
	e := newTestEnv(t)
	rec := e.must(t, http.StatusNotFound, "GET", "/api/v1/residentz", "")
	if eb := decode[errorBody](t, rec); !strings.Contains(eb.Error, "no such route") {
		t.Errorf("404 error = %q", eb.Error)
	}
	rec = e.must(t, http.StatusMethodNotAllowed, "DELETE", "/api/v1/residents/r-1", "")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "PATCH") || !strings.Contains(allow, "GET") {
		t.Errorf("Allow = %q", allow)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("405 Content-Type = %q, want JSON", ct)
	}
}

func TestResidentLifecycle(t *testing.T) {
	e := newTestEnv(t)
	alice := createResident(t, e, aliceJSON)
	if alice.ID == "" {
		t.Fatal("created resident has no id")
	}
	if alice.Phone != "+821012345678" || alice.Guardians[0].Phone != "+821098765432" {
		t.Errorf("phones not normalised to E.164: %q, %q", alice.Phone, alice.Guardians[0].Phone)
	}
	if alice.Language != "ko" || alice.Guardians[0].Language != "ko" || alice.Guardians[0].Order != 1 {
		t.Errorf("defaults not applied: language %q, guardian %+v", alice.Language, alice.Guardians[0])
	}
	if alice.Access.KeySafeCode != "****" || alice.Access.DoorCode != "****" {
		t.Errorf("create answer shows access codes: %+v", alice.Access)
	}
	if !alice.CreatedAt.Equal(testNow) {
		t.Errorf("created_at = %v, want %v", alice.CreatedAt, testNow)
	}
	path := "/api/v1/residents/" + string(alice.ID)

	got := decode[devices.Resident](t, e.must(t, 200, "GET", path, ""))
	if got.Access.KeySafeCode != "****" || got.Access.DoorCode != "****" || got.Name != "김영희" {
		t.Errorf("GET without reveal: %+v", got)
	}
	if strings.Contains(e.logs.String(), "4711") {
		t.Fatal("a log line holds the key safe code")
	}

	got = decode[devices.Resident](t, e.must(t, 200, "GET", path+"?reveal=access", ""))
	if got.Access.KeySafeCode != "4711" || got.Access.DoorCode != "1234*" {
		t.Errorf("GET ?reveal=access: %+v", got.Access)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "access codes revealed") || !strings.Contains(logs, string(alice.ID)) {
		t.Errorf("reveal not logged with the resident id: %s", logs)
	}
	if strings.Contains(e.logs.String(), "4711") {
		t.Fatal("the reveal log holds the key safe code")
	}
	e.must(t, 400, "GET", path+"?reveal=everything", "")

	// PATCH changes what it names and keeps the rest; the mask keeps codes.
	got = decode[devices.Resident](t, e.must(t, 200, "PATCH", path, `{"name": "김영희 (Kim)", "access": {"key_safe_code": "****", "door_code": "9999"}}`))
	if got.Name != "김영희 (Kim)" || got.Address.Unit != "301" || len(got.Guardians) != 1 {
		t.Errorf("PATCH result: %+v", got)
	}
	stored, _ := e.reg.GetResident(t.Context(), alice.ID)
	if stored.Access.KeySafeCode != "4711" || stored.Access.DoorCode != "9999" || stored.Access.KeyHolder == "" {
		t.Errorf("stored access after PATCH: %+v", stored.Access)
	}

	// PUT of what GET returned round-trips (masked codes, timestamps, id).
	roundTrip := e.must(t, 200, "GET", path, "").Body.String()
	e.must(t, 200, "PUT", path, roundTrip)
	if again, _ := e.reg.GetResident(t.Context(), alice.ID); again.Access.KeySafeCode != "4711" || again.Medications[0] != "amlodipine 5mg" {
		t.Errorf("PUT round trip changed the record: %+v", again)
	}
	// PUT clears what it leaves out.
	got = decode[devices.Resident](t, e.must(t, 200, "PUT", path, `{"name": "김영희"}`))
	if got.Phone != "" || len(got.Guardians) != 0 || got.Access.KeySafeCode != "" {
		t.Errorf("PUT kept fields it did not send: %+v", got)
	}

	for _, body := range []string{`{"id": "other"}`, `{"disabled": true}`} {
		rec := e.must(t, 400, "PATCH", path, body)
		t.Logf("PATCH %s -> %s", body, rec.Body)
	}

	bob := createResident(t, e, `{"name": "박민수", "social_worker_id": "sw-9"}`)
	list := decode[struct{ Items []devices.Resident }](t, e.must(t, 200, "GET", "/api/v1/residents", ""))
	if len(list.Items) != 2 {
		t.Fatalf("list has %d residents, want 2", len(list.Items))
	}
	list = decode[struct{ Items []devices.Resident }](t, e.must(t, 200, "GET", "/api/v1/residents?social_worker=sw-9", ""))
	if len(list.Items) != 1 || list.Items[0].ID != bob.ID {
		t.Errorf("social_worker filter: %+v", list.Items)
	}

	d := decode[devices.Resident](t, e.must(t, 200, "POST", "/api/v1/residents/"+string(bob.ID)+"/disable", ""))
	if !d.Disabled {
		t.Error("disable answered a resident that is not disabled")
	}
	list = decode[struct{ Items []devices.Resident }](t, e.must(t, 200, "GET", "/api/v1/residents", ""))
	if len(list.Items) != 1 {
		t.Errorf("disabled resident listed by default: %d items", len(list.Items))
	}
	list = decode[struct{ Items []devices.Resident }](t, e.must(t, 200, "GET", "/api/v1/residents?include_disabled=true", ""))
	if len(list.Items) != 2 {
		t.Errorf("include_disabled: %d items", len(list.Items))
	}
	if d := decode[devices.Resident](t, e.must(t, 200, "POST", "/api/v1/residents/"+string(bob.ID)+"/enable", "")); d.Disabled {
		t.Error("enable answered a disabled resident")
	}
}

func TestResidentPaging(t *testing.T) {
	e := newTestEnv(t)
	for i := range 5 {
		createResident(t, e, `{"name": "resident `+string(rune('a'+i))+`"}`)
	}
	var seen []devices.ResidentID
	after := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p := decode[struct {
			Items     []devices.Resident
			NextAfter string `json:"next_after"`
		}](t, e.must(t, 200, "GET", "/api/v1/residents?limit=2&after="+after, ""))
		for _, r := range p.Items {
			seen = append(seen, r.ID)
		}
		if p.NextAfter == "" {
			break
		}
		after = p.NextAfter
	}
	if len(seen) != 5 || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != 5 {
		t.Fatalf("pages gave %v", seen)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "include_disabled=maybe", "socialworker=sw-1"} {
		e.must(t, 400, "GET", "/api/v1/residents?"+q, "")
	}
}

func TestResidentValidation(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		field      string
		msg        string
	}{
		{"name missing", `{"phone": "010-1234-5678"}`, 400, "name", "required"},
		{"name blank", `{"name": "   "}`, 400, "name", "required"},
		{"bad phone", `{"name": "a", "phone": "12345"}`, 400, "phone", "E.164"},
		{"letters in phone", `{"name": "a", "phone": "010-CALL-ME"}`, 400, "phone", "digits"},
		{"birth date format", `{"name": "a", "birth_date": "05/03/1941"}`, 400, "birth_date", "YYYY-MM-DD"},
		{"birth date future", `{"name": "a", "birth_date": "2030-01-01"}`, 400, "birth_date", "future"},
		{"language", `{"name": "a", "language": "ja"}`, 400, "language", "ko"},
		{"lat range", `{"name": "a", "address": {"lat": 91, "lon": 127}}`, 400, "address.lat", "-90..90"},
		{"lon range", `{"name": "a", "address": {"lat": 37, "lon": 181}}`, 400, "address.lon", "-180..180"},
		{"lat without lon", `{"name": "a", "address": {"lat": 37.5}}`, 400, "address.lat", "both"},
		{"guardian phone", `{"name": "a", "guardians": [{"name": "b"}]}`, 400, "guardians[0].phone", "phone"},
		{"guardian bad phone", `{"name": "a", "guardians": [{"name": "b", "phone": "+82 10 1"}, {"name": "c", "phone": "x"}]}`, 400, "guardians[0].phone", "E.164"},
		{"mask as code", `{"name": "a", "access": {"door_code": "****"}}`, 400, "access", "mask"},
		{"created disabled", `{"name": "a", "disabled": true}`, 400, "disabled", "disable"},
		{"bad id", `{"id": "a/b", "name": "a"}`, 400, "id", "1-64"},
		{"unknown field", `{"name": "a", "nmae": "b"}`, 400, "nmae", "unknown field"},
		{"unknown nested field", `{"name": "a", "address": {"street": "x"}}`, 400, "street", "unknown field"},
		{"wrong type", `{"name": 7}`, 400, "name", "expected a string"},
		{"wrong nested type", `{"name": "a", "address": {"lat": "37.5"}}`, 400, "address.lat", "expected a number"},
		{"not an object", `["a"]`, 400, "", "JSON object"},
		{"malformed", `{"name": "a",}`, 400, "", "malformed JSON"},
		{"truncated", `{"name": "a"`, 400, "", "ends"},
		{"trailing data", `{"name": "a"} {"name": "b"}`, 400, "", "exactly one"},
		{"empty body", ``, 400, "", "empty"},
		{"too large", `{"name": "` + strings.Repeat("x", 5000) + `"}`, 413, "", "larger than"},
		{"control character", `{"name": "a\u0007b"}`, 400, "name", "control"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			req := httptest.NewRequest("POST", "/api/v1/residents", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			eb := decode[errorBody](t, rec)
			if eb.Field != tc.field || !strings.Contains(eb.Error, tc.msg) {
				t.Errorf("got field %q error %q; want field %q, error containing %q", eb.Field, eb.Error, tc.field, tc.msg)
			}
		})
	}
}

func TestContentType(t *testing.T) {
	e := newTestEnv(t)
	req := httptest.NewRequest("POST", "/api/v1/residents", strings.NewReader(`{"name": "a"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("status %d, want 415", rec.Code)
	}
}

func TestRegistryErrorMapping(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		field  string
		msg    string
	}{
		{"not found", errors.New("x: " + devices.ErrNotFound.Error()), 500, "", "internal error"},
		{"wrapped not found", &wrapped{devices.ErrNotFound}, 404, "", "not found"},
		{"conflict", &consoletest.Error{Msg: "store: resident id taken", IsConflict: true}, 409, "", "resident id taken"},
		{"invalid", &consoletest.Error{Msg: "store: bad social worker", IsInvalid: true, InvalidField: "social_worker_id"}, 400, "social_worker_id", "bad social worker"},
		{"marked conflict", api.MarkConflict(errors.New("store: already exists: resident r-1")), 409, "", "already exists"},
		{"marked invalid", api.MarkInvalid(errors.New("store: invalid: bad postcode"), "address.postcode"), 400, "address.postcode", "bad postcode"},
		// A store's own wrapped sentinels, with no mark: one sentinel per
		// meaning across store and console.
		{"wrapped conflict", fmt.Errorf("store: %w: resident r-1", devices.ErrConflict), 409, "", "already exists: resident r-1"},
		{"wrapped invalid", fmt.Errorf("store: %w: bad postcode", devices.ErrInvalid), 400, "", "invalid: bad postcode"},
		{"other", errors.New("store: disk on fire at /var/lib/secret"), 500, "", "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t)
			e.reg.FailNext(tc.err)
			rec := e.must(t, tc.status, "POST", "/api/v1/residents", `{"name": "a"}`)
			eb := decode[errorBody](t, rec)
			if eb.Field != tc.field || !strings.Contains(eb.Error, tc.msg) {
				t.Errorf("got %+v, want field %q, error containing %q", eb, tc.field, tc.msg)
			}
			if tc.status == 500 && strings.Contains(eb.Error, "disk") {
				t.Errorf("500 answer leaks the internal error: %q", eb.Error)
			}
		})
	}

	e := newTestEnv(t)
	createResident(t, e, `{"id": "r-1", "name": "a"}`)
	e.must(t, http.StatusConflict, "POST", "/api/v1/residents", `{"id": "r-1", "name": "b"}`)
	for _, path := range []string{"/api/v1/residents/nobody", "/api/v1/hubs/nohub", "/api/v1/hubs/nohub/sensors", "/api/v1/hubs/nohub/sensors/s1", "/api/v1/hubs/nohub/health"} {
		eb := decode[errorBody](t, e.must(t, 404, "GET", path, ""))
		if !strings.Contains(eb.Error, "not found") {
			t.Errorf("GET %s: error %q", path, eb.Error)
		}
	}
	for _, path := range []string{"/api/v1/residents/nobody/disable", "/api/v1/hubs/nohub/disable", "/api/v1/hubs/nohub/secret", "/api/v1/hubs/nohub/sensors/s1/enable"} {
		e.must(t, 404, "POST", path, "")
	}
	e.must(t, 404, "PATCH", "/api/v1/residents/nobody", `{"name": "x"}`)
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "store: " + w.err.Error() }
func (w *wrapped) Unwrap() error { return w.err }

type hubAnswer struct {
	devices.Hub
	HubID  devices.HubID `json:"hub_id"`
	Secret string        `json:"secret"`
}

func TestHubs(t *testing.T) {
	e := newTestEnv(t)
	res := createResident(t, e, `{"id": "r-1", "name": "김영희"}`)

	rec := e.must(t, 201, "POST", "/api/v1/hubs", `{"resident_id": "r-1", "id": "hub-0001", "firmware": "1.2.0", "model": "DB-100"}`)
	created := decode[hubAnswer](t, rec)
	if created.HubID != "hub-0001" || created.ID != "hub-0001" || len(created.Secret) != 43 {
		t.Fatalf("create answer: %s", rec.Body)
	}
	if !created.EndOfLife.After(created.InstalledAt.AddDate(4, 11, 0)) {
		t.Errorf("end of life %v not ~5 years after install %v", created.EndOfLife, created.InstalledAt)
	}
	stored, _ := e.reg.GetHub(t.Context(), "hub-0001")
	if ok, err := devices.VerifySecret(stored.SecretHash, created.Secret); !ok || err != nil {
		t.Fatalf("stored hash does not verify the shown secret: %v %v", ok, err)
	}
	if strings.Contains(stored.SecretHash, created.Secret) {
		t.Fatal("the secret is stored in clear")
	}

	// The secret is shown once: no other answer carries it or its hash.
	for _, path := range []string{"/api/v1/hubs/hub-0001", "/api/v1/hubs", "/api/v1/hubs?resident_id=r-1"} {
		body := e.must(t, 200, "GET", path, "").Body.String()
		if strings.Contains(body, created.Secret) || strings.Contains(body, "argon2") || strings.Contains(body, `"secret"`) {
			t.Errorf("GET %s shows the secret or its hash: %s", path, body)
		}
	}
	if strings.Contains(e.logs.String(), created.Secret) {
		t.Fatal("the secret is in the logs")
	}

	// Generated id.
	gen := decode[hubAnswer](t, e.must(t, 201, "POST", "/api/v1/hubs", `{"resident_id": "r-1"}`))
	if gen.HubID == "" || gen.Secret == created.Secret {
		t.Errorf("generated hub: %+v", gen)
	}

	for _, tc := range []struct{ body, field string }{
		{`{"resident_id": "r-404"}`, "resident_id"},
		{`{}`, "resident_id"},
		{`{"resident_id": "r-1", "id": "Hub/1"}`, "id"},
		{`{"resident_id": "r-1", "secret": "mine"}`, "secret"},
		{`{"resident_id": "r-1", "installed_at": "yesterday"}`, ""},
		{`{"resident_id": "r-1", "installed_at": "2025-01-01T00:00:00Z", "end_of_life": "2024-01-01T00:00:00Z"}`, "end_of_life"},
	} {
		eb := decode[errorBody](t, e.must(t, 400, "POST", "/api/v1/hubs", tc.body))
		if eb.Field != tc.field {
			t.Errorf("POST /hubs %s: field %q, want %q (%s)", tc.body, eb.Field, tc.field, eb.Error)
		}
	}
	e.must(t, 409, "POST", "/api/v1/hubs", `{"resident_id": "r-1", "id": "hub-0001"}`)

	// PATCH.
	createResident(t, e, `{"id": "r-2", "name": "박민수"}`)
	patched := decode[devices.Hub](t, e.must(t, 200, "PATCH", "/api/v1/hubs/hub-0001", `{"firmware": "1.3.0", "resident_id": "r-2"}`))
	if patched.Firmware != "1.3.0" || patched.Model != "DB-100" || patched.ResidentID != "r-2" {
		t.Errorf("PATCH hub: %+v", patched)
	}
	e.must(t, 400, "PATCH", "/api/v1/hubs/hub-0001", `{"resident_id": "r-404"}`)
	e.must(t, 400, "PATCH", "/api/v1/hubs/hub-0001", `{"disabled": true}`)
	if after, _ := e.reg.GetHub(t.Context(), "hub-0001"); after.SecretHash != stored.SecretHash {
		t.Error("PATCH changed the secret hash")
	}

	// Rotation: a new secret, the old one dead, the live session revoked.
	rotated := decode[hubAnswer](t, e.must(t, 200, "POST", "/api/v1/hubs/hub-0001/secret", ""))
	if rotated.Secret == created.Secret || len(rotated.Secret) != 43 || rotated.HubID != "hub-0001" {
		t.Fatalf("rotate answer: %+v", rotated)
	}
	after, _ := e.reg.GetHub(t.Context(), "hub-0001")
	if ok, _ := devices.VerifySecret(after.SecretHash, rotated.Secret); !ok {
		t.Error("the new secret does not verify")
	}
	if ok, _ := devices.VerifySecret(after.SecretHash, created.Secret); ok {
		t.Error("the old secret still verifies")
	}
	if got := e.hubs.Revoked(); !slices.Equal(got, []devices.HubID{"hub-0001"}) {
		t.Errorf("revoked after rotation: %v", got)
	}

	// Disable revokes; enable does not.
	d := decode[devices.Hub](t, e.must(t, 200, "POST", "/api/v1/hubs/hub-0001/disable", ""))
	if !d.Disabled {
		t.Error("disable answered an enabled hub")
	}
	if got := e.hubs.Revoked(); len(got) != 2 || got[1] != "hub-0001" {
		t.Errorf("revoked after disable: %v", got)
	}
	list := decode[struct{ Items []devices.Hub }](t, e.must(t, 200, "GET", "/api/v1/hubs", ""))
	if len(list.Items) != 1 || list.Items[0].ID != gen.ID {
		t.Errorf("disabled hub listed: %+v", list.Items)
	}
	e.must(t, 200, "POST", "/api/v1/hubs/hub-0001/enable", "")
	if got := e.hubs.Revoked(); len(got) != 2 {
		t.Errorf("enable revoked: %v", got)
	}
	list = decode[struct{ Items []devices.Hub }](t, e.must(t, 200, "GET", "/api/v1/hubs?resident_id="+string(res.ID), ""))
	if len(list.Items) != 1 || list.Items[0].ID != gen.ID {
		t.Errorf("hubs of r-1: %+v", list.Items)
	}
}

func TestHubHealth(t *testing.T) {
	e := newTestEnv(t)
	createResident(t, e, `{"id": "r-1", "name": "a"}`)
	e.must(t, 201, "POST", "/api/v1/hubs", `{"resident_id": "r-1", "id": "hub-1"}`)
	e.must(t, 201, "POST", "/api/v1/hubs", `{"resident_id": "r-1", "id": "hub-2"}`)
	e.health["hub-2"] = devices.HubHealth{Hub: "hub-2", Online: true, Battery: 80, OnMains: true, PowerKnown: true}

	never := decode[devices.HubHealth](t, e.must(t, 200, "GET", "/api/v1/hubs/hub-1/health", ""))
	if never.Online || !slices.Contains(never.Faults, devices.FaultOffline) || never.Battery != -1 {
		t.Errorf("health of a hub never heard from: %+v", never)
	}
	rec := e.must(t, 200, "GET", "/api/v1/hubs/hub-2/health", "")
	online := decode[devices.HubHealth](t, rec)
	if !online.Online || online.Battery != 80 || !strings.Contains(rec.Body.String(), `"faults": []`) {
		t.Errorf("health: %s", rec.Body)
	}
}

func TestSensors(t *testing.T) {
	e := newTestEnv(t)
	createResident(t, e, `{"id": "r-1", "name": "a"}`)
	e.must(t, 201, "POST", "/api/v1/hubs", `{"resident_id": "r-1", "id": "hub-1"}`)
	base := "/api/v1/hubs/hub-1/sensors"

	s := decode[devices.Sensor](t, e.must(t, 201, "POST", base, `{"id": "kitchen-smoke", "kind": "smoke", "location": "kitchen", "report_interval_s": 600}`))
	if s.Hub != "hub-1" || s.ReportSeconds != 600 || !s.InstalledAt.Equal(testNow) {
		t.Errorf("created sensor: %+v", s)
	}
	s = decode[devices.Sensor](t, e.must(t, 201, "POST", base, `{"id": "pendant", "kind": "sos_button", "location": "worn"}`))
	if s.ReportSeconds != 300 {
		t.Errorf("default interval %d, want 300", s.ReportSeconds)
	}
	for _, tc := range []struct {
		body   string
		status int
		field  string
	}{
		{`{"id": "x", "kind": "toaster", "location": "kitchen"}`, 400, "kind"},
		{`{"id": "x", "kind": "smoke", "location": "garage"}`, 400, "location"},
		{`{"id": "x y", "kind": "smoke", "location": "kitchen"}`, 400, "id"},
		{`{"id": "x", "kind": "smoke", "location": "kitchen", "report_interval_s": 5}`, 400, "report_interval_s"},
		{`{"id": "x", "kind": "smoke", "location": "kitchen", "hub_id": "hub-2"}`, 400, "hub_id"},
		{`{"id": "x", "kind": "smoke", "location": "kitchen", "interval": 300}`, 400, "interval"},
		{`{"id": "kitchen-smoke", "kind": "smoke", "location": "kitchen"}`, 409, ""},
	} {
		eb := decode[errorBody](t, e.must(t, tc.status, "POST", base, tc.body))
		if eb.Field != tc.field {
			t.Errorf("POST %s: field %q, want %q (%s)", tc.body, eb.Field, tc.field, eb.Error)
		}
	}
	if eb := decode[errorBody](t, e.must(t, 400, "POST", base, `{"id": "x", "kind": "toaster", "location": "kitchen"}`)); !strings.Contains(eb.Error, "sos_button") {
		t.Errorf("kind error does not list the kinds: %q", eb.Error)
	}
	e.must(t, 404, "POST", "/api/v1/hubs/hub-9/sensors", `{"id": "x", "kind": "smoke", "location": "kitchen"}`)

	list := decode[struct{ Items []devices.Sensor }](t, e.must(t, 200, "GET", base, ""))
	if len(list.Items) != 2 {
		t.Errorf("list: %+v", list.Items)
	}
	got := decode[devices.Sensor](t, e.must(t, 200, "GET", base+"/kitchen-smoke", ""))
	if got.Kind != devices.SensorSmoke {
		t.Errorf("get: %+v", got)
	}
	got = decode[devices.Sensor](t, e.must(t, 200, "PATCH", base+"/kitchen-smoke", `{"report_interval_s": 120, "location": "living_room"}`))
	if got.ReportSeconds != 120 || got.Location != devices.LocLivingRoom || got.Kind != devices.SensorSmoke {
		t.Errorf("patch: %+v", got)
	}
	e.must(t, 400, "PATCH", base+"/kitchen-smoke", `{"kind": "toaster"}`)
	e.must(t, 400, "PATCH", base+"/kitchen-smoke", `{"hub_id": "hub-2"}`)
	if d := decode[devices.Sensor](t, e.must(t, 200, "POST", base+"/kitchen-smoke/disable", "")); !d.Disabled {
		t.Error("disable did not disable")
	}
	if d := decode[devices.Sensor](t, e.must(t, 200, "POST", base+"/kitchen-smoke/enable", "")); d.Disabled {
		t.Error("enable did not enable")
	}
	e.must(t, 404, "GET", base+"/nothing", "")
}
