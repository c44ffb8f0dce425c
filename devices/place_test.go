package devices

import "testing"

func TestAddressKorean(t *testing.T) {
	for _, c := range []struct {
		a    Address
		want string
	}{
		{Address{Line1: "서울특별시 종로구 세종대로 209", Building: "○○아파트 103동", Floor: "7", Unit: "703"}, "서울특별시 종로구 세종대로 209 ○○아파트 103동 7층 703호"},
		{Address{Line1: "부산광역시 중구 중앙대로 1", Building: "103", Floor: "7층", Unit: "703호"}, "부산광역시 중구 중앙대로 1 103동 7층 703호"},
		{Address{Line1: "서울 마포구 월드컵로 10", Floor: "B1", Unit: "101-2"}, "서울 마포구 월드컵로 10 지하 1층 101-2호"},
		{Address{Line1: "전라남도 신안군 흑산면 예리 12", Unit: "별채"}, "전라남도 신안군 흑산면 예리 12 별채"},
		{Address{Line1: "서울 중구 세종대로 110"}, "서울 중구 세종대로 110"},
	} {
		if got := c.a.Korean(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.a, got, c.want)
		}
	}
}

func TestSensorPlace(t *testing.T) {
	for _, c := range []struct {
		s      Sensor
		ko, en string
	}{
		{Sensor{Kind: SensorSmoke, Location: LocKitchen}, "주방 연기감지기", "kitchen smoke detector"},
		{Sensor{Kind: SensorRadar, Location: LocBedroom}, "침실 레이더 생체 센서", "bedroom radar vital-sign sensor"},
		{Sensor{Kind: SensorWearable, Location: LocWorn}, "착용형 낙상 감지기", "wearable fall detector"},
		{Sensor{Kind: SensorSOSButton, Location: LocWorn}, "응급호출 버튼 (몸에 착용)", "emergency button (worn)"},
		{Sensor{Kind: SensorSOSButton, Location: LocOther}, "응급호출 버튼", "emergency button"},
	} {
		if ko, en := c.s.Place("ko"), c.s.Place("en"); ko != c.ko || en != c.en {
			t.Errorf("%+v: %q / %q, want %q / %q", c.s, ko, en, c.ko, c.en)
		}
	}
	// Every room and kind the registry accepts has both names.
	for l := range Locations {
		if l != LocOther && (l.Name("ko") == "" || l.Name("en") == "" || l.Name("ko") == string(l)) {
			t.Errorf("location %q has no name", l)
		}
	}
	for k := range SensorKinds {
		if k.Name("ko") == string(k) || k.Name("en") == "" {
			t.Errorf("sensor kind %q has no name", k)
		}
	}
}

func TestDomesticPhone(t *testing.T) {
	for in, want := range map[string]string{
		"+821012345678": "010-1234-5678",
		"+82212345678":  "02-1234-5678",
		"+8221234567":   "02-123-4567",
		"+82311234567":  "031-123-4567",
		"+82316661234":  "031-666-1234",
		"+14155550100":  "+14155550100",
		"관리사무소":         "관리사무소",
		"":              "",
	} {
		if got := DomesticPhone(in); got != want {
			t.Errorf("DomesticPhone(%q) = %q, want %q", in, got, want)
		}
	}
}
