// Package wording is the words for what dispatch records: causes, states,
// message types, recipients, channels, timeline actions, 119's answers,
// providers' statuses and channels' errors, and what the people who know
// the resident are told happened, in Korean and English. Dispatch
// records its timeline in English for the audit; the console's pages and
// the CAP description's "조치 내역" (what was tried) both say it to people,
// so both read this one table. It imports nothing of the project: the
// record formats it parses (ParseRow, ParseResponder) are dispatch's, and
// dispatch's tests hold them to it.
package wording

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// words is key -> {Korean, English}.
var words = map[string][2]string{
	"status119.other":          {"119 응답", "119 answer"},
	"chan.other":               {"기타 경로", "other channel"},
	"who.other":                {"기타", "other"},
	"msg.other":                {"알림", "message"},
	"out.other":                {"처리 중", "in progress"},
	"status119.accepted":       {"119 접수", "119 accepted"},
	"status119.dispatched":     {"출동함", "Dispatched"},
	"status119.on_scene":       {"현장 도착", "On scene"},
	"status119.rejected":       {"119 거절", "119 rejected"},
	"status119.closed":         {"119 종료", "119 closed"},
	"cause.fire_confirmed":     {"화재 (확인됨)", "Fire (confirmed)"},
	"cause.smoke_unconfirmed":  {"연기 감지 (미확인)", "Smoke (unconfirmed)"},
	"cause.co":                 {"일산화탄소", "Carbon monoxide"},
	"cause.gas":                {"가스 누출", "Gas leak"},
	"cause.fall":               {"낙상", "Fall"},
	"cause.sos":                {"응급 호출 (SOS)", "Emergency call (SOS)"},
	"cause.bradycardia":        {"서맥 (심박 느림)", "Bradycardia"},
	"cause.tachycardia":        {"빈맥 (심박 빠름)", "Tachycardia"},
	"cause.asystole":           {"심정지 의심", "Suspected asystole"},
	"cause.apnoea":             {"무호흡", "Apnoea"},
	"cause.breathing_rate":     {"호흡수 이상", "Abnormal breathing rate"},
	"cause.inactivity":         {"장시간 활동 없음", "No activity"},
	"cause.fall_recovered":     {"낙상 후 스스로 일어남", "Fell and got up"},
	"cause.hub_offline":        {"허브 연결 끊김", "Hub offline"},
	"cause.power_lost":         {"정전", "Power lost"},
	"cause.battery_low":        {"배터리 부족", "Battery low"},
	"cause.sensor_silent":      {"센서 무응답", "Sensor silent"},
	"cause.sensor_fault":       {"센서 고장", "Sensor fault"},
	"cause.end_of_life":        {"내구연한 경과", "End of life"},
	"cause.clock_skew":         {"시계 오차", "Clock off"},
	"cause.sensor_signal_lost": {"생체신호 센서 이탈", "Vital-sign sensor off"},
	"state.open":               {"접수", "open"},
	"state.verifying":          {"본인 확인 중", "verifying"},
	"state.notified":           {"연락 중", "notified"},
	"state.acknowledged":       {"확인됨", "acknowledged"},
	"state.resolved":           {"종결", "resolved"},
	"state.cancelled":          {"취소", "cancelled"},
	"disp.real_emergency":      {"실제 응급", "Real emergency"},
	"disp.false_alarm":         {"오경보", "False alarm"},
	"disp.test":                {"시험", "Test"},
	"disp.duplicate":           {"중복", "Duplicate"},
	"disp.no_action":           {"조치 불필요", "No action needed"},
	"out.pending":              {"대기", "waiting"},
	"out.sending":              {"보내는 중", "sending"},
	"out.sent":                 {"보냄 (응답 없음)", "sent, no answer yet"},
	"out.delivered":            {"전달됨 (확인 안 함)", "delivered, not acknowledged"},
	"out.failed":               {"실패", "failed"},
	"out.acknowledged":         {"확인함", "acknowledged"},
	"out.cancelled":            {"취소됨 (불필요)", "cancelled (no longer needed)"},
	"out.done":                 {"완료", "done"},
	"msg.alert":                {"응급 알림", "alert"},
	"msg.update":               {"상황 변경", "update"},
	"msg.cancel":               {"취소 통보", "cancel"},
	"msg.recovered":            {"무사 알림", "resident all right"},
	"msg.with_119":             {"119 대응 알림", "119 has it"},
	"who.119":                  {"119", "119"},
	"who.guardian":             {"보호자", "guardian"},
	"who.social_worker":        {"응급관리요원", "social worker"},
	"who.monitoring_centre":    {"관제센터", "monitoring centre"},
	"who.technician":           {"기술지원", "technician"},
	"chan.cap":                 {"119 전송 (CAP)", "119 (CAP)"},
	"chan.sms":                 {"문자", "SMS"},
	"chan.voice":               {"음성전화", "voice call"},
	"chan.console":             {"관제 화면", "console"},
	"rs.contacted":             {"연락함 (응답 없음)", "contacted, no answer yet"},
	"rs.acknowledged":          {"확인함", "acknowledged"},
	"rs.on_the_way":            {"가는 중", "on the way"},
	"rs.on_scene":              {"현장 도착 (곁에 있음)", "on scene"},
	"rs.resident_safe":         {"대상자 무사", "resident safe"},

	"act.opened":              {"접수", "Opened"},
	"act.repeated":            {"다시 감지", "Detected again"},
	"act.priority_raised":     {"우선순위 상향", "Priority raised"},
	"act.check_in_sent":       {"본인 확인 요청", "Asked the resident"},
	"act.verify_window_ended": {"본인 확인 시간 종료", "No answer from the resident"},
	"act.escalation_step":     {"연락 단계 시작", "Escalation"},
	"act.notification_queued": {"전송 예약", "Queued"},
	"act.sent":                {"보냄", "Sent"},
	"act.delivered":           {"전달됨", "Delivered"},
	"act.delivery_retrying":   {"재전송 대기", "Retrying"},
	"act.delivery_failed":     {"전송 실패", "Delivery failed"},
	"act.acknowledged":        {"접수 확인", "Acknowledged"},
	"act.assigned":            {"담당자 지정", "Assigned"},
	"act.note":                {"메모", "Note"},
	"act.resolved":            {"종결", "Resolved"},
	"act.cancelled":           {"취소", "Cancelled"},
	"act.condition_cleared":   {"상황 해소", "Condition cleared"},
	"act.119_answer":          {"119 응답", "119 answered"},
	"act.skipped":             {"연락 생략", "Skipped"},
	"act.update_119_queued":   {"119 상황 변경 예약", "Update to 119 queued"},
	"act.folded":              {"관련 감지 합류", "Related detection joined"},
	"act.cause_raised":        {"원인 격상", "Cause raised"},
	"act.episode_ended":       {"감지 하나 종료", "One detection ended"},
	"act.restart_resent":      {"재시작 후 다시 받음", "Re-sent after a restart"},

	"actor.system":   {"시스템", "system"},
	"actor.detector": {"감지 엔진", "detector"},
	"actor.resident": {"대상자", "resident"},
	"actor.119":      {"119", "119"},
	"actor.guardian": {"보호자", "guardian"},

	"chan.hub": {"허브", "hub"},

	"det.pending":    {"확인 중", "pending"},
	"det.firing":     {"확정", "confirmed"},
	"det.resolved":   {"해소", "cleared"},
	"det.cancelled":  {"취소됨", "cancelled"},
	"det.superseded": {"새 감지로 대체", "superseded"},

	"tl.step":            {"%d단계", "step %d"},
	"tl.attempt":         {"%d차 시도", "attempt %d"},
	"tl.to":              {"%s에게 %s %s", "%[2]s %[3]s to %[1]s"},
	"tl.to119":           {"119에 %s 전송 (CAP)", "%s to 119 (CAP)"},
	"tl.checkin.cmd":     {"허브에 본인 확인 명령", "check-in command to the hub"},
	"tl.checkin":         {"허브를 통해 대상자에게 괜찮은지 묻는 중 (취소 대기 %s)", "asking the resident through the hub (cancel window %s)"},
	"tl.verify.timeout":  {"대상자가 시간 안에 취소하지 않았습니다", "the resident did not cancel within the window"},
	"tl.nobody":          {"연락할 곳 없음", "nobody to notify"},
	"tl.ref":             {"참조번호 %s", "ref %s"},
	"tl.after":           {"%s, %d회 시도 후", "%s, after %d tries"},
	"tl.retry":           {"%s, %s까지 재시도", "%s; retrying until %s"},
	"tl.repeat":          {"%s, %d번째 감지", "%s, trigger #%d"},
	"tl.repeat.closed":   {"종결 후 다시 감지됨 (%s): 조치 없음", "%s after the incident was closed: no action"},
	"tl.escalation":      {"연락 중지", "escalation stopped"},
	"tl.cancel119":       {"119에 취소 통보", "cancel to 119"},
	"tl.resident.cancel": {"대상자가 직접 취소", "cancelled by the resident"},
	"tl.unassigned":      {"담당 해제", "unassigned"},
	"tl.events":          {"이벤트 %s건", "%s events"},
	"tl.readings":        {"측정값 %s개", "%s readings"},
	"tl.cleared":         {"장비 상태가 정상으로 돌아옴", "the device condition cleared"},
	"tl.still":           {"%s %s, 계속 진행 중: %s", "%s %s; still going on: %s"},
	"tl.restart":         {"%s (%s): 게이트웨이 재시작 후 다시 받음, 새 정보 없음", "%s (%s) re-sent after a gateway restart; nothing new"},

	"skip.device health never goes to 119":                     {"장비 상태 알림은 119에 보내지 않습니다", "device health never goes to 119"},
	"skip.no resident registered for the hub":                  {"허브에 등록된 대상자 없음", "no resident registered for the hub"},
	"skip.the resident did not consent to notifying guardians": {"대상자가 보호자 연락에 동의하지 않음", "the resident did not consent to notifying guardians"},
	"skip.no guardian with a phone number":                     {"전화번호가 있는 보호자 없음", "no guardian with a phone number"},
	"skip.no contact configured":                               {"연락처가 설정되지 않음", "no contact configured"},

	"provider.delivered":   {"전달됨", "delivered"},
	"provider.undelivered": {"전달 안 됨", "undelivered"},
	"provider.failed":      {"실패", "failed"},
	"provider.busy":        {"통화 중", "busy"},
	"provider.no-answer":   {"받지 않음", "no answer"},
	"provider.no_answer":   {"받지 않음", "no answer"},
	"provider.canceled":    {"취소됨", "cancelled"},
	"provider.completed":   {"통화 완료", "call completed"},
	"provider.human":       {"본인이 받음", "answered by a person"},
	"provider.machine":     {"음성사서함", "voicemail"},
	"provider.voicemail":   {"음성사서함", "voicemail"},
	"provider.read":        {"읽음", "read"},
	"provider.answered":    {"통화 연결됨 (확인 버튼 안 누름)", "answered (no key pressed)"},
	"provider.sent":        {"보냄", "sent"},
	"provider.queued":      {"대기", "queued"},

	"err.hub.notsubscribed": {"허브가 명령을 받을 수 없음 (연결 직후이거나 명령 구독 안 됨)", "the hub cannot take commands (it has just connected, or is not listening for them)"},
	"err.hub.offline":       {"허브가 연결되어 있지 않음", "the hub is not connected"},
	"err.hub.busy":          {"허브의 명령 대기열이 가득 참", "the hub's command queue is full"},
	"err.119.noendpoint":    {"119 전송 주소가 설정되지 않음", "no 119 endpoint configured"},
	"err.119.noroute":       {"대상자 시도의 119 경로가 설정되지 않음", "no 119 route for the resident's province"},
	"err.119.nodistrict":    {"대상자의 시군구가 없어 119 경로를 정할 수 없음", "the resident has no district: no 119 route"},
	"err.nophone":           {"전화번호 없음", "no phone number"},
	"err.timeout":           {"응답 시간 초과", "timed out"},
	"err.unreachable":       {"연결할 수 없음", "unreachable"},
	"err.other":             {"전송 오류 (기록 참조)", "delivery error (see the log)"},

	"fact.other":             {"기타 값", "other value"},
	"fact.yes":               {"예", "yes"},
	"fact.no":                {"아니오", "no"},
	"fact.peak":              {"충격 최대값", "impact peak"},
	"fact.radar_still":       {"레이더: 움직임 없음", "radar: not moving"},
	"fact.night_bed_still":   {"야간 침대 낙상 후 움직임 없음", "out of bed at night, nothing moving since"},
	"fact.bed_empty":         {"침대 재실 센서: 침대 비어 있음", "bed sensor: bed empty"},
	"fact.in_bed":            {"침대 재실 센서: 침대에 누워 있음", "bed sensor: in bed"},
	"fact.from_lying":        {"누운 자세에서 낙상 (침대 등)", "fell from lying (out of bed or similar)"},
	"fact.window_left":       {"취소 대기 남은 시간", "cancel window left"},
	"fact.gateway_restart":   {"게이트웨이 재시작 후 복원", "restored after a gateway restart"},
	"fact.episode_age":       {"상황 지속 시간", "episode age"},
	"fact.clock_skew":        {"시계 오차", "clock offset"},
	"fact.tolerance":         {"허용 오차", "tolerance"},
	"fact.end_of_life":       {"내구연한", "end of life"},
	"fact.disconnected_at":   {"연결 끊긴 시각", "disconnected at"},
	"fact.offline_for":       {"연결 끊긴 시간", "offline for"},
	"fact.last_seen":         {"마지막 수신", "last seen"},
	"fact.silent_for":        {"무응답 시간", "silent for"},
	"fact.heartbeat_timeout": {"허브 신호 기준", "heartbeat timeout"},
	"fact.report_interval":   {"보고 주기", "report interval"},
	"fact.hub_online":        {"허브 연결됨", "hub online"},
	"fact.evaluation_failed": {"판정 중 오류", "evaluation failed"},
	"fact.co":                {"일산화탄소", "carbon monoxide"},
	"fact.dose":              {"일산화탄소 누적 노출", "CO dose"},
	"fact.gas":               {"가스 농도", "gas"},
	"fact.smoke_sensors":     {"연기 감지 센서 수", "smoke sensors alarming"},
	"fact.steam_sensors":     {"수증기 의심 센서 수", "sensors that may see steam"},
	"fact.heat":              {"고온 감지", "heat"},
	"fact.co_rise":           {"일산화탄소 상승", "CO rising"},
	"fact.inactive":          {"활동 없음", "inactive for"},
	"fact.limit":             {"기준", "limit"},
	"fact.no_beat":           {"심박 없음", "no heartbeat for"},
	"fact.quality":           {"신호 품질", "signal quality"},
	"fact.moving":            {"움직임", "moving"},
	"fact.heart_rate_min":    {"최저 심박수", "lowest heart rate"},
	"fact.heart_rate_max":    {"최고 심박수", "highest heart rate"},
	"fact.sustained":         {"지속 시간", "sustained for"},
	"fact.no_breathing":      {"호흡 없음", "no breathing for"},
	"fact.breathing_rate":    {"호흡수", "breathing rate"},

	"funit.bpm":         {"회/분", "bpm"},
	"funit.breaths/min": {"회/분", "per minute"},
	"funit.ppm·min":     {"ppm·분", "ppm·min"},

	// What the people who know the resident are told, by dispatch's
	// category: what happened, as the end of a sentence, and what the
	// incident is, as a noun. Every channel to people (SMS, voice) says
	// them, so that a new category is worded here once.
	"happened.fall":           {"낙상이 감지되었습니다", "a fall was detected"},
	"happened.fire":           {"화재가 감지되었습니다", "a fire was detected"},
	"happened.sos":            {"응급 호출 버튼이 눌렸습니다", "the emergency button was pressed"},
	"happened.heart":          {"심장 이상이 감지되었습니다", "a heart emergency was detected"},
	"happened.breathing":      {"호흡 이상이 감지되었습니다", "abnormal breathing was detected"},
	"happened.inactivity":     {"오랫동안 움직임이 없습니다", "there has been no movement for a long time"},
	"happened.fall_recovered": {"넘어지셨다가 스스로 일어나셨습니다 (안부 확인 요청)", "they fell and got up by themselves (please check on them)"},
	"happened.gas":            {"가스 또는 일산화탄소가 감지되었습니다", "gas or carbon monoxide was detected"},
	"happened.device":         {"안전 장비에 이상이 있습니다", "a safety device needs attention"},
	"happened.other":          {"긴급 상황이 발생했습니다", "an emergency was reported"},
	"what.fall":               {"낙상", "fall"},
	"what.fire":               {"화재", "fire"},
	"what.sos":                {"응급 호출", "emergency call"},
	"what.heart":              {"심장 이상", "heart emergency"},
	"what.breathing":          {"호흡 이상", "breathing emergency"},
	"what.inactivity":         {"장시간 움직임 없음", "long inactivity"},
	"what.fall_recovered":     {"낙상 후 회복", "fall they got up from"},
	"what.gas":                {"가스·일산화탄소 감지", "gas or carbon monoxide alarm"},
	"what.device":             {"안전 장비 이상", "safety device fault"},
	"what.other":              {"긴급 상황", "emergency"},
}

