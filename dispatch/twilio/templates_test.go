package twilio_test

import (
	"strings"
	"testing"

	"github.com/dolbom/dolbom/dispatch/twilio"
)

// A fall the resident got up from is news, not an alarm: the SMS says they
// answered, that 119 was not called, and asks for no acknowledgement.
func TestSMSTextRecovered(t *testing.T) {
	ko := twilio.SMSText(twilio.Notice{Lang: twilio.Korean, Cause: twilio.CauseFall, ResidentName: "박영수", Recovered: true})
	en := twilio.SMSText(twilio.Notice{Lang: twilio.English, Cause: twilio.CauseFall, Recovered: true})
	for _, want := range []string{"[돌봄 알림]", "박영수님 댁에서 낙상이 감지되었으나 괜찮다고 응답하셨습니다", "119에는 신고하지 않았습니다"} {
		if !strings.Contains(ko, want) {
			t.Errorf("%q lacks %q", ko, want)
		}
	}
	if strings.Contains(ko, "답장") || !strings.Contains(en, "they answered that they are all right") || strings.Contains(en, "Reply 1") {
		t.Errorf("recovered texts ask for an acknowledgement or miss the news:\n%s\n%s", ko, en)
	}
}
