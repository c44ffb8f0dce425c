package detectors

import (
	"fmt"
	"strings"
	"time"
)

// Explanations of the emergency rules: what happened, how long, and what
// the rule checked, for a dispatcher who reads one line.

var causeNames = map[Cause]Explanation{
	CauseFireConfirmed:    {Ko: "화재 확인", En: "Confirmed fire"},
	CauseSmokeUnconfirmed: {Ko: "연기 감지(미확인)", En: "Unconfirmed smoke"},
	CauseCO:               {Ko: "일산화탄소", En: "Carbon monoxide"},
	CauseGas:              {Ko: "가스 누출", En: "Gas leak"},
	CauseFall:             {Ko: "낙상", En: "Fall"},
	CauseSOS:              {Ko: "응급 호출", En: "SOS"},
	CauseBradycardia:      {Ko: "서맥", En: "Bradycardia"},
	CauseTachycardia:      {Ko: "빈맥", En: "Tachycardia"},
	CauseAsystole:         {Ko: "심정지 의심", En: "Suspected asystole"},
	CauseSensorSignalLost: {Ko: "센서 신호 없음", En: "Sensor signal lost"},
	CauseApnoea:           {Ko: "무호흡", En: "Apnoea"},
	CauseBreathingRate:    {Ko: "호흡수 이상", En: "Abnormal breathing rate"},
	CauseInactivity:       {Ko: "활동 없음", En: "No activity"},
}

func movementKo(still bool) string {
	if still {
		return "움직임 없음"
	}
	return "움직임 있음"
}

func movementEn(still bool) string {
	if still {
		return "no movement"
	}
	return "moving"
}

func signalKo(q float32) string {
	if q >= 0.8 {
		return "신호 양호"
	}
	return fmt.Sprintf("신호 품질 %.0f%%", q*100)
}

func signalEn(q float32) string {
	if q >= 0.8 {
		return "good signal"
	}
	return fmt.Sprintf("signal quality %.0f%%", q*100)
}

func explainHeart(cause Cause, bpm float32, d time.Duration, still bool, q float32) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("심박수 %.0f회/분, %s간 지속, %s, %s", bpm, DurKo(d), movementKo(still), signalKo(q)),
		En: fmt.Sprintf("Heart rate %.0f bpm for %s, %s, %s", bpm, DurEn(d), movementEn(still), signalEn(q)),
	}
}

func explainAsystole(d time.Duration, q float32) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("심박 없음 %s간, 움직임 없음, %s", DurKo(d), signalKo(q)),
		En: fmt.Sprintf("No heartbeat for %s, no movement, %s", DurEn(d), signalEn(q)),
	}
}

func explainAsystoleSilent(zero, silent time.Duration, q float32) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("심박 없음 %s간(%s), 이후 센서가 %s간 응답 없음", DurKo(zero), signalKo(q), DurKo(silent)),
		En: fmt.Sprintf("No heartbeat for %s (%s), then the sensor fell silent for %s", DurEn(zero), signalEn(q), DurEn(silent)),
	}
}

func explainSignalLost(tr *track, q float32, moving bool, d time.Duration) Explanation {
	why, whyEn := "신호 약함", "poor signal"
	if moving {
		why, whyEn = "움직이는 중", "resident moving"
	}
	return Explanation{
		Ko: fmt.Sprintf("생체 센서 0 측정 %s간 (%s, 품질 %.0f%%): 센서 이탈, 응급 아님", DurKo(d), why, q*100),
		En: fmt.Sprintf("Vital-sign sensor reads 0 for %s (%s, quality %.0f%%): sensor off, not a medical emergency", DurEn(d), whyEn, q*100),
	}
}

func explainSignalBack() Explanation {
	return Explanation{Ko: "생체 센서 신호 복구", En: "Vital-sign sensor signal back"}
}

func explainHeartNormal(v float32) Explanation {
	return Explanation{Ko: fmt.Sprintf("심박수 정상 회복 %.0f회/분", v), En: fmt.Sprintf("Heart rate back to normal, %.0f bpm", v)}
}

func explainApnoea(d time.Duration, q float32) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("호흡 없음 %s간, 재실 중, 움직임 없음, %s", DurKo(d), signalKo(q)),
		En: fmt.Sprintf("No breathing for %s, present and still, %s", DurEn(d), signalEn(q)),
	}
}

func explainBreathingRate(lo, hi, v float32, d time.Duration) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("호흡수 %.0f회/분 (%.0f-%.0f), %s간 지속", v, lo, hi, DurKo(d)),
		En: fmt.Sprintf("Breathing rate %.0f/min (%.0f-%.0f) for %s", v, lo, hi, DurEn(d)),
	}
}

