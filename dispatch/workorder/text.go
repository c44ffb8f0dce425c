package workorder

import (
	"strings"

	"github.com/dolbom/dolbom/devices"
)

// Text is the technician's SMS. A technician gets what a visit needs and
// nothing more: the fault, the address with floor and unit, the resident's
// name and phone to arrange the visit, and who holds a key. Never the key
// safe or door codes (the resident or the key holder lets them in), the
// access notes (free text that may hold either), nor anything medical.
func Text(o Order, r devices.Resident, lang string) string {
	en := lang == "en"
	var b strings.Builder
	if en {
		b.WriteString("[Dolbom maintenance] " + faultWords(o.Fault, true) + ", hub " + string(o.Hub) + ". ")
	} else {
		b.WriteString("[돌봄 점검] " + faultWords(o.Fault, false) + " (허브 " + string(o.Hub) + "). ")
	}
	addr := strings.TrimSpace(strings.Join(nonEmpty(r.Address.Line1, r.Address.Building, floor(r.Address.Floor, en), unit(r.Address.Unit, en)), " "))
	if addr != "" {
		b.WriteString(addr + ". ")
	}
	if who := strings.TrimSpace(strings.Join(nonEmpty(r.Name, r.Phone), " ")); who != "" {
		b.WriteString(pick(en, "Resident: ", "대상자: ") + who + ". ")
	}
	if r.Access.KeyHolder != "" {
		b.WriteString(pick(en, "Key holder: ", "열쇠 보관: ") + r.Access.KeyHolder + ". ")
	}
	b.WriteString(pick(en, "Order ", "작업지시 ") + o.ID)
	return b.String()
}

func faultWords(f Fault, en bool) string {
	switch f {
	case FaultBatteryLow:
		return pick(en, "Battery low", "배터리 부족")
	case FaultSensorSilent:
		return pick(en, "Sensor silent", "감지기 응답 없음")
	case FaultTamper:
		return pick(en, "Sensor tampered with or failed its self-test", "감지기 훼손 또는 자가진단 실패")
	case FaultEndOfLife:
		return pick(en, "Device at end of life", "기기 사용 연한 도래")
	}
	return string(f)
}

func floor(s string, en bool) string {
	if s == "" {
		return ""
	}
	return pick(en, "floor "+s, s+"층")
}

func unit(s string, en bool) string {
	if s == "" {
		return ""
	}
	return pick(en, "unit "+s, s+"호")
}

func pick(en bool, english, korean string) string {
	if en {
		return english
	}
	return korean
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
