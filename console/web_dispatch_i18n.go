package console

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// The dispatcher's console and the reports in Korean and English, merged
// into webText at start.

func init() {
	for k, v := range dispatchText {
		webText[k] = v
	}
}

var dispatchText = map[string][2]string{
	"queue.na":             {"출동 관리 기능이 연결되지 않았습니다.", "Dispatch is not connected."},
	"queue.empty":          {"대기 중인 응급상황이 없습니다.", "No incidents waiting."},
	"queue.filter":         {"보기", "Show"},
	"queue.priority":       {"우선순위", "Priority"},
	"queue.any":            {"전체", "All"},
	"queue.apply":          {"적용", "Apply"},
	"queue.cause":          {"상황", "What"},
	"queue.resident":       {"대상자", "Who"},
	"queue.where":          {"위치", "Where"},
	"queue.state":          {"상태", "State"},
	"queue.waited":         {"발생 후", "Since it began"},
	"queue.handler":        {"담당", "Handled by"},
	"queue.sound":          {"경보음 켜기", "Turn alarm sound on"},
	"queue.sound.on":       {"경보음 켜짐", "Alarm sound on"},
	"queue.live":           {"실시간 연결됨", "Live"},
	"queue.offline":        {"연결 끊김 · 다시 연결 중", "Disconnected · reconnecting"},
	"queue.p1":             {"P1 긴급 상황이 접수되었습니다", "P1 emergency waiting"},
	"queue.unknown":        {"미등록 대상자", "Unregistered resident"},
	"inc.title":            {"응급상황", "Incident"},
	"inc.began":            {"발생 시각", "Began"},
	"inc.since":            {"발생 후", "Since it began"},
	"inc.also":             {"함께 감지:", "also:"},
	"inc.room":             {"감지 위치", "Alarm from"},
	"inc.room.unknown":     {"센서 위치 미등록", "Sensor's room not registered"},
	"inc.sensor.unknown":   {"미등록 센서", "unregistered sensor"},
	"inc.none":             {"없음", "none"},
	"inc.noguardian":       {"등록된 보호자가 없습니다.", "No guardian registered."},
	"inc.closed.noact":     {"종결된 응급상황입니다.", "This incident is closed."},
	"inc.device":           {"장비", "Device"},
	"queue.tabs":           {"대기열 종류", "Queues"},
	"queue.tab.emergency":  {"응급 (119)", "Emergencies (119)"},
	"queue.tab.devices":    {"장비 점검", "Device health"},
	"queue.samehome":       {"↳ 같은 가구", "↳ same home"},
	"queue.more":           {"같은 가구 %d건 더", "%d more in this home"},
	"queue.nohome":         {"대상자 미등록", "No resident registered"},
	"queue.since":          {"발생", "Began"},
	"queue.empty.devices":  {"점검할 장비 문제가 없습니다.", "No device problems waiting."},
	"status119.other":      {"119 응답", "119 answer"},
	"chan.other":           {"기타 경로", "other channel"},
	"who.other":            {"기타", "other"},
	"msg.other":            {"알림", "message"},
	"out.other":            {"처리 중", "in progress"},
	"metric.other":         {"측정값", "Measurement"},
	"gstate.none":          {"아직 연락 안 함", "not contacted yet"},
	"inc.took":             {"처리 시간", "Took"},
	"inc.count":            {"반복 감지", "Repeated triggers"},
	"inc.evidence":         {"감지 근거", "Evidence"},
	"inc.evidence.none":    {"이 시간대에 기록된 측정값이 없습니다.", "No evidence recorded for this time."},
	"inc.evidence.nochart": {"이 유형은 측정 그래프가 없습니다.", "No measurements to chart for this kind of incident."},
	"inc.evidence.failed":  {"측정값을 읽지 못했습니다.", "The measurements could not be read."},
	"inc.facts":            {"판단 근거 값", "Facts"},
	"inc.coords":           {"좌표", "Coordinates"},
	"inc.hub":              {"허브", "Hub"},
	"inc.sensor":           {"센서", "Sensor"},
	"inc.notifications":    {"연락 현황 (보호자·기관)", "Who was told, and what they answered"},
	"inc.to":               {"받는 사람", "To"},
	"inc.channel":          {"방법", "Channel"},
	"inc.message":          {"내용", "Message"},
	"inc.answer":           {"응답", "Answer"},
	"inc.sentat":           {"보낸 시각", "Sent"},
	"inc.updated":          {"최근 변경", "Last change"},
	"inc.nonotify":         {"아직 연락한 곳이 없습니다.", "Nobody has been notified yet."},
	"inc.119":              {"119 진행 상황", "119 status"},
	"inc.119.none":         {"119에 신고되지 않았습니다.", "119 has not been alerted."},
	"inc.timeline":         {"처리 기록", "Timeline"},
	"inc.actions":          {"조치", "Actions"},
	"inc.ack":              {"접수 확인", "Acknowledge"},
	"inc.acked":            {"접수 확인됨", "Acknowledged"},
	"inc.assign":           {"담당자 지정", "Assign"},
	"inc.assign.self":      {"내가 맡기", "Take it myself"},
	"inc.assignee":         {"담당자 아이디", "Assignee user name"},
	"inc.note":             {"메모 추가", "Add note"},
	"inc.note.text":        {"메모", "Note"},
	"inc.mark119":          {"119 상태 기록", "Record 119 status"},
	"inc.resolve":          {"종결", "Resolve"},
	"inc.disposition":      {"결과", "Outcome"},
	"inc.cancel":           {"오경보로 취소 (119 취소 통보)", "Cancel as false alarm (tells 119)"},
	"inc.cancel.confirm":   {"오경보로 취소하고 119에 취소를 통보할까요?", "Cancel as a false alarm and tell 119?"},
	"inc.reason":           {"사유", "Reason"},
	"inc.error.closed":     {"이미 종결된 응급상황입니다.", "The incident is already closed."},
	"inc.error.invalid":    {"입력이 올바르지 않습니다.", "The input is not valid."},
	"inc.readonly":         {"조치는 상황요원만 할 수 있습니다.", "Only dispatchers act on incidents."},
	"inc.assigned":         {"담당", "Assigned"},
	"inc.status119":        {"119", "119"},
	"inc.view":             {"열기", "Open"},
	"inc.all":              {"대기열로", "Back to queue"},
	"unit.s":               {"초", "s"},
	"step.alerted":         {"신고", "Alerted"},
	"step.accepted":        {"접수", "Accepted"},
	"step.dispatched":      {"출동", "Dispatched"},
	"step.on_scene":        {"현장 도착", "On scene"},
	"step.closed":          {"종료", "Closed"},
	"status119.accepted":   {"119 접수", "119 accepted"},
	"status119.dispatched": {"출동함", "Dispatched"},
	"status119.on_scene":   {"현장 도착", "On scene"},
	"status119.rejected":   {"119 거절", "119 rejected"},
	"status119.closed":     {"119 종료", "119 closed"},

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
	"cause.hub_offline":        {"허브 연결 끊김", "Hub offline"},
	"cause.power_lost":         {"정전", "Power lost"},
	"cause.battery_low":        {"배터리 부족", "Battery low"},
	"cause.sensor_silent":      {"센서 무응답", "Sensor silent"},
	"cause.sensor_fault":       {"센서 고장", "Sensor fault"},
	"cause.end_of_life":        {"내구연한 경과", "End of life"},
	"cause.clock_skew":         {"시계 오차", "Clock off"},
	"cause.sensor_signal_lost": {"생체신호 센서 이탈", "Vital-sign sensor off"},

	"state.open":         {"접수", "open"},
	"state.verifying":    {"본인 확인 중", "verifying"},
	"state.notified":     {"연락 중", "notified"},
	"state.acknowledged": {"확인됨", "acknowledged"},
	"state.resolved":     {"종결", "resolved"},
	"state.cancelled":    {"취소", "cancelled"},

	"disp.real_emergency": {"실제 응급", "Real emergency"},
	"disp.false_alarm":    {"오경보", "False alarm"},
	"disp.test":           {"시험", "Test"},
	"disp.duplicate":      {"중복", "Duplicate"},
	"disp.no_action":      {"조치 불필요", "No action needed"},

	"out.pending":      {"대기", "waiting"},
	"out.sending":      {"보내는 중", "sending"},
	"out.sent":         {"보냄 (응답 없음)", "sent, no answer yet"},
	"out.delivered":    {"전달됨 (확인 안 함)", "delivered, not acknowledged"},
	"out.failed":       {"실패", "failed"},
	"out.acknowledged": {"확인함", "acknowledged"},
	"out.cancelled":    {"취소됨 (불필요)", "cancelled (no longer needed)"},
	"out.done":         {"완료", "done"},

	"msg.alert":  {"응급 알림", "alert"},
	"msg.update": {"상황 변경", "update"},
	"msg.cancel": {"취소 통보", "cancel"},
	// News to the people who know the resident, not alarms.
	"msg.recovered": {"무사 알림", "resident all right"},
	"msg.with_119":  {"119 대응 알림", "119 has it"},

	"who.119":               {"119", "119"},
	"who.guardian":          {"보호자", "guardian"},
	"who.social_worker":     {"응급관리요원", "social worker"},
	"who.monitoring_centre": {"관제센터", "monitoring centre"},
	"who.technician":        {"기술지원", "technician"},

	"chan.cap":     {"119 전송 (CAP)", "119 (CAP)"},
	"chan.sms":     {"문자", "SMS"},
	"chan.voice":   {"음성전화", "voice call"},
	"chan.console": {"관제 화면", "console"},

	"metric.accel_g":     {"가속도 크기 (g)", "Acceleration magnitude (g)"},
	"metric.heart_rate":  {"심박수 (회/분)", "Heart rate (bpm)"},
	"metric.respiration": {"호흡수 (회/분)", "Breathing (per minute)"},
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

// timelineText is the words of the timeline and of dispatch's details,
// which dispatch records in English for the audit (docs/dispatch.md).
var timelineText = map[string][2]string{
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

	"err.hub.notsubscribed": {"허브가 명령을 받을 수 없음 (연결 직후이거나 명령 구독 안 됨)", "the hub cannot take commands (just connected, or not subscribed)"},
	"err.hub.offline":       {"허브가 연결되어 있지 않음", "the hub is not connected"},
	"err.hub.busy":          {"허브의 명령 대기열이 가득 참", "the hub's command queue is full"},
	"err.119.noendpoint":    {"119 전송 주소가 설정되지 않음", "no 119 endpoint configured"},
	"err.nophone":           {"전화번호 없음", "no phone number"},
	"err.timeout":           {"응답 시간 초과", "timed out"},
	"err.unreachable":       {"연결할 수 없음", "unreachable"},
	"err.other":             {"전송 오류 (기록 참조)", "delivery error (see the log)"},

	"fact.other":             {"기타 값", "other value"},
	"fact.yes":               {"예", "yes"},
	"fact.no":                {"아니오", "no"},
	"fact.peak":              {"충격 최대값", "impact peak"},
	"fact.radar_still":       {"레이더: 움직임 없음", "radar: not moving"},
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
}

func init() {
	for k, v := range timelineText {
		webText[k] = v
	}
}

// timelineLine is one timeline entry in the reader's language.
type timelineLine struct {
	Actor, Action, Channel, Detail string
}

var (
	// dispatch's rowLabel: "{channel} {msg} to {role} {who} (step N, attempt N)".
	rowLabelRe  = regexp.MustCompile(`^(\S+) (\S+) to (\S+) (.+?) \(step (\d+), attempt (\d+)\)`)
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
		l.Channel = translateOr(p.Lang, "chan."+e.Channel, e.Channel)
	}
	d := e.Detail
	switch e.Action {
	case dispatch.ActOpened:
		if m := openedRe.FindStringSubmatch(d); m != nil {
			l.Detail = joinWords(" · ", "P"+m[1]+" "+p.Cause(detectors.Cause(m[2])), p.Label("det."+m[3], m[3]), p.facts(m[4]))
		}
	case dispatch.ActRepeated:
		if m := closedRe.FindStringSubmatch(d); m != nil {
			l.Detail = fmt.Sprintf(p.T("tl.repeat.closed"), p.Label("det."+m[1], m[1]))
		} else if m := repeatedRe.FindStringSubmatch(d); m != nil {
			n, _ := strconv.Atoi(m[2])
			l.Detail = joinWords(" · ", fmt.Sprintf(p.T("tl.repeat"), p.Label("det."+m[1], m[1]), n), p.facts(m[3]))
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
			l.Detail = joinWords(" · ", p.Cause(detectors.Cause(m[1])), p.Label("det."+m[2], m[2]), sensor, when, p.facts(m[5]))
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
		}
	case dispatch.ActResolved:
		code, note, _ := strings.Cut(d, ": ")
		if note == "the device condition cleared" {
			note = p.T("tl.cleared")
		}
		if label := translateOr(p.Lang, "disp."+code, ""); label != "" {
			l.Detail = joinWords(": ", label, note)
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
			l.Detail = joinWords(": ", label, reason)
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
	} else if m := rowLabelRe.FindStringSubmatchIndex(d); m != nil {
		g := func(i int) string { return d[m[2*i]:m[2*i+1]] }
		step, _ := strconv.Atoi(g(5))
		attempt, _ := strconv.Atoi(g(6))
		msg := p.Label("msg."+g(2), g(2))
		if g(3) == "119" {
			label = fmt.Sprintf(p.T("tl.to119"), msg)
		} else {
			who := joinWords(" ", p.Label("who."+g(3), g(3)), g(4))
			label = fmt.Sprintf(p.T("tl.to"), who, p.Label("chan."+g(1), g(1)), msg)
		}
		label += " (" + fmt.Sprintf(p.T("tl.step"), step+1) + ", " + fmt.Sprintf(p.T("tl.attempt"), attempt) + ")"
		rest = d[m[1]:]
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
		who := joinWords(" ", p.Label("who."+m[1], m[1]), m[2])
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

// joinWords joins the parts that are not empty.
func joinWords(sep string, parts ...string) string {
	var out []string
	for _, s := range parts {
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, sep)
}
