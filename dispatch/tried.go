package dispatch

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/dispatch/wording"
)

// TriedLine is one thing done so far about an incident, in Korean and
// English, for the people who read it (119's "조치 내역"): never an
// internal word, a provider's reference or a raw error.
type TriedLine struct {
	Ko string `json:"ko"`
	En string `json:"en"`
}

// triedKinds are the timeline actions that say what was tried.
var triedKinds = map[string]bool{ActCheckIn: true, ActSent: true, ActDelivered: true, ActFailed: true, ActAcknowledged: true,
	Act119: true, ActVerifyTimeout: true, ActUpdate119: true, ActResponder: true, ActSend119: true}

// triedSummary condenses the timeline into what has been tried so far,
// the last 20 lines, each with its time ("10:02:03 ...").
func triedSummary(tl []TimelineEntry, loc *time.Location) []TriedLine {
	var out []TriedLine
	for _, e := range tl {
		if !triedKinds[e.Action] {
			continue
		}
		ko, okKo := triedText("ko", e)
		en, okEn := triedText("en", e)
		if !okKo || !okEn {
			continue // a detail of a shape not known: left out rather than shown raw
		}
		at := e.At.In(loc).Format("15:04:05") + " "
		out = append(out, TriedLine{Ko: at + ko, En: at + en})
	}
	if len(out) > 20 {
		out = out[len(out)-20:]
	}
	return out
}

// triedText words one timeline entry of triedKinds in lang.
func triedText(lang string, e TimelineEntry) (string, bool) {
	w := func(key string, args ...any) string { return fmt.Sprintf(wording.Text(lang, key), args...) }
	d := e.Detail
	switch e.Action {
	case ActCheckIn:
		window := ""
		if _, after, ok := strings.Cut(d, "cancel window "); ok {
			if dur, err := time.ParseDuration(after); err == nil {
				window = wording.Duration(lang, dur)
			}
		}
		return w("tried.checkin", window), window != ""
	case ActVerifyTimeout:
		return w("tried.verify"), true
	case ActUpdate119:
		_, what, _ := strings.Cut(d, ": ")
		if news := newsText(lang, what); news != "" {
			return w("tried.update.news", news), true
		}
		return w("tried.update"), true
	case Act119:
		status, _, _ := strings.Cut(d, ": ")
		if !wording.Has("ans119." + status) {
			return "", false
		}
		return w("tried.119", wording.Text(lang, "ans119."+status)), true
	case ActAcknowledged:
		return w("tried.ack", actorText(lang, e.Actor)), true
	case ActSend119:
		key := "tried.send119"
		if strings.HasPrefix(d, "119 already alerted") {
			key = "tried.send119.again"
		}
		return w(key, actorText(lang, e.Actor)), true
	case ActResponder:
		a, _, ok := wording.ParseAnswer(d)
		if !ok {
			return "", false
		}
		state := wording.Or(lang, "rs."+a.State, "")
		if a.ETAMinutes > 0 {
			state += " (" + w("tl.eta", a.ETAMinutes) + ")"
		}
		return w("tried.answer", whoText(lang, a.Role, a.Name), state), state != ""
	case ActSent, ActDelivered, ActFailed:
		label, rest, ok := rowText(lang, d)
		if !ok {
			return "", false
		}
		switch e.Action {
		case ActSent:
			return w("tried.sent", label), true
		case ActDelivered:
			status := strings.TrimPrefix(rest, ": ")
			return w("tried.delivered", label, wording.Or(lang, "provider."+status, wording.Text(lang, "provider.delivered"))), true
		default:
			why := strings.TrimPrefix(rest, ": ")
			if i := strings.LastIndex(why, " (after "); i >= 0 {
				why = why[:i]
			}
			return w("tried.failed", label, wording.Text(lang, wording.ErrorKey(why))), true
		}
	}
	return "", false
}

// rowText words rowLabel's text at the start of d, and returns what
// follows it.
func rowText(lang, d string) (label, rest string, ok bool) {
	if r, ok := strings.CutPrefix(d, rowLabel(&OutboxRow{Kind: KindCommand})); ok {
		return wording.Text(lang, "tl.checkin.cmd"), r, true
	}
	row, rest, ok := wording.ParseRow(d)
	if !ok {
		return "", "", false
	}
	return wording.RowText(lang, row), rest, true
}