// tried are the words of the CAP description's "조치 내역" (what was tried,
// dispatch's triedLines): past tense, no references, no raw errors.
var tried = map[string][2]string{
	"tried.checkin":              {"허브를 통해 대상자에게 괜찮은지 물음 (취소 대기 %s)", "asked the resident through the hub (cancel window %s)"},
	"tried.verify":               {"대상자가 취소 대기 시간 안에 응답하지 않음", "no answer from the resident within the cancel window"},
	"tried.sent":                 {"%s: 보냄", "%s: sent"},
	"tried.delivered":            {"%s: %s", "%s: %s"},
	"tried.failed":               {"%s: 실패 (%s)", "%s: failed (%s)"},
	"tried.ack":                  {"%s: 접수 확인, 연락 중지", "%s acknowledged: escalation stopped"},
	"tried.119":                  {"119 응답: %s", "119 answered: %s"},
	"tl.eta":                     {"도착 예정 %d분", "ETA %d min"},
	"ans119.accepted":            {"접수", "accepted"},
	"ans119.dispatched":          {"출동", "dispatched"},
	"ans119.on_scene":            {"현장 도착", "on scene"},
	"ans119.rejected":            {"거절", "rejected"},
	"ans119.closed":              {"종료", "closed"},
	"ans119.cancel_acknowledged": {"취소 확인", "cancel acknowledged"},
	"tried.update":               {"119에 상황 변경 통보", "update sent to 119"},
	"tried.update.news":          {"119에 상황 변경 통보: %s", "update sent to 119: %s"},
	"news.also":                  {"%s 추가 감지", "also %s"},
	"news.cause":                 {"원인 격상: %s", "now %s"},
	"news.again":                 {"%s 다시 감지", "%s again"},
	"news.priority":              {"우선순위 %s", "priority %s"},
	"news.emergency":             {"응급으로 격상", "now an emergency"},
	"news.sensor":                {"다른 센서도 감지", "another sensor too"},
	"tried.answer":               {"%s: %s", "%s: %s"},
	"tried.send119":              {"%s: 119 즉시 신고 요청", "%s asked to alert 119 now"},
	"tried.send119.again":        {"%s: 119 즉시 신고 요청 (이미 신고됨)", "%s asked to alert 119 now (already alerted)"},
	"actor.person":               {"상황요원", "a dispatcher"},
	// The news queued for the people who know the resident (timeline).
	"tl.with119":   {"119 대응 알림: %s", "119 has it: %s"},
	"tl.recovered": {"무사 알림: %s", "the resident is all right: %s"},
	// The explanation of an incident whose check-in window ended: what the
	// detector said while it waited is no longer true.
	"why.window.ended":   {"%s 감지%s: 취소 대기 %s 안에 대상자 응답 없음", "%s detected%s: no answer from the resident within the %s cancel window"},
	"why.window.send119": {"%s 감지%s: 취소 대기 중 119 즉시 신고 요청으로 대기 종료", "%s detected%s: the cancel window was ended by a request to alert 119 now"},
}

