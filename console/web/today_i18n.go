package web

import (
	"fmt"
	"strings"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

func init() {
	for k, v := range todayText {
		webText[k] = v
	}
}

// The words of Today's ranking and of the caseload report.
var todayText = map[string][2]string{
	"today.ranked":          {"우선순위 (필요도 순)", "By need"},
	"today.ranked.note":     {"진행 중·오늘의 응급상황, 최근 30일 낙상(스스로 일어난 낙상 포함), 평소 대비 활동량, 장비 이상·허브 없음, 방문 지연을 점수로 더해 높은 순서로 보여 줍니다.", "Open and today's incidents, falls in the last 30 days (got-up falls included), activity against the resident's own usual, devices down or no hub and overdue visits add up to a score; the highest first."},
	"today.points":          {"점수 기준", "How the score is made"},
	"today.points.1":        {"진행 중인 응급상황: P1 %d점, 그 밖 %d점 (건마다)", "Open incident: %d at P1, %d otherwise (each)"},
	"today.points.2":        {"오늘 발생한 응급상황: P1 %d점, 그 밖 %d점, 오경보 %d점 (건마다)", "Incident today: %d at P1, %d otherwise, %d for a false alarm (each)"},
	"today.points.3":        {"최근 30일 낙상 (스스로 일어난 낙상 포함): 회마다 %d점, 2회 이상이면 %d점 더함 (반복 낙상)", "Falls in the last 30 days (got-up falls included): %d each, %d more from the second (repeated falls)"},
	"today.points.4":        {"활동량 (평소 대비): %d%% 미만 %d점, %d%% 미만 %d점, %d%% 미만 %d점; 자료 부족 %d점", "Activity against usual: under %d%% %d, under %d%% %d, under %d%% %d; not enough data %d"},
	"today.points.5":        {"허브 없음 %d점, 연결 기록 없는 허브 %d점", "No hub %d, a hub that never connected %d"},
	"today.points.6":        {"장비 이상: 연결 끊김 %d, 정전 %d, 센서 무응답·고장 %d, 배터리 부족·내구연한 %d, 시계 오차 %d (허브마다 최대 %d)", "Devices: offline %d, on battery %d, sensor silent or faulty %d, battery low or past service life %d, clock %d (at most %d a hub)"},
	"today.points.7":        {"연락 지연: %d점 + 하루에 %d점 (최대 %d), 오늘 예정 %d점", "Contact overdue: %d + %d a day (at most %d); due today %d"},
	"today.points.8":        {"단계: 긴급 %d점 이상, 높음 %d점 이상, 보통 %d점 이상, 낮음 그 아래", "Levels: urgent from %d, high from %d, medium from %d, low below"},
	"today.pct.usual":       {"평소 대비 %d%%", "%d%% of usual"},
	"today.rank":            {"순위", "Rank"},
	"today.reasons":         {"이유", "Why"},
	"today.nextcontact":     {"다음 연락", "Next contact"},
	"today.calm":            {"특이사항 없는 대상자", "Residents with nothing to report"},
	"today.score":           {"점수", "Score"},
	"today.level.urgent":    {"긴급", "urgent"},
	"today.level.high":      {"높음", "high"},
	"today.level.medium":    {"보통", "medium"},
	"today.level.low":       {"낮음", "low"},
	"today.incidents.note":  {"진행 중인 응급상황과 오늘 발생한 응급상황 (장비 알림 제외)", "Open incidents and today's (device alerts excluded)"},
	"today.activity.rule":   {"최근 2일 활동량을 그 이전(최대 28일) 평균과 비교합니다. 최근 하루, 그 이전 하루 이상의 자료가 있어야 판단합니다 (설치 후 3일).", "The last 2 days against the days before (up to 28). Judged with at least a day of recent data and a day before it (3 days after installation)."},
	"today.activity.nodata": {"아직 데이터 부족", "not enough data yet"},
	"today.span.hours":      {"%d시간치", "%d hours"},
	"today.span.days":       {"%d일치", "%d days"},
	"today.devices.nohub":   {"허브 없음", "No hub"},
	"today.devices.never":   {"연결 기록 없음", "never connected"},
	"today.visits.rule":     {"중점관리: 매월 방문 · 일반: 2개월마다 방문, 연락 없는 달마다 전화 · 응급상황·낙상 다음 날 방문 · 30일 내 낙상 2회 이상(스스로 일어난 낙상 포함)이면 마지막 낙상 다음 날 방문 · 활동량 감소 시 당일 전화 · 예약한 날짜가 더 빠르면 그날", "Priority: a visit every month · others: a visit every 2 months and a call each month without contact · a visit the day after an incident or fall · a visit the day after the latest of two or more falls in 30 days (got-up falls included) · a call the same day when activity drops · an earlier date you scheduled"},
	"today.visits.due":      {"예정일", "Due"},
	"today.why.regular":     {"정기", "regular"},
	"today.why.followup":    {"응급상황 후속", "follow-up"},
	"today.why.activity":    {"활동량 감소", "activity drop"},
	"today.why.falls":       {"30일 내 낙상 2회 이상", "two or more falls in 30 days"},
	"resident.falls":        {"최근 30일 낙상 %d회 (그중 스스로 일어난 낙상 %d회)", "%d falls in the last 30 days (%d of them got up from)"},
	"today.why.scheduled":   {"예약", "scheduled"},
	"today.overdue.days":    {"%d일 지연", "%d days overdue"},
	"today.due.today":       {"오늘", "today"},
	"today.closed":          {"종결", "closed"},

	"caseload.title":       {"월간 사례관리 보고서", "Monthly caseload report"},
	"caseload.link":        {"월간 사례관리 보고서 (인쇄·CSV)", "Monthly caseload report (print, CSV)"},
	"caseload.month":       {"월", "Month"},
	"caseload.print":       {"인쇄하면 A4 보고서가 됩니다 (Ctrl+P).", "Print it for an A4 report (Ctrl+P)."},
	"caseload.badmonth":    {"월 %q 을(를) 읽을 수 없습니다: YYYY-MM 형식의 지난 달 또는 이번 달을 입력하세요. 이번 달을 표시합니다.", "Month %q is not valid: enter this or an earlier month as YYYY-MM. Showing this month."},
	"caseload.worker":      {"담당 응급관리요원", "Social worker"},
	"caseload.period":      {"기간", "Period"},
	"caseload.residents":   {"대상자 수", "Residents"},
	"caseload.rulemet":     {"연락 기준 충족", "Contact rule met"},
	"caseload.generated":   {"작성", "Generated"},
	"caseload.visits":      {"방문", "Visits"},
	"caseload.calls":       {"전화", "Calls"},
	"caseload.rule":        {"연락 기준", "Contact rule"},
	"caseload.met":         {"충족", "met"},
	"caseload.notmet":      {"미충족", "not met"},
	"caseload.incidents":   {"응급상황", "Incidents"},
	"caseload.bycause":     {"원인별", "By cause"},
	"caseload.falls":       {"낙상", "Falls"},
	"caseload.false":       {"오경보", "False alarms"},
	"caseload.devices":     {"장비 이상", "Device problems"},
	"caseload.devicecause": {"장비 이상 내용", "Device problems by kind"},
	"caseload.total":       {"합계", "Total"},
	"caseload.note":        {"연락 기준(보건복지부): 중점관리 대상자는 매월 방문, 일반 대상자는 매월 방문 또는 안부전화. 응급상황은 장비 알림을 뺀 건수이며, 낙상은 오경보를 뺀 건수입니다.", "Contact rule (Ministry of Health and Welfare): priority residents a home visit every month; others a visit or a phone check every month. Incidents exclude device alerts; falls exclude false alarms."},
	"caseload.sign":        {"확인", "Signed"},

	"targets.title":     {"응답 목표 (한국·영국 기준)", "Answer-time targets (Korea and UK)"},
	"targets.target":    {"목표", "Target"},
	"targets.source":    {"출처", "Source"},
	"targets.measured":  {"이 기간 실적", "This period"},
	"targets.tsa60":     {"영국 TSA: 60초 이내 97.5%", "UK TSA: 97.5% within 60 s"},
	"targets.tsa180":    {"영국 TSA: 180초 이내 99%", "UK TSA: 99% within 180 s"},
	"targets.eu60":      {"영국·유럽 규격: 60초 이내 98.5%", "British/European standard: 98.5% within 60 s"},
	"targets.kr":        {"한국 응급안전안심서비스: 공표된 응답시간 목표 없음", "Korea's Emergency Safety Response Service: no published answer-time target"},
	"targets.own60":     {"돌봄 서비스 자체 목표: 60초 이내 98.5%", "Dolbom's own target: 98.5% within 60 s"},
	"targets.own180":    {"돌봄 서비스 자체 목표: 180초 이내 99%", "Dolbom's own target: 99% within 180 s"},
	"targets.src.tsa":   {"TSA(영국 기술기반돌봄협회) 감사 기준 (DOMAIN.md 4절)", "TSA audit norm (DOMAIN.md section 4)"},
	"targets.src.eu":    {"영국·유럽 수치 (DOMAIN.md 4절)", "British/European figure (DOMAIN.md section 4)"},
	"targets.src.kr":    {"보건복지부 자료는 담당 인원(1인당 362.8명)과 방문 주기만 정함 (DOMAIN.md 1절)", "The Ministry's figures set caseloads (362.8 per manager) and visit cadence only (DOMAIN.md section 1)"},
	"targets.src.own":   {"서비스 자체 목표: 유럽 60초 기준과 TSA 180초 기준 중 엄격한 쪽을 채택 (공표된 한국 기준 아님)", "The service's own target: the stricter of the European 60 s and TSA 180 s figures (not a published Korean target)"},
	"targets.visits":    {"한국 방문 기준: 중점관리 매월 방문, 일반 2개월마다 방문 + 매월 안부전화", "Korean visit rule: priority residents monthly visits; others a visit every 2 months and a monthly call"},
	"targets.src.visit": {"보건복지부 응급안전안심서비스 운영 기준 (DOMAIN.md 1절)", "Ministry of Health and Welfare service rules (DOMAIN.md section 1)"},
	"targets.see":       {"월간 사례관리 보고서에서 확인", "see the monthly caseload report"},

	"today.r.open":       {"진행 중인 응급상황: %s", "Open now: %s"},
	"today.r.today":      {"오늘 응급상황 %d건: %s", "%d incidents today: %s"},
	"today.r.today1":     {"오늘 응급상황 1건: %s", "1 incident today: %s"},
	"today.r.falls":      {"최근 30일 낙상 %d회", "%d falls in the last 30 days"},
	"today.r.falls1":     {"최근 30일 낙상 1회", "1 fall in the last 30 days"},
	"today.r.repeated":   {" (반복 낙상)", " (repeated falls)"},
	"today.r.drop":       {"활동량 평소의 %d%% (최근 2일)", "Activity %d%% of usual (last 2 days)"},
	"today.r.low":        {"활동량 평소보다 낮음 (%d%%)", "Activity lower than usual (%d%%)"},
	"today.r.nodata":     {"활동량: 아직 데이터 부족 (%s, 3일 이상 필요)", "Activity: not enough data yet (%s so far, 3 days needed)"},
	"today.r.nohub":      {"허브 없음", "No hub installed"},
	"today.r.neverheard": {"허브 %s 연결 기록 없음", "Hub %s has never connected"},
	"today.r.device":     {"장비 이상: %s", "Devices: %s"},
	"today.r.overdue":    {"%s %d일 지연 (예정일 %s)", "%s %d days overdue (due %s)"},
	"today.r.duetoday":   {"오늘 %s 예정", "%s due today"},
}

// Reason puts one of Today's reasons into words.
func (p *pageData) Reason(r reason) string {
	t := func(key string) string { return p.T("today.r." + key) }
	switch r.Kind {
	case "open":
		return fmt.Sprintf(t("open"), p.causeList(r.Causes))
	case "today":
		if r.N == 1 {
			return fmt.Sprintf(t("today1"), p.causeList(r.Causes))
		}
		return fmt.Sprintf(t("today"), r.N, p.causeList(r.Causes))
	case "falls":
		s := fmt.Sprintf(t("falls"), r.N)
		if r.N == 1 {
			s = t("falls1")
		}
		if r.N >= 2 {
			s += t("repeated")
		}
		return s
	case "drop", "low":
		return fmt.Sprintf(t(r.Kind), r.N)
	case "nodata":
		return fmt.Sprintf(t(r.Kind), p.DataSpan(r.N))
	case "nohub":
		return t("nohub")
	case "neverheard":
		return fmt.Sprintf(t("neverheard"), r.Hub)
	case "device":
		names := make([]string, len(r.Faults))
		for i, f := range r.Faults {
			names[i] = p.Fault(f)
		}
		return fmt.Sprintf(t("device"), strings.Join(names, ", "))
	case "overdue":
		return fmt.Sprintf(t("overdue"), p.T("visit.kind."+string(r.Visit)), r.N, p.Date(r.Date))
	case "duetoday":
		return fmt.Sprintf(t("duetoday"), p.T("visit.kind."+string(r.Visit)))
	}
	return r.Kind
}

// causeList names causes in order of first appearance, repeats counted:
// "화재 (확인됨), 낙상 2건" / "Fire (confirmed), Fall ×2".
func (p *pageData) causeList(causes []detectors.Cause) string {
	var order []detectors.Cause
	count := map[detectors.Cause]int{}
	for _, c := range causes {
		if count[c] == 0 {
			order = append(order, c)
		}
		count[c]++
	}
	parts := make([]string, len(order))
	for i, c := range order {
		parts[i] = p.Cause(c)
		if n := count[c]; n > 1 {
			if p.Lang == "en" {
				parts[i] += fmt.Sprintf(" ×%d", n)
			} else {
				parts[i] += fmt.Sprintf(" %d건", n)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// DataSpan says how much data there is: hours under two days, then days.
func (p *pageData) DataSpan(hours int) string {
	if hours < 48 {
		return p.Tf("today.span.hours", hours)
	}
	return p.Tf("today.span.days", hours/24)
}

// PointsRules are the points of the ranking in words, from the constants
// the ranking uses.
func (p *pageData) PointsRules() []string {
	pct := func(r float64) int { return int(r * 100) }
	return []string{
		p.Tf("today.points.1", pointsOpenP1, pointsOpenOther),
		p.Tf("today.points.2", pointsTodayP1, pointsTodayOther, pointsTodayFalse),
		p.Tf("today.points.3", pointsPerFall, pointsRepeatedFalls),
		p.Tf("today.points.4", pct(activitySevereRatio), pointsActivitySevere, pct(activityDropRatio), pointsActivityDrop,
			pct(activityLowRatio), pointsActivityLow, pointsNoData),
		p.Tf("today.points.5", pointsNoHub, pointsNeverHeard),
		p.Tf("today.points.6", faultPoints[devices.FaultOffline], faultPoints[devices.FaultPowerLost], faultPoints[devices.FaultSensorSilent],
			faultPoints[devices.FaultBatteryLow], faultPoints[devices.FaultClockSkew], pointsDeviceMax),
		p.Tf("today.points.7", pointsVisitOverdue, pointsPerDayOverdue, pointsVisitOverdueMax, pointsVisitToday),
		p.Tf("today.points.8", levelUrgent, levelHigh, levelMedium),
	}
}

// Tf formats a translated text with arguments.
func (p *pageData) Tf(key string, args ...any) string { return fmt.Sprintf(p.T(key), args...) }
