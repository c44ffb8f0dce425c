package region

import (
	"errors"
	"strings"
	"testing"
)

// The shipped list has the shape of Korea's administration: 17 시도, each
// 시군구 under exactly one of them, every code unique, and the changes of
// 2023-24 in it.
func TestShippedListShape(t *testing.T) {
	sidos := Sidos()
	if len(sidos) != 17 {
		t.Fatalf("%d 시도, want 17: %v", len(sidos), sidos)
	}
	seen := map[Code]bool{}
	total := 0
	for _, s := range sidos {
		if !s.Code.IsSido() || seen[s.Code] {
			t.Errorf("시도 %s: code not 2 digits, or twice", s)
		}
		seen[s.Code] = true
		ds := Districts(s.Code)
		if len(ds) == 0 {
			t.Errorf("시도 %s has no 시군구", s)
		}
		for _, d := range ds {
			if len(d.Code) != 5 || seen[d.Code] {
				t.Errorf("시군구 %s: code not 5 digits, or twice", d)
			}
			seen[d.Code] = true
			if p, ok := Parent(d.Code); !ok || p.Code != s.Code {
				t.Errorf("시군구 %s: parent %v, want %s", d, p, s)
			}
			total++
		}
	}
	if total < 220 || total > 300 {
		t.Errorf("%d 시군구: Korea has about 250 (226 local governments and the districts of larger cities)", total)
	}
	for _, want := range []struct {
		code Code
		name string
		sido Code
	}{
		{"51", "강원특별자치도", ""},  // renamed 2023-06-11, code 42 -> 51
		{"52", "전북특별자치도", ""},  // renamed 2024-01-18, code 45 -> 52
		{"27720", "군위군", "27"}, // moved from 경상북도 to 대구광역시 on 2023-07-01
		{"26350", "해운대구", "26"},
		{"36110", "세종특별자치시", "36"},
	} {
		r, ok := Lookup(want.code)
		if !ok || r.Name != want.name {
			t.Errorf("Lookup(%s) = %v, %v; want %s", want.code, r, ok, want.name)
		}
		if want.sido != "" {
			if p, _ := Parent(want.code); p.Code != want.sido {
				t.Errorf("Parent(%s) = %v, want %s", want.code, p, want.sido)
			}
		}
	}
	for _, gone := range []Code{"42", "45", "47720"} {
		if r, ok := Lookup(gone); ok {
			t.Errorf("Lookup(%s) = %v: an abolished code is listed", gone, r)
		}
	}
}

func TestParseRefusesMalformedLists(t *testing.T) {
	for _, tc := range []struct{ name, tsv, want string }{
		{"no tab", "11 서울특별시\n", "code<TAB>name"},
		{"bad code", "1\t서울\n", "2 digits"},
		{"twice", "11\t서울특별시\n11110\t종로구\n11110\t중구\n", "twice"},
		{"orphan", "11\t서울특별시\n11110\t종로구\n26110\t중구\n", "without) its 시도"},
		{"empty 시도", "11\t서울특별시\n26\t부산광역시\n11110\t종로구\n", "no 시군구"},
		{"same name", "11\t서울특별시\n11110\t중구\n11140\t중구\n", "two 시군구"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(tc.tsv)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parse: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestSidoByNameShortForms(t *testing.T) {
	for name, want := range map[string]Code{
		"서울": "11", "서울시": "11", "서울특별시": "11", "부산": "26", "부산광역시": "26", "부산시": "26",
		"경기": "41", "경기도": "41", "충북": "43", "충청북도": "43", "경남": "48", "세종": "36", "세종시": "36",
		"제주": "50", "제주도": "50", "강원": "51", "강원도": "51", "강원특별자치도": "51", "전북": "52", "전라북도": "52",
	} {
		if r, ok := SidoByName(name); !ok || r.Code != want {
			t.Errorf("SidoByName(%q) = %v, %v; want %s", name, r, ok, want)
		}
	}
	if r, ok := SidoByName("서울특별"); ok {
		t.Errorf("SidoByName(서울특별) = %v: not a name", r)
	}
}

func TestDerive(t *testing.T) {
	for addr, want := range map[string]Code{
		"부산광역시 해운대구 해운대로 1":        "26350",
		"서울특별시 종로구 세종대로 209":       "11110",
		"서울 중구 세종대로 110":           "11140",
		"부산 중구 중앙대로 1":             "26110", // the same name in another 시도
		"대구광역시 군위군 군위읍 군청로 1":      "27720",
		"세종특별자치시 한누리대로 2130":       "36110",
		"전라남도 신안군 흑산면 예리 12":       "46910",
		"경기도 수원시 장안구 정조로 1":        "41111",
		"경기도 수원시장안구 정조로 1":         "41111",
		"강원도 춘천시 중앙로 1":            "51110", // the former name
		"  서울특별시,  노원구 동일로 1414  ": "11350",
	} {
		r, err := Derive(addr)
		if err != nil || r.Code != want {
			t.Errorf("Derive(%q) = %v, %v; want %s", addr, r, err, want)
		}
	}
}

func TestUnknownDistrictListsTheChoices(t *testing.T) {
	_, err := Derive("부산광역시 없는구 어딘가로 1")
	var ue *UnknownError
	if !errors.As(err, &ue) || ue.Sido.Code != "26" || len(ue.Choices) != len(Districts("26")) {
		t.Fatalf("Derive: %v, want an UnknownError of 부산광역시 listing its 시군구", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "해운대구 (26350)") || !strings.Contains(msg, "부산광역시의 시군구를 알 수 없습니다") {
		t.Errorf("message %q does not name the choices in Korean", msg)
	}
	_, err = Derive("Seoul Jongno-gu")
	if !errors.As(err, &ue) || ue.Sido.Code != "" || len(ue.Choices) != 17 || !strings.Contains(err.Error(), "서울특별시 (11)") {
		t.Fatalf("Derive(English): %v, want the 17 시도 as choices", err)
	}
	if _, err := District("26999"); !errors.As(err, &ue) || ue.Sido.Code != "26" {
		t.Errorf("District(26999): %v, want the 시군구 of 부산광역시 as choices", err)
	}
	if _, err := District("11"); !errors.As(err, &ue) {
		t.Errorf("District(11): %v, want an error: a 시도 is not a 시군구", err)
	}
	if r, err := District(" 26350 "); err != nil || r.Name != "해운대구" {
		t.Errorf("District(26350) = %v, %v", r, err)
	}
}
