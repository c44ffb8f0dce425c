package devices

import (
	"slices"
	"strings"
	"unicode"
)

// Where a responder must go, in the words a responder uses. Both the
// dispatcher's console and the CAP message to 119 write the address and the
// alarm's room this way, so the two never disagree: the rule lives here,
// with the records it formats.

// Korean writes the address the way it is read in Korea, from the road
// address down to the door: "서울특별시 종로구 세종대로 209 ○○아파트 103동
// 7층 703호". Floor and unit numbers get their 층 and 호; what the record
// already spells out is kept as it is.
func (a Address) Korean() string {
	return words(strings.TrimSpace(a.Line1), a.BuildingKorean(), a.FloorKorean(), a.UnitKorean())
}

// BuildingKorean is the building as "103동" when the record holds only its
// number; a name ("○○아파트 103동") is kept.
func (a Address) BuildingKorean() string {
	b := strings.TrimSpace(a.Building)
	if allDigits(b) {
		return b + "동"
	}
	return b
}

// FloorKorean is the floor as "7층"; a basement floor "B1" is "지하 1층".
func (a Address) FloorKorean() string {
	f := strings.TrimSpace(a.Floor)
	switch {
	case f == "":
		return ""
	case allDigits(f):
		return f + "층"
	case len(f) > 1 && (f[0] == 'B' || f[0] == 'b') && allDigits(f[1:]):
		return "지하 " + f[1:] + "층"
	}
	return f
}

// UnitKorean is the unit as "703호" ("703-1" too: "703-1호").
func (a Address) UnitKorean() string {
	u := strings.TrimSpace(a.Unit)
	if u == "" || strings.HasSuffix(u, "호") {
		return u
	}
	// A number ("703", "703-1", "1203B") gets 호; words stay as written.
	if strings.IndexFunc(u, unicode.IsDigit) == 0 && !strings.ContainsFunc(u, unicode.IsSpace) {
		return u + "호"
	}
	return u
}

func allDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// words joins the parts that are not empty with spaces.
func words(parts ...string) string {
	return strings.Join(slices.DeleteFunc(parts, func(s string) bool { return s == "" }), " ")
}

// locationNames and sensorKindNames are the rooms and devices in Korean and
// English, as a responder says them mid-sentence ("주방 연기감지기", "kitchen
// smoke detector"). The admin forms have their own, longer labels for
// choosing a kind; the rooms are named alike in both (화장실, not 욕실).
var locationNames = map[Location][2]string{
	LocBedroom:    {"침실", "bedroom"},
	LocLivingRoom: {"거실", "living room"},
	LocKitchen:    {"주방", "kitchen"},
	LocBathroom:   {"화장실", "bathroom"},
	LocEntrance:   {"현관", "entrance"},
	LocHallway:    {"복도", "hallway"},
	LocUtility:    {"다용도실", "utility room"},
	LocWorn:       {"몸에 착용", "worn"},
	LocOther:      {"", ""},
}

var sensorKindNames = map[SensorKind][2]string{
	SensorSmoke:     {"연기감지기", "smoke detector"},
	SensorHeat:      {"열감지기", "heat detector"},
	SensorCO:        {"일산화탄소 감지기", "carbon monoxide detector"},
	SensorGas:       {"가스 감지기", "gas detector"},
	SensorMotion:    {"동작 감지기", "motion sensor"},
	SensorDoor:      {"현관문 센서", "door sensor"},
	SensorRadar:     {"레이더 생체 센서", "radar vital-sign sensor"},
	SensorWearable:  {"착용형 낙상 감지기", "wearable fall detector"},
	SensorSOSButton: {"응급호출 버튼", "emergency button"},
	SensorHub:       {"허브 본체", "the hub itself"},
}

func langIndex(lang string) int {
	if strings.HasPrefix(lang, "en") {
		return 1
	}
	return 0
}

// Name is the room in Korean ("ko") or English ("en"); "" for other.
func (l Location) Name(lang string) string {
	n, ok := locationNames[l]
	if !ok {
		return string(l)
	}
	return n[langIndex(lang)]
}

// Name is the kind of device in Korean ("ko") or English ("en").
func (k SensorKind) Name(lang string) string {
	n, ok := sensorKindNames[k]
	if !ok {
		return string(k)
	}
	return n[langIndex(lang)]
}

// Place says where the sensor is and what it is, as a dispatcher says it:
// "주방 연기감지기", "kitchen smoke detector"; a worn device has no room, so
// it is the device, with "(몸에 착용)" / "(worn)" unless its kind says so.
func (s Sensor) Place(lang string) string {
	kind := s.Kind.Name(lang)
	switch s.Location {
	case LocWorn:
		if s.Kind == SensorWearable {
			return kind // worn by its kind
		}
		if langIndex(lang) == 1 {
			return kind + " (worn)"
		}
		return kind + " (몸에 착용)"
	case LocOther, "":
		return kind
	}
	return words(s.Location.Name(lang), kind)
}