func explainBreathingNormal(v float32) Explanation {
	return Explanation{Ko: fmt.Sprintf("호흡 정상 회복 %.0f회/분", v), En: fmt.Sprintf("Breathing back to normal, %.0f/min", v)}
}

func explainFire(smoke, steam, rooms int, heat, heatFixed, coRise bool, rate float32) Explanation {
	var ko, en []string
	if smoke > 0 {
		ko = append(ko, fmt.Sprintf("연기 센서 %d개", smoke))
		en = append(en, fmt.Sprintf("smoke at %d sensor(s)", smoke))
	}
	if steam > 0 {
		ko = append(ko, fmt.Sprintf("습기 동반 연기 %d개", steam))
		en = append(en, fmt.Sprintf("smoke with steam at %d", steam))
	}
	if rooms >= 2 {
		ko = append(ko, fmt.Sprintf("%d개 방으로 확산", rooms))
		en = append(en, fmt.Sprintf("spreading to %d rooms", rooms))
	}
	if heatFixed {
		ko = append(ko, "온도 57°C 이상")
		en = append(en, "heat at the fixed limit")
	} else if heat {
		ko = append(ko, fmt.Sprintf("온도 급상승 %.1f°C/분", rate))
		en = append(en, fmt.Sprintf("heat rising %.1f °C/min", rate))
	}
	if coRise {
		ko = append(ko, "일산화탄소 상승")
		en = append(en, "CO rising")
	}
	return Explanation{Ko: "화재 확인: " + strings.Join(ko, ", "), En: "Confirmed fire: " + strings.Join(en, ", ")}
}

func explainSmoke(smoke int, heat bool, rate float32, d time.Duration) Explanation {
	ko, en := "연기 감지, 다른 센서 확인 없음", "Smoke, not corroborated by another sensor"
	if smoke == 0 && heat {
		ko, en = fmt.Sprintf("온도 급상승 %.1f°C/분, 연기 없음", rate), fmt.Sprintf("Heat rising %.1f °C/min, no smoke", rate)
	}
	if d > 0 {
		ko += ", " + DurKo(d) + "간 지속, 거주자 응답 없음"
		en += ", for " + DurEn(d) + ", resident did not answer"
	} else {
		ko += ", 거주자 확인 중"
		en += ", asking the resident"
	}
	return Explanation{Ko: ko, En: en}
}

func explainSuperseded() Explanation {
	return Explanation{Ko: "화재 확인으로 전환", En: "Superseded by a confirmed fire"}
}

func explainClearedInWindow() Explanation {
	return Explanation{Ko: "확인 시간 내 연기 사라짐 (일시적 연기)", En: "Smoke cleared within the verification window (transient)"}
}

func explainCleared(c Cause) Explanation {
	n := causeNames[c]
	return Explanation{Ko: n.Ko + " 해소", En: n.En + " cleared"}
}

func explainCO(ppm, dose float32, d time.Duration) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("일산화탄소 %.0fppm, 누적 노출 %.0fppm·분 (약 %s)", ppm, dose, DurKo(d)),
		En: fmt.Sprintf("Carbon monoxide %.0f ppm, accumulated dose %.0f ppm·min (about %s)", ppm, dose, DurEn(d)),
	}
}

func explainGas(v float32) Explanation {
	return Explanation{Ko: fmt.Sprintf("가스 농도 폭발하한의 %.0f%%", v), En: fmt.Sprintf("Combustible gas at %.0f%% LEL", v)}
}

func explainAlarmEvent(c Cause) Explanation {
	n := causeNames[c]
	return Explanation{Ko: n.Ko + ": 감지기 자체 경보", En: n.En + ": the detector's own alarm"}
}

func explainFallPending(peak float32, window time.Duration, fromLying bool) Explanation {
	if fromLying {
		return Explanation{
			Ko: fmt.Sprintf("누운 자세에서 낙상 감지 (침대 등, 충격 %.1fg), %s간 거주자 취소 대기", peak, DurKo(window)),
			En: fmt.Sprintf("Fall from lying detected (out of bed or similar, impact %.1f g), waiting %s for the resident to cancel", peak, DurEn(window)),
		}
	}
	return Explanation{
		Ko: fmt.Sprintf("낙상 감지 (충격 %.1fg), %s간 거주자 취소 대기", peak, DurKo(window)),
		En: fmt.Sprintf("Fall detected (impact %.1f g), waiting %s for the resident to cancel", peak, DurEn(window)),
	}
}

