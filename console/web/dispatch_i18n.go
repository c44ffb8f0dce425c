package web

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/dispatch/wording"
)

// The dispatcher's console and the reports in Korean and English, merged
// into webText at start.

func init() {
	for k, v := range dispatchText {
		webText[k] = v
	}
}

var dispatchText = map[string][2]string{
	"queue.na":                 {"출동 관리 기능이 연결되지 않았습니다.", "Dispatch is not connected."},
	"queue.empty":              {"대기 중인 응급상황이 없습니다.", "No incidents waiting."},
	"queue.filter":             {"보기", "Show"},
	"queue.priority":           {"우선순위", "Priority"},
	"queue.any":                {"전체", "All"},
	"queue.apply":              {"적용", "Apply"},
	"queue.cause":              {"상황", "What"},
	"queue.resident":           {"대상자", "Who"},
	"queue.where":              {"위치", "Where"},
	"queue.state":              {"상태", "State"},
	"queue.waited":             {"발생 후", "Since it began"},
	"queue.handler":            {"담당", "Handled by"},
	"queue.sound":              {"경보음 켜기", "Turn alarm sound on"},
	"queue.sound.on":           {"경보음 켜짐", "Alarm sound on"},
	"queue.live":               {"실시간 연결됨", "Live"},
	"queue.offline":            {"연결 끊김 · 다시 연결 중", "Disconnected · reconnecting"},
	"queue.p1":                 {"P1 긴급 상황이 접수되었습니다", "P1 emergency waiting"},
	"queue.sido":               {"시도", "Province"},
	"queue.noroute":            {"119 경로 없음:", "No 119 route:"},
	"queue.noroute.help":       {"아래 사건의 119 신고가 보낼 곳이 없어 대기 중입니다. 119에 전화로 알리고, 관리자에게 경로(또는 대상자의 시군구) 설정을 요청하세요.", "the 119 alerts of these incidents have nowhere to go and are waiting. Phone 119, and ask an admin to set the route (or the resident's district)."},
	"queue.noroute.nodistrict": {"시군구 없는 대상자", "resident without a district"},
	"queue.unknown":            {"미등록 대상자", "Unregistered resident"},
	"inc.title":                {"응급상황", "Incident"},
	"inc.began":                {"발생 시각", "Began"},
	"inc.since":                {"발생 후", "Since it began"},
	"inc.also":                 {"함께 감지:", "also:"},
	"inc.room":                 {"감지 위치", "Alarm from"},
	"inc.room.unknown":         {"센서 위치 미등록", "Sensor's room not registered"},
	"inc.sensor.unknown":       {"미등록 센서", "unregistered sensor"},
	"inc.none":                 {"없음", "none"},
	"inc.noguardian":           {"등록된 보호자가 없습니다.", "No guardian registered."},
	"inc.closed.noact":         {"종결된 응급상황입니다.", "This incident is closed."},
	"inc.device":               {"장비", "Device"},
	"queue.tabs":               {"대기열 종류", "Queues"},
	"queue.tab.emergency":      {"응급 (119)", "Emergencies (119)"},
	"queue.tab.devices":        {"장비 점검", "Device health"},
	"queue.samehome":           {"↳ 같은 가구", "↳ same home"},
	"queue.more":               {"같은 가구 %d건 더", "%d more in this home"},
	"queue.nohome":             {"대상자 미등록", "No resident registered"},
	"queue.since":              {"발생", "Began"},
	"queue.empty.devices":      {"점검할 장비 문제가 없습니다.", "No device problems waiting."},
	"metric.other":             {"측정값", "Measurement"},
	"gstate.none":              {"아직 연락 안 함", "not contacted yet"},
	"inc.took":                 {"처리 시간", "Took"},
	"inc.count":                {"반복 감지", "Repeated triggers"},
	"inc.evidence":             {"감지 근거", "Evidence"},
	"inc.evidence.none":        {"이 시간대에 기록된 측정값이 없습니다.", "No evidence recorded for this time."},
	"inc.evidence.nochart":     {"이 유형은 측정 그래프가 없습니다.", "No measurements to chart for this kind of incident."},
	"inc.evidence.failed":      {"측정값을 읽지 못했습니다.", "The measurements could not be read."},
	"inc.facts":                {"판단 근거 값", "Facts"},
	"inc.coords":               {"좌표", "Coordinates"},
	"inc.hub":                  {"허브", "Hub"},
	"inc.sensor":               {"센서", "Sensor"},
	"inc.notifications":        {"연락 현황 (보호자·기관)", "Who was told, and what they answered"},
	"inc.to":                   {"받는 사람", "To"},
	"inc.channel":              {"방법", "Channel"},
	"inc.message":              {"내용", "Message"},
	"inc.answer":               {"응답", "Answer"},
	"inc.sentat":               {"보낸 시각", "Sent"},
	"inc.updated":              {"최근 변경", "Last change"},
	"inc.nonotify":             {"아직 연락한 곳이 없습니다.", "Nobody has been notified yet."},
	"inc.119":                  {"119 진행 상황", "119 status"},
	"inc.119.none":             {"119에 신고되지 않았습니다.", "119 has not been alerted."},
	"inc.timeline":             {"처리 기록", "Timeline"},
	"inc.actions":              {"조치", "Actions"},
	"inc.ack":                  {"접수 확인", "Acknowledge"},
	"inc.acked":                {"접수 확인됨", "Acknowledged"},
	"inc.assign":               {"담당자 지정", "Assign"},
	"inc.assign.self":          {"내가 맡기", "Take it myself"},
	"inc.assignee":             {"담당자 아이디", "Assignee user name"},
	"inc.note":                 {"메모 추가", "Add note"},
	"inc.note.text":            {"메모", "Note"},
	"inc.mark119":              {"119 상태 기록", "Record 119 status"},
	"inc.resolve":              {"종결", "Resolve"},
	"inc.disposition":          {"결과", "Outcome"},
	"inc.cancel":               {"오경보로 취소 (119 취소 통보)", "Cancel as false alarm (tells 119)"},
	"inc.cancel.confirm":       {"오경보로 취소하고 119에 취소를 통보할까요?", "Cancel as a false alarm and tell 119?"},
	"inc.reason":               {"사유", "Reason"},
	"inc.error.closed":         {"이미 종결된 응급상황입니다.", "The incident is already closed."},
	"inc.error.invalid":        {"입력이 올바르지 않습니다.", "The input is not valid."},
	"inc.readonly":             {"조치는 상황요원만 할 수 있습니다.", "Only dispatchers act on incidents."},
	"inc.assigned":             {"담당", "Assigned"},
	"inc.status119":            {"119", "119"},
	"inc.view":                 {"열기", "Open"},
	"inc.all":                  {"대기열로", "Back to queue"},
	"unit.s":                   {"초", "s"},
	"step.alerted":             {"신고", "Alerted"},
	"step.accepted":            {"접수", "Accepted"},
	"step.dispatched":          {"출동", "Dispatched"},
	"step.on_scene":            {"현장 도착", "On scene"},
	"step.closed":              {"종료", "Closed"},

	"metric.accel_g":     {"가속도 크기 (g)", "Acceleration magnitude (g)"},
	"metric.heart_rate":  {"심박수 (회/분)", "Heart rate (bpm)"},
	"metric.respiration": {"호흡수 (회/분)", "Breathing (per minute)"},
	"metric.bed":         {"침대 재실 (0 비어 있음, 1 누워 있음)", "In bed (0 empty, 1 occupied)"},
	"metric.temperature": {"온도 (°C)", "Temperature (°C)"},
	"metric.smoke":       {"연기 농도 (%/ft)", "Smoke (%/ft)"},
	"metric.co":          {"일산화탄소 (ppm)", "Carbon monoxide (ppm)"},
	"metric.gas":         {"가스 (%LEL)", "Gas (%LEL)"},
	"metric.humidity":    {"습도 (%)", "Humidity (%)"},
	"metric.motion":      {"움직임 감지 횟수", "Motion count"},
	"metric.door":        {"현관문 (1 열림)", "Door (1 open)"},

	"reports.period":           {"기간", "Period"},
	"reports.from":             {"시작일", "From"},
	"reports.to":               {"종료일", "To"},
	"reports.show":             {"조회", "Show"},
	"reports.total":            {"응급상황", "Incidents"},
	"reports.falsetotal":       {"오경보", "False alarms"},
	"reports.step":             {"단계", "Step"},
	"reports.channel":          {"채널", "Channel"},
	"reports.n":                {"건수", "Count"},
	"reports.within60":         {"60초 이내", "Within 60 s"},
	"reports.within180":        {"180초 이내", "Within 180 s"},
	"reports.norm":             {"기준 (TSA): 60초 이내 97.5%, 180초 이내 99%. 발생부터 접수 확인까지.", "Norm (TSA): 97.5% within 60 s, 99% within 180 s. From opening to acknowledgement."},
	"reports.unacked":          {"확인되지 않은 응급상황", "Never acknowledged"},
	"reports.bycause":          {"원인별", "By cause"},
	"reports.bydevice":         {"장비별 (민감한 장비 찾기)", "By device (finding sensitive devices)"},
	"reports.byhome":           {"가구별", "By home"},
	"reports.false.note":       {"오경보: '오경보'로 종결되었거나 취소된 건 (본인 취소 포함). 장비 상태 알림 제외.", "False alarm: resolved as a false alarm, or cancelled (by the resident too). Device-health alerts excluded."},
	"reports.export":           {"CSV 내려받기", "Download CSV"},
	"reports.export.ack":       {"접수 시간", "Acknowledgement times"},
	"reports.export.false":     {"오경보", "False alarms"},
	"reports.export.incidents": {"전체 응급상황 목록", "Every incident"},
	"reports.none":             {"이 기간에 자료가 없습니다.", "Nothing in this period."},
	"reports.scoped":           {"내 담당 대상자만 집계합니다.", "Only my residents are counted."},
	"reports.badperiod":        {"기간이 올바르지 않아 최근 30일을 표시합니다.", "Invalid period: showing the last 30 days."},
	"reports.step.all":         {"전체", "All"},
	"reports.step.console":     {"관제 화면", "Console"},
	"reports.step.119":         {"119", "119"},
	"reports.step.n":           {"단계", "step"},
	"reports.share":            {"비율", "Share"},
	"reports.meets":            {"충족", "meets"},
	"reports.misses":           {"미달", "misses"},
}

