package cap

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

// sentCAP is the body 119 receives of n.
func sentCAP(t *testing.T, n dispatch.Notification) string {
	t.Helper()
	return sentCAPWith(t, n, nil)
}

func sentCAPWith(t *testing.T, n dispatch.Notification, sensors SensorGetter) string {
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
	s, err := NewSender(SenderOptions{Endpoints: []string{srv.URL}, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	c := NewNotifier(NotifierOptions{Sender: s, SenderID: "gateway@dolbom.local", Sensors: sensors})
	if _, _, err := c.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return got
}

func capNotification(typ dispatch.MessageType, consent devices.Consent) dispatch.Notification {
	return dispatch.Notification{Key: "inc-1/s0/119/cap/1", Type: typ, Channel: dispatch.Channel119,
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

// An Update and a Cancel are named by their notification keys, built into
// the XML by Build (no rewriting afterwards), reference the first alert,
// validate against the schema, and lead 119's answers back to the incident.
func TestCAPUpdateAndCancelIdentifiers(t *testing.T) {
	requireXMLLint(t)
	alertID := Identifier("gateway@dolbom.local", "inc-1", 0)
	for _, typ := range []dispatch.MessageType{dispatch.MsgAlert, dispatch.MsgUpdate, dispatch.MsgCancel} {
		n := capNotification(typ, devices.Consent{})
		n.Incident.State = dispatch.StateCancelled
		body := sentCAP(t, n)
		want := alertID
		if typ != dispatch.MsgAlert {
			want = "dolbom.dolbom.local.inc-1.0.inc-1-s0-119-cap-1"
			if !strings.Contains(body, "<references>gateway@dolbom.local,"+alertID+",") {
				t.Errorf("%s does not reference the alert:\n%s", typ, body)
			}
		}
		if !strings.Contains(body, "<identifier>"+want+"</identifier>") {
			t.Errorf("%s identifier, want %s:\n%s", typ, want, body)
		}
		if got := IncidentOf(want); got != "inc-1" {
			t.Errorf("IncidentOf(%s) = %q", want, got)
		}
		if err := ValidateXSD(context.Background(), xsdPath, []byte(body)); err != nil {
			t.Errorf("%s does not validate: %v\n%s", typ, err, body)
		}
	}
	if got := IncidentOf("urn:other:1"); got != "" {
		t.Errorf("IncidentOf of a foreign identifier = %q", got)
	}
}
