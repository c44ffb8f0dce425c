package health

import (
	"fmt"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/devices"
)

// Explanations are written for the person who must act on them: what is
// wrong, with which device, for how long.

func explainNoHeartbeat(silent time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: "허브 연결 끊김, " + detectors.DurKo(silent) + "간 하트비트 없음",
		En: "Hub offline, no heartbeat for " + detectors.DurEn(silent),
	}
}

func explainDisconnected(offline time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: "허브 연결 끊김, " + detectors.DurKo(offline) + "간 재연결 없음",
		En: "Hub offline, disconnected and not back for " + detectors.DurEn(offline),
	}
}

func explainBackOnline(offline time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: "허브 다시 연결됨, " + detectors.DurKo(offline) + "간 끊겼음",
		En: "Hub back online after " + detectors.DurEn(offline),
	}
}

func explainPowerLost() detectors.Explanation {
	return detectors.Explanation{Ko: "정전: 허브가 배터리로 동작 중", En: "Mains power lost: hub running on battery"}
}

func explainPowerRestored(out time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: "전원 복구, " + detectors.DurKo(out) + "간 정전",
		En: "Mains power restored after " + detectors.DurEn(out),
	}
}

func batteryLevel(v float64) string {
	if v < 0 {
		return ""
	}
	return fmt.Sprintf(" %.0f%%", v)
}

func explainBatteryLow(sensor devices.SensorID, v float64) detectors.Explanation {
	if sensor == "" {
		return detectors.Explanation{Ko: "허브 배터리 부족" + batteryLevel(v), En: "Hub battery low" + batteryLevel(v)}
	}
	return detectors.Explanation{Ko: "센서 " + string(sensor) + " 배터리 부족" + batteryLevel(v), En: "Sensor " + string(sensor) + " battery low" + batteryLevel(v)}
}

func explainBatteryOK(sensor devices.SensorID, v float64) detectors.Explanation {
	if sensor == "" {
		return detectors.Explanation{Ko: "허브 배터리 정상" + batteryLevel(v), En: "Hub battery back to" + batteryLevel(v)}
	}
	return detectors.Explanation{Ko: "센서 " + string(sensor) + " 배터리 정상" + batteryLevel(v), En: "Sensor " + string(sensor) + " battery back to" + batteryLevel(v)}
}

func explainSensorSilent(sensor devices.SensorID, silent, every time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: fmt.Sprintf("센서 %s 응답 없음, %s간 보고 없음 (보고 주기 %s)", sensor, detectors.DurKo(silent), detectors.DurKo(every)),
		En: fmt.Sprintf("Sensor %s silent, no report for %s (reports every %s)", sensor, detectors.DurEn(silent), detectors.DurEn(every)),
	}
}

func explainSensorBack(sensor devices.SensorID, silent time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: fmt.Sprintf("센서 %s 다시 보고함, %s간 응답 없었음", sensor, detectors.DurKo(silent)),
		En: fmt.Sprintf("Sensor %s reporting again after %s of silence", sensor, detectors.DurEn(silent)),
	}
}

func explainSensorFault(sensor devices.SensorID, kind devices.EventKind) detectors.Explanation {
	if kind == devices.EventTamper {
		return detectors.Explanation{
			Ko: "센서 " + string(sensor) + " 탈착 또는 개봉 감지",
			En: "Sensor " + string(sensor) + " tampered with: opened or removed from its mount",
		}
	}
	return detectors.Explanation{
		Ko: "센서 " + string(sensor) + " 자가진단 실패",
		En: "Sensor " + string(sensor) + " failed its self-test",
	}
}

func explainSensorFaultCleared(sensor devices.SensorID, after time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: fmt.Sprintf("센서 %s 고장 보고 없이 %s간 정상 보고", sensor, detectors.DurKo(after)),
		En: fmt.Sprintf("Sensor %s has reported normally for %s without a fault", sensor, detectors.DurEn(after)),
	}
}

func explainSensorRemoved(sensor devices.SensorID) detectors.Explanation {
	return detectors.Explanation{
		Ko: "센서 " + string(sensor) + " 등록 해제 또는 비활성화",
		En: "Sensor " + string(sensor) + " removed or disabled in the registry",
	}
}

func explainEndOfLife(eol time.Time) detectors.Explanation {
	day := eol.UTC().Format("2006-01-02")
	return detectors.Explanation{Ko: "허브 내구연한 경과 (" + day + ")", En: "Hub past its end of life (" + day + ")"}
}

func explainEndOfLifeExtended(eolMs int64, eol time.Time) detectors.Explanation {
	if eolMs == 0 {
		return detectors.Explanation{Ko: "허브 내구연한 해제", En: "Hub end of life cleared"}
	}
	day := eol.UTC().Format("2006-01-02")
	return detectors.Explanation{Ko: "허브 내구연한 연장 (" + day + ")", En: "Hub end of life moved to " + day}
}

func explainClockSkew(skew, tol time.Duration) detectors.Explanation {
	dir, dirKo := "ahead", "빠름"
	if skew < 0 {
		dir, dirKo = "behind", "느림"
	}
	return detectors.Explanation{
		Ko: fmt.Sprintf("허브 시계 오차 %s %s (허용 %s)", detectors.DurKo(skew.Abs()), dirKo, detectors.DurKo(tol)),
		En: fmt.Sprintf("Hub clock %s %s (tolerance %s)", detectors.DurEn(skew.Abs()), dir, detectors.DurEn(tol)),
	}
}

func explainClockOK(skew time.Duration) detectors.Explanation {
	return detectors.Explanation{
		Ko: "허브 시계 정상 (오차 " + detectors.DurKo(skew.Abs()) + ")",
		En: "Hub clock back in step (off by " + detectors.DurEn(skew.Abs()) + ")",
	}
}

func explainDisabled() detectors.Explanation {
	return detectors.Explanation{Ko: "허브 비활성화됨", En: "Hub disabled in the registry"}
}
