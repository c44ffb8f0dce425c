package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

func sentCAP(t *testing.T, n dispatch.Notification) string {
	t.Helper()
	return sentCAPWith(t, n, nil)
}

func sentCAPWith(t *testing.T, n dispatch.Notification, sensors sensorGetter) string {
	t.Helper()
	var mu sync.Mutex
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := newChannels(ChannelOptions{CAPURLs: []string{srv.URL}, FakeTwilio: true}, "http://127.0.0.1:1", false, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c.sensors = sensors
	if _, _, err := c.notifyCAP(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

func capNotification(typ dispatch.MessageType, consent devices.Consent) dispatch.Notification {
	return dispatch.Notification{Key: "inc-1/s0/119/cap/1", Type: typ, Channel: "cap",
		Incident: dispatch.IncidentSnapshot{ID: "inc-1", Hub: "hub-1", Cause: detectors.CauseBradycardia, Priority: 1,
			Explanation: detectors.Explanation{Ko: "심박수 32회/분, 45초간 지속, 움직임 없음", En: "Heart rate 32 bpm for 45 s"},
			OpenedAt:    time.Now()},
		HasResident: typ != dispatch.MsgCancel,
		Resident: devices.Resident{Name: "김영희", MedicalNotes: "HIV positive", Medications: []string{"dolutegravir"},
			Consent: consent},
	}
}

// The resident's consent flag share_medical_with_119 must decide whether
// medical notes go to 119.
func TestCAPHonoursMedicalConsent(t *testing.T) {
	body := sentCAP(t, capNotification(dispatch.MsgAlert, devices.Consent{ShareMedicalWith119: false}))
	if strings.Contains(body, "HIV positive") || strings.Contains(body, "dolutegravir") {
		t.Errorf("medical notes sent to 119 although the resident did not consent")
	}
}

// A CAP Cancel must carry identity and reason only, not the detector's
// medical explanation.
func TestCAPCancelCarriesNoHealthData(t *testing.T) {
	body := sentCAP(t, capNotification(dispatch.MsgCancel, devices.Consent{}))
	if strings.Contains(body, "심박수 32") {
		t.Errorf("the Cancel's reason is the medical explanation:\n%s", body)
	}
}

// With consent, the medical details do go to 119 (the test above must be
// able to fail for the right reason).
func TestCAPCarriesMedicalDetailsWithConsent(t *testing.T) {
	body := sentCAP(t, capNotification(dispatch.MsgAlert, devices.Consent{ShareMedicalWith119: true}))
	if !strings.Contains(body, "HIV positive") || !strings.Contains(body, "dolutegravir") {
		t.Errorf("medical notes missing although the resident consented:\n%s", body)
	}
}

func TestAge(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for birth, want := range map[string]int{"1941-03-02": 84, "1941-03-01": 85, "1940-02-29": 86, "1944-03-01": 82, "": 0, "bad": 0} {
		if got := age(birth, now); got != want {
			t.Errorf("age(%q) = %d, want %d", birth, got, want)
		}
	}
}

// 119's answer credential is its own, kept across restarts, never the admin
// token.
func TestCAPAnswerTokenIsNotTheAdminToken(t *testing.T) {
	dir := t.TempDir()
	o := Options{DataDir: dir, AdminToken: "admin-token-0123456789abcdef"}
	a, err := capAnswerToken(o)
	if err != nil || len(a) < 16 || a == o.AdminToken {
		t.Fatalf("capAnswerToken = %q, %v", a, err)
	}
	b, _ := capAnswerToken(o)
	if a != b {
		t.Errorf("the generated answer token changed across starts: %q then %q", a, b)
	}
	o.Channels.CAPAnswerToken = "short"
	if _, err := capAnswerToken(o); err == nil {
		t.Error("a 5-character answer token was accepted")
	}
}

type sensorFunc func(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error)

func (f sensorFunc) GetSensor(ctx context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
	return f(ctx, hub, id)
}

// 119 reads where in the home the alarm is ("주방 연기감지기"), the unit and
// floor written the Korean way, and a message with the resident's address
// is Restricted to 119.
func TestCAPCarriesRoomAndKoreanUnit(t *testing.T) {
	n := capNotification(dispatch.MsgAlert, devices.Consent{})
	n.Incident.Sensor, n.Incident.Cause = "smoke-kitchen", detectors.CauseSmokeUnconfirmed
	n.Resident.Address = devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "103", Floor: "7", Unit: "703"}
	body := sentCAPWith(t, n, sensorFunc(func(_ context.Context, hub devices.HubID, id devices.SensorID) (devices.Sensor, error) {
		if hub != "hub-1" || id != "smoke-kitchen" {
			return devices.Sensor{}, devices.ErrNotFound
		}
		return devices.Sensor{Hub: hub, ID: id, Kind: devices.SensorSmoke, Location: devices.LocKitchen}, nil
	}))
	for _, want := range []string{"<value>주방 연기감지기</value>", "<value>kitchen smoke detector</value>", "<value>703호</value>", "<value>7층</value>",
		"<areaDesc>서울특별시 종로구 세종대로 209 103동 7층 703호 (주방 연기감지기)</areaDesc>", "<scope>Restricted</scope>", "<restriction>"} {
		if !strings.Contains(body, want) {
			t.Errorf("CAP misses %q:\n%s", want, body)
		}
	}
}

// The guardian's SMS and call name the address to the unit, as the
// console and the CAP do.
func TestNoticeAddressToTheUnit(t *testing.T) {
	n := capNotification(dispatch.MsgAlert, devices.Consent{})
	n.Resident.Address = devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "103", Floor: "7", Unit: "703"}
	if got := (&channels{}).notice(n).Address; got != "서울특별시 종로구 세종대로 209 103동 7층 703호" {
		t.Errorf("notice address %q", got)
	}
}

// A Cancel tells 119 why in fixed words: a test or a duplicate is not
// called a verified false alarm.
func TestCancelReasonSaysHowItEnded(t *testing.T) {
	for _, tc := range []struct {
		state dispatch.State
		disp  dispatch.Disposition
		want  string
	}{
		{dispatch.StateCancelled, "", "거주자 취소 (resident cancelled)"},
		{dispatch.StateResolved, dispatch.DispositionFalseAlarm, "오경보 확인 (verified false alarm)"},
		{dispatch.StateResolved, dispatch.DispositionTest, "시험 신호 (test)"},
		{dispatch.StateResolved, dispatch.DispositionDuplicate, "중복 신고 (duplicate)"},
	} {
		if got := cancelReason(tc.state, tc.disp); got != tc.want {
			t.Errorf("%s/%s: %q, want %q", tc.state, tc.disp, got, tc.want)
		}
	}
}