// actorText words who acted: 119 (with its unit), a responder by role and
// name, the system, the detector, the resident; a console account's id is
// internal, so any other actor is "a dispatcher".
func actorText(lang, actor string) string {
	switch {
	case actor == actor119 || strings.HasPrefix(actor, actor119+" "):
		return wording.Text(lang, "actor.119")
	case wording.Has("actor." + actor):
		return wording.Text(lang, "actor."+actor)
	}
	if role, name, ok := strings.Cut(actor, ":"); ok && wording.Has("who."+role) {
		return whoText(lang, role, name)
	}
	return wording.Text(lang, "actor.person")
}

// whoText words a responder: "보호자 최영희".
func whoText(lang, role, name string) string {
	return strings.TrimSpace(wording.Or(lang, "who."+role, "") + " " + name)
}

// windowEnded is the incident's explanation once its check-in window ended
// (key: why.window.ended, or why.window.send119 when a person's "send to
// 119 now" ended it): the detector's words while it waited ("waiting 30 s
// for the resident to cancel") are no longer true, and 119 reads them.
func windowEnded(inc *Incident, window time.Duration, key string) (ko, en string) {
	say := func(lang string) string {
		var facts []string
		for _, f := range inc.Evidence.Facts {
			// Measurements only (an impact's g, a gas level): a time such as
			// the window left was true while it waited, not now.
			if f.Unit == "" || f.Unit == "s" || f.Unit == "min" || f.Unit == "unix_s" || !wording.Has("fact."+f.Name) {
				continue
			}
			facts = append(facts, wording.Text(lang, "fact."+f.Name)+" "+strconv.FormatFloat(f.Value, 'g', 3, 64)+" "+f.Unit)
		}
		list := ""
		if len(facts) > 0 {
			list = " (" + strings.Join(facts, ", ") + ")"
		}
		cause := wording.Or(lang, "cause."+string(inc.Cause), string(inc.Cause))
		if key == "why.window.send119" {
			return fmt.Sprintf(wording.Text(lang, key), cause, list)
		}
		return fmt.Sprintf(wording.Text(lang, key), cause, list, wording.Duration(lang, window))
	}
	return say("ko"), say("en")
}

// newsText words what an Update tells 119 (update119's what: the fold's
// news "also sos, priority P1, cause fire_confirmed", a responder's answer,
// a condition of the home meanwhile "hub_offline (...)"); what it does not
// know is left out.
func newsText(lang, what string) string {
	if a, _, ok := wording.ParseAnswer(what); ok {
		state := wording.Or(lang, "rs."+a.State, "")
		if state == "" {
			return ""
		}
		if a.ETAMinutes > 0 {
			state += " (" + fmt.Sprintf(wording.Text(lang, "tl.eta"), a.ETAMinutes) + ")"
		}
		return whoText(lang, a.Role, a.Name) + ": " + state
	}
	cause := func(c string) (string, bool) {
		if !wording.Has("cause." + c) {
			return "", false
		}
		return wording.Text(lang, "cause."+c), true
	}
	var out []string
	for _, item := range strings.Split(what, ", ") {
		word, arg, _ := strings.Cut(item, " ")
		var text string
		ok := false
		switch {
		case word == "also":
			if text, ok = cause(arg); ok {
				text = fmt.Sprintf(wording.Text(lang, "news.also"), text)
			}
		case word == "cause":
			if text, ok = cause(arg); ok {
				text = fmt.Sprintf(wording.Text(lang, "news.cause"), text)
			}
		case word == "priority":
			text, ok = fmt.Sprintf(wording.Text(lang, "news.priority"), arg), strings.HasPrefix(arg, "P")
		case item == "now an emergency":
			text, ok = wording.Text(lang, "news.emergency"), true
		case word == "sensor":
			text, ok = wording.Text(lang, "news.sensor"), true
		case arg == "again":
			if text, ok = cause(word); ok {
				text = fmt.Sprintf(wording.Text(lang, "news.again"), text)
			}
		case wording.Has("fact." + item):
			text, ok = wording.Text(lang, "fact."+item), true
		default:
			// onRelated: "hub_offline (the detector's explanation)".
			text, ok = cause(word)
		}
		if ok {
			out = append(out, text)
		}
	}
	return strings.Join(out, ", ")
}