func init() {
	// The words dispatch's records share with its CAP description.
	wording.Each(func(key string, words [2]string) { webText[key] = words })
}

// timelineLine is one timeline entry in the reader's language.
type timelineLine struct {
	Actor, Action, Channel, Detail string
}

var (
	openedRe    = regexp.MustCompile(`^P(\d) (\S+) \((\S+)\): ?(.*)$`)
	repeatedRe  = regexp.MustCompile(`^(\S+) #(\d+): ?(.*)$`)
	closedRe    = regexp.MustCompile(`^(\S+) after the incident was closed; no action$`)
	checkInRe   = regexp.MustCompile(`^asking the resident through the hub; cancel window (\S+)$`)
	stepRe      = regexp.MustCompile(`^step (\d+): (.*)$`)
	targetRe    = regexp.MustCompile(`^(\S+) (.+) via (\S+)$`)
	refRe       = regexp.MustCompile(`^ \(ref (.+)\)$`)
	afterRe     = regexp.MustCompile(`^(.*) \(after (\d+) tries\)$`)
	retryRe     = regexp.MustCompile(`^(.*); retrying until (\S+)$`)
	countFactRe = regexp.MustCompile(`^(\d+) (events|readings)$`)
	// dispatch's fold.go: a related episode joined, the cause rose, one
	// episode ended while another goes on, a restart's re-send.
	foldedRe  = regexp.MustCompile(`^(\S+) \((\S+)\)(?: from (\S+))? at (\S+) joined the incident(?:: (.*))?$`)
	raisedRe  = regexp.MustCompile(`^(\S+) -> (\S+)$`)
	endedRe   = regexp.MustCompile(`^(\S+) (\S+); still going on: (.+)$`)
	restartRe = regexp.MustCompile(`^(\S+) (\S+) re-sent after a gateway restart; nothing new$`)
)

