package twilio

// The dispatch core's channels to guardians and social workers: SMS and
// voice notify through the Client, and DispatchEvents moves incidents on
// from Twilio's callbacks. What a person is told of a notification, and
// which notification a bare SMS reply answers, is decided here.

import (
	"context"
	"errors"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// NoticeOf is what the person receives of n.
func NoticeOf(n dispatch.Notification) Notice {
	no := Notice{Ref: n.Key, To: n.Recipient.Phone, Lang: Lang(n.Recipient.Language),
		Cause: dispatch.CategoryOf(n.Incident.Cause), Priority: int(n.Incident.Priority), Recovered: n.Type == dispatch.MsgRecovered}
	if n.Type == dispatch.MsgWith119 {
		no.With119 = n.Incident.Status119
	}
	if n.HasResident {
		no.ResidentName = n.Resident.Name
		// The same address as on the console and in the CAP: to the unit,
		// "... 103동 7층 703호".
		no.Address = n.Resident.Address.Korean()
	}
	return no
}

// SMSNotifier is the dispatch.ChannelSMS channel.
type SMSNotifier struct{ Client *Client }

// Notify sends n's SMS; the reference is Twilio's message SID.
func (s SMSNotifier) Notify(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	if n.Recipient.Phone == "" {
		return "", false, errors.New("recipient has no phone number")
	}
	return s.Client.SendSMS(ctx, NoticeOf(n))
}

// VoiceNotifier is the dispatch.ChannelVoice channel.
type VoiceNotifier struct{ Client *Client }

// Notify places n's call; the reference is Twilio's call SID.
func (v VoiceNotifier) Notify(ctx context.Context, n dispatch.Notification) (string, bool, error) {
	if n.Recipient.Phone == "" {
		return "", false, errors.New("recipient has no phone number")
	}
	return v.Client.Call(ctx, NoticeOf(n))
}

// Mover moves incidents on (*dispatch.Dispatcher).
type Mover interface {
	Delivered(ctx context.Context, ref, detail string) error
	Failed(ctx context.Context, ref, reason string) error
	ReplyToNotification(ctx context.Context, ref string, r dispatch.Reply) (dispatch.Incident, error)
}

// Latest finds the newest notification row on one of channels to phone of
// an incident in one of states (*store.Store).
type Latest interface {
	LatestNotificationTo(ctx context.Context, phone string, channels []dispatch.Channel, states []dispatch.State) (dispatch.OutboxRow, bool, error)
}

// DispatchEvents moves incidents on from Twilio's callbacks.
type DispatchEvents struct {
	Mover  Mover
	Latest Latest
}

var _ Events = DispatchEvents{}

// Status records a delivery report: delivered or answered, a machine
// taking the call (never an acknowledgement), or a failure.
func (e DispatchEvents) Status(ctx context.Context, r Report) error {
	ref := r.Ref
	if ref == "" {
		ref = r.SID
	}
	var err error
	switch r.Status {
	case StatusDelivered, StatusAnswered:
		err = e.Mover.Delivered(ctx, ref, string(r.Status))
	case StatusVoicemail:
		// A machine took the call: recorded, never an acknowledgement.
		err = e.Mover.Delivered(ctx, ref, "voicemail")
	case StatusFailed, StatusBusy, StatusNoAnswer, StatusCanceled:
		err = e.Mover.Failed(ctx, ref, string(r.Status))
	}
	if errors.Is(err, devices.ErrNotFound) {
		return nil // a callback about a row we no longer know: nothing to move
	}
	return err
}

// Acknowledged applies a person's answer (keypad or SMS reply).
func (e DispatchEvents) Acknowledged(ctx context.Context, a Ack) error {
	ref := a.Ref
	if ref == "" {
		// An SMS reply names only the number it came from: it answers the
		// newest notification of an open incident sent to that number.
		ref = e.latestTo(ctx, a.By)
		if ref == "" {
			return ErrNoOpenAlert
		}
	}
	inc, err := e.Mover.ReplyToNotification(ctx, ref, replyOf(a))
	switch {
	case errors.Is(err, devices.ErrNotFound) || errors.Is(err, dispatch.ErrInvalid):
		// A row we no longer know, or one that is not a person's: Twilio
		// repeating the callback would not change that.
		return ErrNoOpenAlert
	case err != nil:
		return err
	case inc.State.Closed():
		return ErrNoOpenAlert // recorded on the timeline, acted on by nobody
	}
	return nil
}

// answerable are the states whose incidents a reply may still answer:
// acknowledged too, since "2, I am with them" after "1" still counts.
var answerable = dispatch.ActiveStates()

func (e DispatchEvents) latestTo(ctx context.Context, phone string) string {
	if e.Latest == nil || phone == "" {
		return ""
	}
	r, found, err := e.Latest.LatestNotificationTo(ctx, phone, []dispatch.Channel{dispatch.ChannelSMS, dispatch.ChannelVoice}, answerable)
	if err != nil || !found {
		return ""
	}
	return r.Key
}

// replyOf maps a person's answer on Twilio onto the dispatch core's.
func replyOf(a Ack) dispatch.Reply {
	r := dispatch.Reply{State: dispatch.ResponderAcknowledged, Text: a.Payload}
	switch a.Answer {
	case AnswerOnTheWay:
		r.State, r.ETAMinutes = dispatch.ResponderOnTheWay, a.ETAMinutes
	case AnswerOnScene:
		r.State = dispatch.ResponderOnScene
	case AnswerSafe:
		r.State = dispatch.ResponderResidentSafe
	case AnswerCall119:
		r.Call119 = true
	}
	return r
}
