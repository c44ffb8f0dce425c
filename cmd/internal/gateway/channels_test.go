package gateway

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

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

// The guardian's SMS and call name the address to the unit, as the
// console and the CAP do.
func TestNoticeAddressToTheUnit(t *testing.T) {
	n := capNotification(dispatch.MsgAlert, devices.Consent{})
	n.Resident.Address = devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "103", Floor: "7", Unit: "703"}
	if got := (&channels{}).notice(n).Address; got != "서울특별시 종로구 세종대로 209 103동 7층 703호" {
		t.Errorf("notice address %q", got)
	}
}
