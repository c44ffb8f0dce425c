package web

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/wording"
)

// The incident's responders (who was contacted and what each said) and
// "send to 119 now", in the reader's language. dispatch records them in
// English for the audit (docs/dispatch.md, "Responders").

func init() {
	for k, v := range responderText {
		webText[k] = v
	}
}

var responderText = map[string][2]string{

	"inc.responders":      {"보호자·응답자 현황", "Responders"},
	"inc.responder":       {"응답자", "Responder"},
	"inc.responder.state": {"상태", "State"},
	"inc.responder.eta":   {"도착까지 (분)", "Minutes to arrive"},
	"inc.responder.set":   {"상태 기록", "Record state"},
	"inc.send119":         {"119 즉시 신고", "Send to 119 now"},
	"inc.send119.reason":  {"관제 판단: 즉시 출동 필요", "dispatcher's decision: send help now"},
	"inc.send119.confirm": {"지금 119에 신고할까요?", "Send this incident to 119 now?"},
	"inc.send119.done":    {"119에 신고됨 (다시 누르면 기록만 남습니다)", "119 has the alert (pressing again is only recorded)"},
	"rs.eta":              {"도착 예정 %d분 (%s)", "ETA %d min (%s)"},
	"rs.set_by":           {"%s 기록", "recorded by %s"},
	"act.responder":       {"응답자 상태", "Responder"},
	"act.send_119":        {"119 신고 요청", "Send to 119"},
	"tl.reply":            {"답장 %s", "reply %s"},
	"tl.late":             {"종결 후 응답", "after the incident was closed"},
	"tl.send119.queued":   {"119에 신고 전송", "alert to 119 queued"},
	"tl.send119.again":    {"이미 119에 신고됨, 다시 보내지 않음", "119 already alerted; not sent again"},
	"tl.send119.closed":   {"종결된 응급상황이라 보내지 않음", "not sent: the incident was already closed"},
	"tl.send119.asked":    {"%s 요청", "asked by %s"},
	"tl.skip.answered":    {"%s: 이미 응답함 (%s), 다시 연락하지 않음", "%s: answered already (%s), not contacted again"},
	"inc.error.responder": {"응답자 또는 상태가 올바르지 않습니다.", "Unknown responder or state."},
}

var (
	// dispatch's responderDetail: "guardian:최영희 on_the_way eta 20m; reply \"1 20\"".
	// runStep's skip of a responder who answered: "guardian:최영희 answered already (on_the_way)".
	answeredRe = regexp.MustCompile(`^(\S+?):(.*) answered already \((\S+)\)$`)
)

// who words a responder label ("guardian:최영희") as "보호자 최영희".
func (p *pageData) who(role, name string) string {
	return strings.TrimSpace(p.Label("who."+role, role) + " " + name)
}

// responderDetail words the timeline detail of a responder's answer or of
// a send-to-119 request; anything else is shown as recorded.
func (p *pageData) responderDetail(action, d string) string {
	if action == dispatch.ActSend119 {
		for _, k := range []string{"alert to 119 queued", "119 already alerted; not sent again", "not sent: the incident was already closed"} {
			rest, ok := strings.CutPrefix(d, k)
			if !ok {
				continue
			}
			key := map[string]string{"alert to 119 queued": "tl.send119.queued", "119 already alerted; not sent again": "tl.send119.again",
				"not sent: the incident was already closed": "tl.send119.closed"}[k]
			reason := strings.TrimPrefix(rest, ": ")
			if by, ok := strings.CutPrefix(reason, "asked by "); ok {
				if role, name, ok := strings.Cut(by, ":"); ok {
					reason = fmt.Sprintf(p.T("tl.send119.asked"), p.who(role, name))
				}
			}
			return wording.Join(": ", p.T(key), reason)
		}
		return d
	}
	a, late, ok := wording.ParseAnswer(d)
	if !ok {
		return d
	}
	parts := []string{p.who(a.Role, a.Name) + ": " + p.Label("rs."+a.State, a.State)}
	if a.ETAMinutes > 0 {
		parts[0] += " (" + fmt.Sprintf(p.T("tl.eta"), a.ETAMinutes) + ")"
	}
	if a.Reply != "" {
		if text, err := strconv.Unquote(a.Reply); err == nil {
			parts = append(parts, fmt.Sprintf(p.T("tl.reply"), strconv.Quote(text)))
		}
	}
	if late {
		parts = append(parts, p.T("tl.late"))
	}
	return wording.Join(" · ", parts...)
}

// skippedAnswered words runStep's skip of a responder who answered
// already; ok is false for any other skip.
func (p *pageData) skippedAnswered(d string) (string, bool) {
	_, rest, ok := strings.Cut(d, ": ")
	if !ok {
		return "", false
	}
	m := answeredRe.FindStringSubmatch(rest)
	if m == nil {
		return "", false
	}
	return fmt.Sprintf(p.T("tl.skip.answered"), p.who(m[1], m[2]), p.Label("rs."+m[3], m[3])), true
}

// ResponderLine is one responder as the incident page lists them:
// "보호자 최영희 010-****-5432 — 가는 중, 도착 예정 20분 (21:05)".
func (p *pageData) ResponderLine(r dispatch.Responder) string {
	s := p.who(string(r.Role), r.Name)
	if r.Phone != "" {
		s += " " + r.Phone
	}
	s += " — " + p.Label("rs."+string(r.State), string(r.State))
	if r.ETAMinutes > 0 {
		s += ", " + fmt.Sprintf(p.T("rs.eta"), r.ETAMinutes, r.ETA.In(p.loc).Format("15:04"))
	}
	if r.SetBy != "" {
		s += " · " + fmt.Sprintf(p.T("rs.set_by"), p.Person(r.SetBy))
	}
	return s
}
