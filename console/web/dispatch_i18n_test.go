package web

import (
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/dispatch"
)

// Dispatch records its timeline in English for the audit; the incident
// page words it in the reader's language and keeps what it cannot parse.
func TestTimelineLine(t *testing.T) {
	tests := []struct {
		lang   string
		e      dispatch.TimelineEntry
		action string
		actor  string
		detail string
	}{
		{"ko", dispatch.TimelineEntry{Actor: "detector", Action: "opened", Detail: "P2 fall (pending): peak=3.536 g, 2 events"},
			"접수", "감지 엔진", "P2 낙상 · 확인 중 · 충격 최대값 3.536 g, 이벤트 2건"},
		{"ko", dispatch.TimelineEntry{Actor: "detector", Action: "repeated", Detail: "firing #2: peak=3.1 g, radar_still=1"},
			"다시 감지", "감지 엔진", "확정, 2번째 감지 · 충격 최대값 3.1 g, 레이더: 움직임 없음 예"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "delivery_failed", Channel: "voice", Detail: "voice alert to guardian 최영희 (step 0, attempt 1): no-answer"},
			"전송 실패", "시스템", "보호자 최영희에게 음성전화 응급 알림 (1단계, 1차 시도) — 받지 않음"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "delivered", Channel: "voice", Detail: "voice alert to guardian 최영희 (step 0, attempt 1): answered"},
			"전달됨", "시스템", "보호자 최영희에게 음성전화 응급 알림 (1단계, 1차 시도) — 통화 연결됨 (확인 버튼 안 누름)"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "delivery_retrying", Channel: "hub", Detail: "check-in command to the hub: broker: hub is not subscribed to its commands; retrying until 2026-05-04T10:00:30Z"},
			"재전송 대기", "시스템", "허브에 본인 확인 명령 — 허브가 명령을 받을 수 없음 (연결 직후이거나 명령 구독 안 됨), 10:00:30까지 재시도"},
		{"ko", dispatch.TimelineEntry{Actor: "monitoring_centre:", Action: "acknowledged", Channel: "voice", Detail: "escalation stopped"},
			"접수 확인", "관제센터", "연락 중지"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "check_in_sent", Channel: "hub", Detail: "asking the resident through the hub; cancel window 30s"},
			"본인 확인 요청", "시스템", "허브를 통해 대상자에게 괜찮은지 묻는 중 (취소 대기 30초)"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "escalation_step", Detail: "step 0: guardian 김민수 via voice; 119 119 via cap"},
			"연락 단계 시작 (1단계)", "시스템", "보호자 김민수 (음성전화), 119 전송 (CAP)"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "sent", Channel: "sms", Detail: "sms alert to guardian 김민수 (step 1, attempt 2) (ref SM12)"},
			"보냄", "시스템", "보호자 김민수에게 문자 응급 알림 (2단계, 2차 시도) · 참조번호 SM12"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "delivery_failed", Channel: "voice", Detail: "voice alert to guardian 김민수 (step 0, attempt 1): busy"},
			"전송 실패", "시스템", "보호자 김민수에게 음성전화 응급 알림 (1단계, 1차 시도) — 통화 중"},
		{"ko", dispatch.TimelineEntry{Actor: "guardian:김민수", Action: "acknowledged", Channel: "voice", Detail: "escalation stopped"},
			"접수 확인", "보호자 김민수", "연락 중지"},
		{"ko", dispatch.TimelineEntry{Actor: "d-park", Action: "resolved", Detail: "real_emergency: 119 이송"},
			"종결", "박상황", "실제 응급: 119 이송"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "skipped", Channel: "sms", Detail: "guardian: no guardian with a phone number"},
			"연락 생략", "시스템", "보호자: 전화번호가 있는 보호자 없음"},
		{"ko", dispatch.TimelineEntry{Actor: "detector", Action: "folded", Detail: "fire_confirmed (firing) from kitchen-heat at 2026-03-02T01:00:10Z joined the incident"},
			"관련 감지 합류", "감지 엔진", "화재 (확인됨) · 확정 · 주방 열감지기 · 01:00:10"},
		{"ko", dispatch.TimelineEntry{Actor: "detector", Action: "folded", Detail: "fire_confirmed (firing) from hall-heat at 2026-03-02T01:00:10Z joined the incident"},
			"관련 감지 합류", "감지 엔진", "화재 (확인됨) · 확정 · 미등록 센서 · 01:00:10"},
		{"ko", dispatch.TimelineEntry{Actor: "detector", Action: "cause_raised", Detail: "fall -> sos"},
			"원인 격상", "감지 엔진", "낙상 → 응급 호출 (SOS)"},
		{"ko", dispatch.TimelineEntry{Actor: "detector", Action: "episode_ended", Detail: "fall cancelled; still going on: sos"},
			"감지 하나 종료", "감지 엔진", "낙상 취소됨, 계속 진행 중: 응급 호출 (SOS)"},
		{"en", dispatch.TimelineEntry{Actor: "detector", Action: "restart_resent", Detail: "sos firing re-sent after a gateway restart; nothing new"},
			"Re-sent after a restart", "detector", "Emergency call (SOS) (confirmed) re-sent after a gateway restart; nothing new"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "notification_queued", Detail: "119 has it: guardian 박민수 via sms; social_worker 지역센터 via sms"},
			"전송 예약", "시스템", "119 대응 알림: 보호자 박민수 (문자), 응급관리요원 지역센터 (문자)"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "notification_queued", Detail: "the resident is all right: guardian 박민수 via sms"},
			"전송 예약", "시스템", "무사 알림: 보호자 박민수 (문자)"},
		{"ko", dispatch.TimelineEntry{Actor: "system", Action: "something_new", Detail: "as recorded"},
			"something_new", "시스템", "as recorded"},
		{"en", dispatch.TimelineEntry{Actor: "system", Action: "escalation_step", Detail: "step 0: guardian 김민수 via sms"},
			"Escalation (step 1)", "system", "guardian 김민수 (SMS)"},
		{"en", dispatch.TimelineEntry{Actor: "system", Action: "sent", Channel: "cap", Detail: "cap alert to 119 119 (step 0, attempt 1) (ref x)"},
			"Sent", "system", "alert to 119 (CAP) (step 1, attempt 1) · ref x"},
	}
	for _, tt := range tests {
		p := &pageData{Lang: tt.lang, loc: time.UTC, Data: incidentData{Names: map[string]string{"d-park": "박상황"},
			Sensors: map[devices.SensorID]devices.Sensor{"kitchen-heat": {Kind: devices.SensorHeat, Location: devices.LocKitchen}}}}
		got := p.TimelineLine(tt.e)
		if got.Action != tt.action || got.Actor != tt.actor || got.Detail != tt.detail {
			t.Errorf("%s %s %q:\n got %q / %q / %q\nwant %q / %q / %q", tt.lang, tt.e.Action, tt.e.Detail,
				got.Action, got.Actor, got.Detail, tt.action, tt.actor, tt.detail)
		}
	}
}