// TimelineLine words a timeline entry for the reader: dispatch records
// actions and details in English for the audit; the console shows them in
// the reader's language, and anything it does not recognise as recorded.
func (p *pageData) TimelineLine(e dispatch.TimelineEntry) timelineLine {
	l := timelineLine{Actor: p.actor(e.Actor), Action: translateOr(p.Lang, "act."+e.Action, e.Action), Detail: e.Detail}
	if e.Channel != "" {
		l.Channel = translateOr(p.Lang, "chan."+string(e.Channel), string(e.Channel))
	}
	d := e.Detail
	switch e.Action {
	case dispatch.ActOpened:
		if m := openedRe.FindStringSubmatch(d); m != nil {
			l.Detail = wording.Join(" · ", "P"+m[1]+" "+p.Cause(detectors.Cause(m[2])), p.Label("det."+m[3], m[3]), p.facts(m[4]))
		}
	case dispatch.ActRepeated:
		if m := closedRe.FindStringSubmatch(d); m != nil {
			l.Detail = fmt.Sprintf(p.T("tl.repeat.closed"), p.Label("det."+m[1], m[1]))
		} else if m := repeatedRe.FindStringSubmatch(d); m != nil {
			n, _ := strconv.Atoi(m[2])
			l.Detail = wording.Join(" · ", fmt.Sprintf(p.T("tl.repeat"), p.Label("det."+m[1], m[1]), n), p.facts(m[3]))
		}
	case dispatch.ActFolded:
		if m := foldedRe.FindStringSubmatch(d); m != nil {
			sensor := ""
			if m[3] != "" {
				sensor = p.sensorPlace(devices.SensorID(m[3])) // its room and kind, never its id
			}
			at, err := time.Parse(time.RFC3339, m[4])
			when := m[4]
			if err == nil {
				when = p.Clock(at)
			}
			l.Detail = wording.Join(" · ", p.Cause(detectors.Cause(m[1])), p.Label("det."+m[2], m[2]), sensor, when, p.facts(m[5]))
		}
	case dispatch.ActCauseRaised:
		if m := raisedRe.FindStringSubmatch(d); m != nil {
			l.Detail = p.Cause(detectors.Cause(m[1])) + " → " + p.Cause(detectors.Cause(m[2]))
		}
	case dispatch.ActEpisodeEnded:
		if m := endedRe.FindStringSubmatch(d); m != nil {
			var still []string
			for _, c := range strings.Split(m[3], ", ") {
				still = append(still, p.Cause(detectors.Cause(c)))
			}
			l.Detail = fmt.Sprintf(p.T("tl.still"), p.Cause(detectors.Cause(m[1])), p.Label("det."+m[2], m[2]), strings.Join(still, ", "))
		}
	case dispatch.ActRestartNote:
		if m := restartRe.FindStringSubmatch(d); m != nil {
			l.Detail = fmt.Sprintf(p.T("tl.restart"), p.Cause(detectors.Cause(m[1])), p.Label("det."+m[2], m[2]))
		}
	case dispatch.ActCheckIn:
		if m := checkInRe.FindStringSubmatch(d); m != nil {
			l.Detail = fmt.Sprintf(p.T("tl.checkin"), p.duration(m[1]))
		}
	case dispatch.ActVerifyTimeout:
		if d == "the resident did not cancel within the window" {
			l.Detail = p.T("tl.verify.timeout")
		}
	case dispatch.ActEscalated:
		if m := stepRe.FindStringSubmatch(d); m != nil {
			n, _ := strconv.Atoi(m[1])
			l.Action += " (" + fmt.Sprintf(p.T("tl.step"), n+1) + ")"
			l.Detail = p.targets(m[2])
		}
	case dispatch.ActSent, dispatch.ActDelivered, dispatch.ActFailed, dispatch.ActRetrying:
		l.Detail = p.outboxDetail(d)
	case dispatch.ActAcknowledged:
		if d == "escalation stopped" {
			l.Detail = p.T("tl.escalation")
		}
	case dispatch.ActCancelled:
		if d == "cancelled by the resident" {
			l.Detail = p.T("tl.resident.cancel")
		}
	case dispatch.ActQueued:
		if d == "cancel to 119" {
			l.Detail = p.T("tl.cancel119")
		} else if list, ok := strings.CutPrefix(d, "119 has it: "); ok {
			l.Detail = fmt.Sprintf(p.T("tl.with119"), p.targets(list))
		} else if list, ok := strings.CutPrefix(d, "the resident is all right: "); ok {
			l.Detail = fmt.Sprintf(p.T("tl.recovered"), p.targets(list))
		}
	case dispatch.ActResolved:
		code, note, _ := strings.Cut(d, ": ")
		if note == "the device condition cleared" {
			note = p.T("tl.cleared")
		}
		if label := translateOr(p.Lang, "disp."+code, ""); label != "" {
			l.Detail = wording.Join(": ", label, note)
		}
	case dispatch.ActResponder, dispatch.ActSend119:
		l.Detail = p.responderDetail(e.Action, d)
	case dispatch.ActAssigned:
		if d == "unassigned" {
			l.Detail = p.T("tl.unassigned")
		}
	case dispatch.Act119:
		status, reason, _ := strings.Cut(d, ": ")
		if label := translateOr(p.Lang, "status119."+status, ""); label != "" {
			l.Detail = wording.Join(": ", label, reason)
		}
	case dispatch.ActSkipped:
		if line, ok := p.skippedAnswered(d); ok {
			l.Detail = line
		} else if label := translateOr(p.Lang, "skip."+d, ""); label != "" {
			l.Detail = label
		} else if role, why, ok := strings.Cut(d, ": "); ok {
			l.Detail = p.Label("who."+role, role) + ": " + p.Label("skip."+why, why)
		}
	}
	return l
}

