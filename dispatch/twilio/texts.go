package twilio

import (
	"context"
	"strings"
)

// Undelivered is told of a text (Client.SendText) that did not reach its
// number (*workorder.Desk): ref and the SMS's sid, and Twilio's word and
// error code.
type Undelivered interface {
	Undelivered(ctx context.Context, ref, sid, reason string) error
}

// TextEvents applies the delivery reports of texts sent with SendText: an
// SMS undelivered or failed goes to Texts; the rest needs nothing (a text
// asks no answer, and a reply to it names no ref: Twilio ties a reply to a
// number, and the number's replies belong to dispatch).
type TextEvents struct{ Texts Undelivered }

var _ Events = TextEvents{}

func (e TextEvents) Status(ctx context.Context, r Report) error {
	if r.Status != StatusFailed && r.Status != StatusCanceled {
		return nil
	}
	reason := r.Raw
	if r.ErrorCode != "" {
		reason += " (" + r.ErrorCode + ")"
	}
	return e.Texts.Undelivered(ctx, r.Ref, r.SID, reason)
}

func (TextEvents) Acknowledged(context.Context, Ack) error { return nil }

// RefPrefixes routes callbacks by the prefix of their ref: those whose ref
// begins with a key of Routes go there, the rest (and every SMS reply,
// which has no ref) to Rest. No prefix may begin another (which one wins
// would be left to the map's order).
type RefPrefixes struct {
	Routes map[string]Events
	Rest   Events
}

var _ Events = RefPrefixes{}

func (p RefPrefixes) of(ref string) Events {
	for prefix, e := range p.Routes {
		if ref != "" && strings.HasPrefix(ref, prefix) {
			return e
		}
	}
	return p.Rest
}

func (p RefPrefixes) Status(ctx context.Context, r Report) error {
	return p.of(r.Ref).Status(ctx, r)
}

func (p RefPrefixes) Acknowledged(ctx context.Context, a Ack) error {
	return p.of(a.Ref).Acknowledged(ctx, a)
}