// Each guardian's state on the first screen comes from their notifications:
// the latest word, an acknowledgement outranking what came later.
func TestGuardianStates(t *testing.T) {
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	gs := []devices.Guardian{{Name: "최영희", Phone: "+821012345678"}, {Name: "최민수", Phone: "+821098765432"}, {Name: "이정호", Phone: "+821033334444"}}
	row := func(phone string, channel dispatch.Channel, state dispatch.OutboxState, after time.Duration, lastErr string) dispatch.OutboxRow {
		return dispatch.OutboxRow{Kind: dispatch.KindNotify, Channel: channel, State: state, UpdatedAt: at.Add(after), LastError: lastErr,
			Recipient: dispatch.Recipient{Role: dispatch.RoleGuardian, Phone: phone}}
	}
	rows := []dispatch.OutboxRow{
		row("+821012345678", "sms", dispatch.OutboxDelivered, 0, ""),
		row("+821012345678", "voice", dispatch.OutboxAcknowledged, 10*time.Second, ""),
		row("+821012345678", "sms", dispatch.OutboxSent, 20*time.Second, ""),
		row("+821098765432", "voice", dispatch.OutboxFailed, 5*time.Second, "no-answer"),
	}
	got := guardianStates(gs, rows, dispatch.Incident{})
	want := []struct{ state, channel, err string }{{"out.acknowledged", "voice", ""}, {"out.failed", "voice", "no-answer"}, {"gstate.none", "", ""}}
	for i, w := range want {
		if got[i].State != w.state || got[i].Channel != w.channel || got[i].Error != w.err {
			t.Errorf("%s: %+v, want %+v", gs[i].Name, got[i], w)
		}
	}
	// 최민수 phoned: on his way, 15 minutes; a responder's answer outranks
	// the failed call. The monitoring centre is another responder.
	inc := dispatch.Incident{Responders: []dispatch.Responder{
		{ID: "guardian-2", Role: dispatch.RoleGuardian, Name: "최민수", State: dispatch.ResponderOnTheWay, ETAMinutes: 15, ETA: at.Add(16 * time.Minute), At: at.Add(time.Minute), Via: "console", SetBy: "d-park"},
		{ID: "monitoring_centre-1", Role: dispatch.RoleMonitoringCentre, Name: "중앙관제", State: dispatch.ResponderContacted}}}
	got = guardianStates(gs, rows, inc)
	if g := got[1]; g.State != "rs.on_the_way" || g.ETAMinutes != 15 || !g.Acked || g.SetBy != "d-park" || g.Error != "" {
		t.Errorf("최민수 on his way: %+v", g)
	}
	if others := otherResponders(inc.Responders, gs); len(others) != 1 || others[0].Role != dispatch.RoleMonitoringCentre {
		t.Errorf("other responders: %+v", others)
	}
	if cs := responderChoices(inc.Responders, gs); len(cs) != 4 || cs[2].Value != "최영희" || cs[3].Value != "이정호" {
		t.Errorf("responder choices: %+v", cs)
	}
	p := &pageData{Lang: "ko", loc: time.UTC}
	if s := p.ErrorText(got[1].Error); s != "" {
		t.Errorf("an answered guardian shows the failed call's error %q", s)
	}
	if s := p.ErrorText(guardianStates(gs, rows, dispatch.Incident{})[1].Error); s != "받지 않음" {
		t.Errorf("no-answer in Korean: %q", s)
	}
	for in, want := range map[string]string{
		"broker: hub is not subscribed to its commands": "허브가 명령을 받을 수 없음 (연결 직후이거나 명령 구독 안 됨)",
		"answered":                 "통화 연결됨 (확인 버튼 안 누름)",
		"cap: post https://x: EOF": "전송 오류 (기록 참조)",
	} {
		if got := p.ErrorText(in); got != want {
			t.Errorf("ErrorText(%q) = %q, want %q", in, got, want)
		}
	}
	for _, f := range []struct {
		fact detectors.Fact
		want string
	}{
		{detectors.Fact{Name: "peak", Value: 3.4, Unit: "g"}, "충격 최대값 3.4 g"},
		{detectors.Fact{Name: "radar_still", Value: 1}, "레이더: 움직임 없음 예"},
		{detectors.Fact{Name: "offline_for", Value: 125, Unit: "s"}, "연결 끊긴 시간 2분 5초"},
		{detectors.Fact{Name: "heart_rate_min", Value: 32, Unit: "bpm"}, "최저 심박수 32 회/분"},
		{detectors.Fact{Name: "quality", Value: 0.9}, "신호 품질 90%"},
		{detectors.Fact{Name: "something_new", Value: 2}, "기타 값 2"},
	} {
		ft := p.Fact(f.fact)
		if got := ft.Name + " " + ft.Value; got != f.want {
			t.Errorf("Fact(%+v) = %q, want %q", f.fact, got, f.want)
		}
	}
}