func init() {
	for k, v := range tried {
		words[k] = v
	}
}

// Each calls fn with every key and its words (the console merges them
// into its own table).
func Each(fn func(key string, words [2]string)) {
	for k, v := range words {
		fn(k, v)
	}
}

// Has reports whether key has words.
func Has(key string) bool { _, ok := words[key]; return ok }

// Text is key's words in lang ("en", else Korean); key itself when it has
// none.
func Text(lang, key string) string { return Or(lang, key, key) }

// Or is key's words in lang, or fallback when it has none.
func Or(lang, key, fallback string) string {
	v, ok := words[key]
	if !ok {
		return fallback
	}
	if lang == "en" {
		return v[1]
	}
	return v[0]
}

// knownErrors are the channels' and the broker's errors a reader may see
// on a notification, by a piece of their text.
var knownErrors = []struct{ text, key string }{
	{"not subscribed to its commands", "err.hub.notsubscribed"},
	{"has no session", "err.hub.offline"},
	{"command queue is full", "err.hub.busy"},
	{"no hub commander", "err.hub.offline"},
	{"broker: not running", "err.hub.offline"},
	{"no 119 endpoint", "err.119.noendpoint"},
	{"no 119 route for", "err.119.noroute"},
	{"has no district", "err.119.nodistrict"},
	{"no phone number", "err.nophone"},
	{"no-answer", "provider.no-answer"},
	{"no_answer", "provider.no-answer"},
	{"busy", "provider.busy"},
	{"voicemail", "provider.voicemail"},
	{"undelivered", "provider.undelivered"},
	{"timeout", "err.timeout"},
	{"deadline exceeded", "err.timeout"},
	{"connection refused", "err.unreachable"},
	{"no such host", "err.unreachable"},
}