// actor words who acted: a role and name ("guardian:최영희"), a system
// actor, or an account by its person's name.
func (p *pageData) actor(a string) string { return p.Person(a) }

// outboxDetail words dispatch's label of an outbox row and what follows it:
// a provider reference, a provider status, an error and its tries.
func (p *pageData) outboxDetail(d string) string {
	var label, rest string
	if r, ok := strings.CutPrefix(d, "check-in command to the hub"); ok {
		label, rest = p.T("tl.checkin.cmd"), r
	} else if row, after, ok := wording.ParseRow(d); ok {
		label = wording.RowText(p.Lang, row)
		label += " (" + fmt.Sprintf(p.T("tl.step"), row.Step+1) + ", " + fmt.Sprintf(p.T("tl.attempt"), row.Attempt) + ")"
		rest = after
	} else {
		return d
	}
	if m := refRe.FindStringSubmatch(rest); m != nil {
		return label + " · " + fmt.Sprintf(p.T("tl.ref"), m[1])
	}
	what, ok := strings.CutPrefix(rest, ": ")
	if !ok {
		return label + rest
	}
	if m := afterRe.FindStringSubmatch(what); m != nil {
		n, _ := strconv.Atoi(m[2])
		return label + " — " + fmt.Sprintf(p.T("tl.after"), p.ErrorText(m[1]), n)
	}
	if m := retryRe.FindStringSubmatch(what); m != nil {
		at := m[2]
		if t, err := time.Parse(time.RFC3339, m[2]); err == nil {
			at = p.Clock(t)
		}
		return label + " — " + fmt.Sprintf(p.T("tl.retry"), p.ErrorText(m[1]), at)
	}
	return label + " — " + p.ErrorText(what)
}