func explainFall(peak float32, d time.Duration, radar, nightBed, bedEmpty bool) Explanation {
	ko := fmt.Sprintf("낙상 (충격 %.1fg), %s간 취소·기상 없음", peak, DurKo(d))
	en := fmt.Sprintf("Fall (impact %.1f g), no cancel and not up for %s", peak, DurEn(d))
	if radar {
		ko += ", 레이더: 재실, 움직임 없음"
		en += ", radar: present and still"
	}
	if nightBed {
		ko += ", 야간 침대 낙상 후 움직임 없음"
		en += ", fell out of bed at night and nothing has moved since"
	}
	if bedEmpty {
		ko += ", 침대 재실 센서: 침대 비어 있음"
		en += ", bed sensor: the bed is empty"
	}
	return Explanation{Ko: ko, En: en}
}

// explainFallInBed: a fall from upright after which the radar's bed zone
// shows the resident in bed: lying down, not sent on.
func explainFallInBed(peak float32) Explanation {
	return Explanation{Ko: fmt.Sprintf("낙상 감지 (충격 %.1fg) 후 침대 재실 센서가 침대에 누워 있음을 보여 줌: 침대에 누운 것으로 판단, 출동 요청 안 함", peak),
		En: fmt.Sprintf("Fall detected (impact %.1f g), then the bed sensor shows the resident in bed: taken for lying down, nobody sent", peak)}
}

func explainFellGotUp(d time.Duration, fromLying bool, window time.Duration) Explanation {
	if fromLying {
		return Explanation{Ko: fmt.Sprintf("누운 자세에서 낙상 (침대 등), %s 후 스스로 일어남: %s간 거주자에게 확인 중", DurKo(d), DurKo(window)),
			En: fmt.Sprintf("Fell from lying (out of bed or similar) and got up after %s: asking the resident for %s", DurEn(d), DurEn(window))}
	}
	return Explanation{Ko: fmt.Sprintf("낙상 후 %s 만에 스스로 일어남: %s간 거주자에게 확인 중", DurKo(d), DurKo(window)),
		En: fmt.Sprintf("Fell and got up after %s: asking the resident for %s", DurEn(d), DurEn(window))}
}

// explainGotUpAsked is the end of the ask about a fall the resident got
// up from: their answer, or none.
func explainGotUpAsked(fromLying, answered bool) Explanation {
	ko, en := "낙상 후 스스로 일어남", "Fell and got up"
	if fromLying {
		ko, en = "누운 자세에서 낙상 후 스스로 일어남", "Fell from lying and got up"
	}
	if answered {
		return Explanation{Ko: ko + ", 거주자가 괜찮다고 응답: 안부 확인 필요", En: en + "; the resident answered they are all right: welfare check"}
	}
	return Explanation{Ko: ko + ", 거주자 응답 없음: 안부 확인 필요", En: en + "; no answer from the resident: welfare check"}
}

func explainGotUp(d time.Duration) Explanation {
	return Explanation{Ko: fmt.Sprintf("낙상 후 %s 만에 일어남", DurKo(d)), En: fmt.Sprintf("Got up %s after the fall", DurEn(d))}
}

func explainSOS(again bool) Explanation {
	if again {
		return Explanation{Ko: "응급 호출 버튼 다시 누름", En: "SOS button pressed again"}
	}
	return Explanation{Ko: "응급 호출 버튼 누름", En: "SOS button pressed"}
}

func explainCancelled(c Cause, firing bool) Explanation {
	n := causeNames[c]
	if firing {
		return Explanation{Ko: n.Ko + ": 거주자가 취소함 (출동 취소 가능)", En: n.En + ": cancelled by the resident (dispatch may stand down)"}
	}
	return Explanation{Ko: n.Ko + ": 거주자가 취소함", En: n.En + ": cancelled by the resident"}
}

func explainInactivity(quiet, limit time.Duration, learned, emergency bool) Explanation {
	basis, basisEn := "기본 기준", "default limit"
	if learned {
		basis, basisEn = "평소 생활 기준", "learned limit"
	}
	if emergency {
		basis, basisEn = "최대 허용", "hard limit"
	}
	return Explanation{
		Ko: fmt.Sprintf("%s간 활동 없음 (%s %s), 외출 아님", DurKo(quiet), basis, DurKo(limit)),
		En: fmt.Sprintf("No activity for %s (%s %s), not out of the house", DurEn(quiet), basisEn, DurEn(limit)),
	}
}

func explainActivityResumed(d time.Duration) Explanation {
	return Explanation{Ko: fmt.Sprintf("활동 재개 (%s 만에)", DurKo(d)), En: fmt.Sprintf("Activity resumed after %s", DurEn(d))}
}

func explainOfflineEscalation(c Cause, wasPending bool) Explanation {
	n := causeNames[c]
	if wasPending {
		return Explanation{Ko: n.Ko + " · 허브 연결 끊김: 거주자 확인 불가, 즉시 전달", En: n.En + " · hub connection lost: resident cannot be asked, raised now"}
	}
	return Explanation{Ko: n.Ko + " · 허브 연결 끊김", En: n.En + " · hub connection lost"}
}