// ErrorKey is the key of the words for an error or a provider status
// recorded on a notification: the known ones by name, anything else
// "err.other" (the recorded text stays in the audit and the logs; a reader
// never sees a raw error).
func ErrorKey(s string) string {
	if Has("provider." + s) {
		return "provider." + s
	}
	for _, k := range knownErrors {
		if strings.Contains(s, k.text) {
			return k.key
		}
	}
	return "err.other"
}

// Join joins the parts that are not empty with sep: a line of words some
// of which may be missing (no unit, no floor), without doubled separators.
// The console's timeline and the CAP description build their lines with it.
func Join(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// Duration words d as 1분 30초 (1m 30s in English): hours and minutes,
// minutes and seconds, or seconds.
func Duration(lang string, d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	h, m, sec := s/3600, s/60%60, s%60
	if lang == "en" {
		switch {
		case h > 0:
			return strconv.FormatInt(h, 10) + "h " + pad2(m) + "m"
		case m > 0:
			return strconv.FormatInt(m, 10) + "m " + pad2(sec) + "s"
		}
		return strconv.FormatInt(sec, 10) + "s"
	}
	switch {
	case h > 0:
		return strconv.FormatInt(h, 10) + "시간 " + strconv.FormatInt(m, 10) + "분"
	case m > 0:
		return strconv.FormatInt(m, 10) + "분 " + strconv.FormatInt(sec, 10) + "초"
	}
	return strconv.FormatInt(sec, 10) + "초"
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// Row is dispatch's label of an outbox row in a timeline detail:
// "{channel} {msg} to {role} {who} (step N, attempt N)".
type Row struct {
	Channel, Msg, Role, Who string
	Step, Attempt           int
}

var rowRe = regexp.MustCompile(`^(\S+) (\S+) to (\S+) (.+?) \(step (\d+), attempt (\d+)\)`)

// ParseRow reads the row label at the start of d; rest is what follows it
// (" (ref SM...)", ": busy", ...).
func ParseRow(d string) (r Row, rest string, ok bool) {
	m := rowRe.FindStringSubmatchIndex(d)
	if m == nil {
		return Row{}, d, false
	}
	g := func(i int) string { return d[m[2*i]:m[2*i+1]] }
	r = Row{Channel: g(1), Msg: g(2), Role: g(3), Who: g(4)}
	r.Step, _ = strconv.Atoi(g(5))
	r.Attempt, _ = strconv.Atoi(g(6))
	return r, d[m[1]:], true
}

// Answer is dispatch's detail of a responder's answer:
// "guardian:최영희 on_the_way eta 20m; reply \"1 20\"".
type Answer struct {
	Role, Name, State string
	ETAMinutes        int
	// Reply is the text they sent, quoted as recorded ("" when none).
	Reply string
}

var answerRe = regexp.MustCompile(`^(\S+?):(.*) (acknowledged|on_the_way|on_scene|resident_safe)(?: eta (\d+)m)?(?:; reply (".*"))?$`)

// ParseAnswer reads a responder's answer; late is set when it came after
// the incident closed.
func ParseAnswer(d string) (a Answer, late, ok bool) {
	body, late := strings.CutSuffix(d, "; the incident was already closed")
	m := answerRe.FindStringSubmatch(body)
	if m == nil {
		return Answer{}, late, false
	}
	a = Answer{Role: m[1], Name: m[2], State: m[3], Reply: m[5]}
	a.ETAMinutes, _ = strconv.Atoi(m[4])
	return a, late, true
}

// RowText words a row label: "보호자 김민수에게 문자 응급 알림", "119에 응급
// 알림 전송 (CAP)" (without its step and attempt).
func RowText(lang string, r Row) string {
	msg := Or(lang, "msg."+r.Msg, r.Msg)
	if r.Role == "119" {
		return fmt.Sprintf(Text(lang, "tl.to119"), msg)
	}
	who := strings.TrimSpace(Or(lang, "who."+r.Role, r.Role) + " " + r.Who)
	return fmt.Sprintf(Text(lang, "tl.to"), who, Or(lang, "chan."+r.Channel, r.Channel), msg)
}
