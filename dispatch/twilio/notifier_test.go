package twilio_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/twilio"
)

// The guardian's SMS and call name the address to the unit, as the
// console and the CAP do.
func TestNoticeAddressToTheUnit(t *testing.T) {
	n := dispatch.Notification{Key: "inc-1/s0/g1/sms/1", Type: dispatch.MsgAlert, HasResident: true,
		Incident: dispatch.IncidentSnapshot{ID: "inc-1", Cause: detectors.CauseSmokeUnconfirmed, Priority: 1},
		Resident: devices.Resident{Name: "김영희",
			Address: devices.Address{Line1: "서울특별시 종로구 세종대로 209", Building: "103", Floor: "7", Unit: "703"}}}
	no := twilio.NoticeOf(n)
	if no.Address != "서울특별시 종로구 세종대로 209 103동 7층 703호" {
		t.Errorf("notice address %q", no.Address)
	}
	if no.Cause != dispatch.CategoryFire || no.Ref != n.Key {
		t.Errorf("notice %+v", no)
	}
}

type latestFunc func(phone string, channels []dispatch.Channel, states []dispatch.State) (dispatch.OutboxRow, bool, error)

func (f latestFunc) LatestNotificationTo(_ context.Context, phone string, channels []dispatch.Channel, states []dispatch.State) (dispatch.OutboxRow, bool, error) {
	return f(phone, channels, states)
}

type mover struct {
	replied []string
	inc     dispatch.Incident
}

func (m *mover) Delivered(context.Context, string, string) error { return nil }
func (m *mover) Failed(context.Context, string, string) error    { return nil }
func (m *mover) ReplyToNotification(_ context.Context, ref string, r dispatch.Reply) (dispatch.Incident, error) {
	m.replied = append(m.replied, ref+":"+string(r.State))
	return m.inc, nil
}

// A bare SMS reply answers the newest SMS or call of an open incident to
// its number, found by the store; with none, the sender is told there is
// no open alert.
func TestSMSReplyAnswersTheLatestNotificationToItsNumber(t *testing.T) {
	m := &mover{inc: dispatch.Incident{State: dispatch.StateAcknowledged}}
	var asked []string
	e := twilio.DispatchEvents{Mover: m, Latest: latestFunc(func(phone string, channels []dispatch.Channel, states []dispatch.State) (dispatch.OutboxRow, bool, error) {
		asked = append(asked, phone)
		if len(channels) != 2 || len(states) == 0 {
			t.Errorf("asked for channels %v, states %v", channels, states)
		}
		if phone != "+821011112222" {
			return dispatch.OutboxRow{}, false, nil
		}
		return dispatch.OutboxRow{Key: "inc-1/s1/g1/voice/1"}, true, nil
	})}
	if err := e.Acknowledged(context.Background(), twilio.Ack{By: "+821011112222", Answer: twilio.AnswerOnScene}); err != nil {
		t.Fatal(err)
	}
	if len(m.replied) != 1 || m.replied[0] != "inc-1/s1/g1/voice/1:"+string(dispatch.ResponderOnScene) {
		t.Errorf("replies %v", m.replied)
	}
	if err := e.Acknowledged(context.Background(), twilio.Ack{By: "+821099990000"}); !errors.Is(err, twilio.ErrNoOpenAlert) {
		t.Errorf("a reply from a number with no open alert: %v", err)
	}
	if len(asked) != 2 {
		t.Errorf("store asked %v", asked)
	}
}
