package twilio_test

import (
	"strings"
	"testing"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio"
)

// A fall the resident got up from is news, not an alarm: the SMS says they
// answered, that 119 was not called, and asks for no acknowledgement.
func TestSMSTextRecovered(t *testing.T) {
	ko := twilio.SMSText(twilio.Notice{Lang: twilio.Korean, Cause: dispatch.CategoryFall, ResidentName: "박영수", Recovered: true})
	en := twilio.SMSText(twilio.Notice{Lang: twilio.English, Cause: dispatch.CategoryFall, Recovered: true})
	for _, want := range []string{"[돌봄 알림]", "박영수님 댁에서 낙상이 감지되었으나 괜찮다고 응답하셨습니다", "119에는 신고하지 않았습니다"} {
		if !strings.Contains(ko, want) {
			t.Errorf("%q lacks %q", ko, want)
		}
	}
	if strings.Contains(ko, "답장") || !strings.Contains(en, "they answered that they are all right") || strings.Contains(en, "Reply 1") {
		t.Errorf("recovered texts ask for an acknowledgement or miss the news:\n%s\n%s", ko, en)
	}
}

// The "119 has it" SMS says how far 119 is, in the recipient's language,
// with the resident and the address, and no reply menu (nothing to answer).
func TestWith119SMS(t *testing.T) {
	for _, tc := range []struct {
		n    twilio.Notice
		want string
	}{
		{twilio.Notice{Cause: dispatch.CategoryFall, With119: "accepted", ResidentName: "김순자", Address: "서울 종로구 1"},
			"[돌봄 알림] 김순자님 댁(서울 종로구 1) 낙상 상황: 119가 신고를 접수해 대응하고 있습니다."},
		{twilio.Notice{Cause: dispatch.CategoryFire, With119: "dispatched", ResidentName: "김순자"},
			"[돌봄 알림] 김순자님 댁 화재 상황: 119가 출동했습니다."},
		{twilio.Notice{Cause: dispatch.CategorySOS, With119: "on_scene", Lang: twilio.English, ResidentName: "Kim", Address: "Seoul 1"},
			"[Dolbom notice] emergency call at the home of Kim (Seoul 1): 119 is on scene."},
	} {
		if got := twilio.SMSText(tc.n); got != tc.want {
			t.Errorf("twilio.SMSText(%+v)\n got %q\nwant %q", tc.n, got, tc.want)
		}
	}
}

// "Fell and got up" reaches the social worker as a notice, in words that
// say what happened, never as an emergency alert.
func TestSMSTextFallRecovered(t *testing.T) {
	ko := twilio.SMSText(twilio.Notice{Lang: twilio.Korean, Cause: dispatch.CategoryFallRecovered, ResidentName: "박영수"})
	en := twilio.SMSText(twilio.Notice{Lang: twilio.English, Cause: dispatch.CategoryFallRecovered, ResidentName: "Park"})
	if !strings.HasPrefix(ko, "[돌봄 알림] 박영수님 댁에서 넘어지셨다가 스스로 일어나셨습니다") || strings.Contains(ko, "긴급") {
		t.Errorf("Korean: %q", ko)
	}
	if !strings.HasPrefix(en, "[Dolbom notice] At the home of Park, they fell and got up by themselves") {
		t.Errorf("English: %q", en)
	}
}