// targets words an escalation step's "role name via channel; ..." list.
func (p *pageData) targets(list string) string {
	if list == "nobody to notify" {
		return p.T("tl.nobody")
	}
	var out []string
	for _, t := range strings.Split(list, "; ") {
		m := targetRe.FindStringSubmatch(t)
		if m == nil {
			out = append(out, t)
			continue
		}
		if m[1] == "119" {
			out = append(out, p.Label("chan."+m[3], m[3]))
			continue
		}
		who := wording.Join(" ", p.Label("who."+m[1], m[1]), m[2])
		out = append(out, who+" ("+p.Label("chan."+m[3], m[3])+")")
	}
	return strings.Join(out, ", ")
}

// facts words dispatch's evidence summary "name=value unit, N events".
func (p *pageData) facts(s string) string {
	if s == "" {
		return ""
	}
	parts := strings.Split(s, ", ")
	for i, f := range parts {
		if m := countFactRe.FindStringSubmatch(f); m != nil {
			parts[i] = fmt.Sprintf(p.T("tl."+m[2]), m[1])
			continue
		}
		parts[i] = strings.Replace(f, "=", " ", 1)
		if name, rest, ok := strings.Cut(f, "="); ok {
			num, unit, _ := strings.Cut(rest, " ")
			if v, err := strconv.ParseFloat(num, 64); err == nil {
				ft := p.Fact(detectors.Fact{Name: name, Value: v, Unit: unit})
				parts[i] = ft.Name + " " + ft.Value
			}
		}
	}
	return strings.Join(parts, ", ")
}

// duration words a Go duration ("1m30s") as 1분 30초 or 1 min 30 s.
func (p *pageData) duration(s string) string {
	d, err := time.ParseDuration(s)
	if err != nil {
		return s
	}
	return p.Waited(d)
}
