package detectors

import (
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Explanations are written for the person who must act on them: what is
// wrong, with which device, for how long.

// durKo and durEn say a duration the way people do: "12분", "1시간 5분";
// "12 min", "1 h 5 min".
func durKo(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d초", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d분", int(d.Minutes()))
	case d%time.Hour < time.Minute:
		return fmt.Sprintf("%d시간", int(d.Hours()))
	}
	return fmt.Sprintf("%d시간 %d분", int(d.Hours()), int((d % time.Hour).Minutes()))
}

func durEn(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d%time.Hour < time.Minute:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int((d % time.Hour).Minutes()))
}

func explainNoHeartbeat(silent time.Duration) Explanation {
	return Explanation{
		Ko: "허브 연결 끊김, " + durKo(silent) + "간 하트비트 없음",
		En: "Hub offline, no heartbeat for " + durEn(silent),
	}
}

func explainDisconnected(offline time.Duration) Explanation {
	return Explanation{
		Ko: "허브 연결 끊김, " + durKo(offline) + "간 재연결 없음",
		En: "Hub offline, disconnected and not back for " + durEn(offline),
	}
}

func explainBackOnline(offline time.Duration) Explanation {
	return Explanation{
		Ko: "허브 다시 연결됨, " + durKo(offline) + "간 끊겼음",
		En: "Hub back online after " + durEn(offline),
	}
}

func explainPowerLost() Explanation {
	return Explanation{Ko: "정전: 허브가 배터리로 동작 중", En: "Mains power lost: hub running on battery"}
}

func explainPowerRestored(out time.Duration) Explanation {
	return Explanation{
		Ko: "전원 복구, " + durKo(out) + "간 정전",
		En: "Mains power restored after " + durEn(out),
	}
}

func batteryLevel(v float64) string {
	if v < 0 {
		return ""
	}
	return fmt.Sprintf(" %.0f%%", v)
}

func explainBatteryLow(sensor devices.SensorID, v float64) Explanation {
	if sensor == "" {
		return Explanation{Ko: "허브 배터리 부족" + batteryLevel(v), En: "Hub battery low" + batteryLevel(v)}
	}
	return Explanation{Ko: "센서 " + string(sensor) + " 배터리 부족" + batteryLevel(v), En: "Sensor " + string(sensor) + " battery low" + batteryLevel(v)}
}

func explainBatteryOK(sensor devices.SensorID, v float64) Explanation {
	if sensor == "" {
		return Explanation{Ko: "허브 배터리 정상" + batteryLevel(v), En: "Hub battery back to" + batteryLevel(v)}
	}
	return Explanation{Ko: "센서 " + string(sensor) + " 배터리 정상" + batteryLevel(v), En: "Sensor " + string(sensor) + " battery back to" + batteryLevel(v)}
}

func explainSensorSilent(sensor devices.SensorID, silent, every time.Duration) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("센서 %s 응답 없음, %s간 보고 없음 (보고 주기 %s)", sensor, durKo(silent), durKo(every)),
		En: fmt.Sprintf("Sensor %s silent, no report for %s (reports every %s)", sensor, durEn(silent), durEn(every)),
	}
}

func explainSensorBack(sensor devices.SensorID, silent time.Duration) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("센서 %s 다시 보고함, %s간 응답 없었음", sensor, durKo(silent)),
		En: fmt.Sprintf("Sensor %s reporting again after %s of silence", sensor, durEn(silent)),
	}
}

func explainSensorFault(sensor devices.SensorID, kind devices.EventKind) Explanation {
	if kind == devices.EventTamper {
		return Explanation{
			Ko: "센서 " + string(sensor) + " 탈착 또는 개봉 감지",
			En: "Sensor " + string(sensor) + " tampered with: opened or removed from its mount",
		}
	}
	return Explanation{
		Ko: "센서 " + string(sensor) + " 자가진단 실패",
		En: "Sensor " + string(sensor) + " failed its self-test",
	}
}

func explainSensorFaultCleared(sensor devices.SensorID, after time.Duration) Explanation {
	return Explanation{
		Ko: fmt.Sprintf("센서 %s 고장 보고 없이 %s간 정상 보고", sensor, durKo(after)),
		En: fmt.Sprintf("Sensor %s has reported normally for %s without a fault", sensor, durEn(after)),
	}
}

func explainSensorRemoved(sensor devices.SensorID) Explanation {
	return Explanation{
		Ko: "센서 " + string(sensor) + " 등록 해제 또는 비활성화",
		En: "Sensor " + string(sensor) + " removed or disabled in the registry",
	}
}

func explainEndOfLife(eol time.Time) Explanation {
	day := eol.UTC().Format("2006-01-02")
	return Explanation{Ko: "허브 내구연한 경과 (" + day + ")", En: "Hub past its end of life (" + day + ")"}
}

func explainEndOfLifeExtended(eolMs int64, eol time.Time) Explanation {
	if eolMs == 0 {
		return Explanation{Ko: "허브 내구연한 해제", En: "Hub end of life cleared"}
	}
	day := eol.UTC().Format("2006-01-02")
	return Explanation{Ko: "허브 내구연한 연장 (" + day + ")", En: "Hub end of life moved to " + day}
}

func explainClockSkew(skew, tol time.Duration) Explanation {
	dir, dirKo := "ahead", "빠름"
	if skew < 0 {
		dir, dirKo = "behind", "느림"
	}
	return Explanation{
		Ko: fmt.Sprintf("허브 시계 오차 %s %s (허용 %s)", durKo(skew.Abs()), dirKo, durKo(tol)),
		En: fmt.Sprintf("Hub clock %s %s (tolerance %s)", durEn(skew.Abs()), dir, durEn(tol)),
	}
}

func explainClockOK(skew time.Duration) Explanation {
	return Explanation{
		Ko: "허브 시계 정상 (오차 " + durKo(skew.Abs()) + ")",
		En: "Hub clock back in step (off by " + durEn(skew.Abs()) + ")",
	}
}

func explainDisabled() Explanation {
	return Explanation{Ko: "허브 비활성화됨", En: "Hub disabled in the registry"}
}
