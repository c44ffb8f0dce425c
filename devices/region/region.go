// Package region is the tree of Korea's administrative districts the
// service is organised by: 시도 (the 17 provinces and metropolitan cities,
// each with its own fire headquarters and so its own 119) and 시군구 (the
// cities, counties and districts whose offices run welfare). A resident
// belongs to one 시군구; its 시도 routes the resident's emergencies to 119.
//
// Codes are the first digits of the 법정동코드 (legal-district code of the
// 행정표준코드): 2 for a 시도 ("11" 서울특별시), 5 for a 시군구 ("26350"
// 부산광역시 해운대구). The list is data, embedded from districts.tsv (its
// source, date and licence are in README.md beside it); this package only
// reads it. It imports nothing of the project, so every stage can use it.
package region

//go:generate sh generate.sh

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Code is a region's code: 2 digits for a 시도, 5 for a 시군구.
type Code string

// IsSido reports whether c is a 시도's code (2 digits).
func (c Code) IsSido() bool { return len(c) == 2 }

// Sido is the code of the 시도 c lies in (c itself for a 시도); "" when c
// is too short to say.
func (c Code) Sido() Code {
	if len(c) < 2 {
		return ""
	}
	return c[:2]
}

// Region is one 시도 or 시군구.
type Region struct {
	Code Code   `json:"code"`
	Name string `json:"name"` // "서울특별시", "해운대구", "수원시 장안구"
}

func (r Region) String() string { return r.Name + " (" + string(r.Code) + ")" }

//go:embed districts.tsv
var districtsTSV string

// tree is the embedded list, read once; a malformed file is a build
// mistake, caught by the package's tests and at start.
var tree = mustParse(districtsTSV)

type regionTree struct {
	sidos     []Region
	districts map[Code][]Region // by 시도, in code order
	byCode    map[Code]Region
	// sidoNames finds a 시도 by its name and the usual short forms
	// ("서울", "서울시", "서울특별시").
	sidoNames map[string]Code
	// districtNames finds a 시군구 by 시도 and its name without spaces
	// ("26" + "해운대구", "41" + "수원시장안구").
	districtNames map[string]Code
}

func mustParse(tsv string) *regionTree {
	t, err := parse(tsv)
	if err != nil {
		panic("region: districts.tsv: " + err.Error())
	}
	return t
}

// parse reads lines "code<TAB>name": 2-digit codes are 시도, 5-digit codes
// 시군구 of the 시도 their first 2 digits name. Lines starting with # are
// comments.
func parse(tsv string) (*regionTree, error) {
	t := &regionTree{districts: map[Code][]Region{}, byCode: map[Code]Region{}, sidoNames: map[string]Code{},
		districtNames: map[string]Code{}}
	for n, line := range strings.Split(tsv, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, name, ok := strings.Cut(line, "\t")
		r := Region{Code: Code(code), Name: strings.TrimSpace(name)}
		switch {
		case !ok || r.Name == "" || !utf8.ValidString(r.Name):
			return nil, fmt.Errorf("line %d: want code<TAB>name", n+1)
		case !digits(code) || len(code) != 2 && len(code) != 5:
			return nil, fmt.Errorf("line %d: code %q: want 2 digits (시도) or 5 (시군구)", n+1, code)
		}
		if _, dup := t.byCode[r.Code]; dup {
			return nil, fmt.Errorf("line %d: code %s twice", n+1, code)
		}
		if r.Code.IsSido() {
			t.sidos = append(t.sidos, r)
		} else {
			if _, ok := t.byCode[r.Code.Sido()]; !ok {
				return nil, fmt.Errorf("line %d: 시군구 %s before (or without) its 시도 %s", n+1, code, r.Code.Sido())
			}
			key := string(r.Code.Sido()) + squash(r.Name)
			if _, dup := t.districtNames[key]; dup {
				return nil, fmt.Errorf("line %d: two 시군구 named %q in 시도 %s", n+1, r.Name, r.Code.Sido())
			}
			t.districtNames[key] = r.Code
			t.districts[r.Code.Sido()] = append(t.districts[r.Code.Sido()], r)
		}
		t.byCode[r.Code] = r
	}
	for _, s := range t.sidos {
		if len(t.districts[s.Code]) == 0 {
			return nil, fmt.Errorf("시도 %s has no 시군구", s)
		}
		for _, name := range sidoForms(s.Name) {
			if other, dup := t.sidoNames[name]; dup && other != s.Code {
				return nil, fmt.Errorf("시도 name %q is both %s and %s", name, other, s.Code)
			}
			t.sidoNames[name] = s.Code
		}
		for _, old := range formerSidoNames[s.Code] {
			t.sidoNames[old] = s.Code
		}
	}
	for _, ds := range t.districts {
		slices.SortFunc(ds, func(a, b Region) int { return strings.Compare(string(a.Code), string(b.Code)) })
	}
	slices.SortFunc(t.sidos, func(a, b Region) int { return strings.Compare(string(a.Code), string(b.Code)) })
	return t, nil
}

// formerSidoNames are the names two 시도 had until their renaming, still
// written in older addresses and records: 강원도 became 강원특별자치도 on
// 2023-06-11 and 전라북도 전북특별자치도 on 2024-01-18 (both got new codes,
// 42 -> 51 and 45 -> 52, which is why the codes here are 51 and 52).
var formerSidoNames = map[Code][]string{
	"51": {"강원도"},
	"52": {"전라북도"},
}

// sidoForms are the names a 시도 goes by: its full name and the usual short
// forms, derived from the full name: 서울특별시 -> 서울, 서울시;
// 부산광역시 -> 부산, 부산시; 경기도 -> 경기; 충청북도 -> 충북;
// 제주특별자치도 -> 제주, 제주도.
func sidoForms(full string) []string {
	forms := []string{full}
	base, kind := full, ""
	for _, suffix := range []string{"특별자치시", "특별자치도", "특별시", "광역시", "도"} {
		if b, ok := strings.CutSuffix(full, suffix); ok && b != "" {
			base, kind = b, suffix
			break
		}
	}
	if kind == "" {
		return forms
	}
	// 충청북도, 전라남도, 경상북도: the short form is the first syllable and
	// the direction (충북, 전남, 경북).
	if r := []rune(base); kind == "도" && len(r) == 3 && (r[2] == '북' || r[2] == '남') {
		base = string(r[0]) + string(r[2])
	}
	forms = append(forms, base)
	if strings.HasSuffix(kind, "시") {
		forms = append(forms, base+"시")
	} else {
		forms = append(forms, base+"도")
	}
	return forms
}

// squash drops the spaces of a name: "수원시 장안구" and "수원시장안구" are
// written both ways.
func squash(s string) string { return strings.Join(strings.Fields(s), "") }

func digits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }

// Sidos returns the 시도 in code order.
func Sidos() []Region { return slices.Clone(tree.sidos) }

// Districts returns the 시군구 of a 시도 in code order; nil for a code that
// is no 시도.
func Districts(sido Code) []Region { return slices.Clone(tree.districts[sido]) }

// Lookup finds a 시도 or 시군구 by its code.
func Lookup(code Code) (Region, bool) {
	r, ok := tree.byCode[Code(strings.TrimSpace(string(code)))]
	return r, ok
}

// Parent is the 시도 of a 시군구; false for a 시도 or an unknown code.
func Parent(code Code) (Region, bool) {
	if _, ok := tree.byCode[code]; !ok || code.IsSido() {
		return Region{}, false
	}
	return Lookup(code.Sido())
}

// SidoByName finds a 시도 by its name or a usual short form ("서울",
// "서울시", "서울특별시", "충북", "강원도").
func SidoByName(name string) (Region, bool) {
	code, ok := tree.sidoNames[strings.TrimSpace(name)]
	if !ok {
		return Region{}, false
	}
	return tree.byCode[code], true
}

// DistrictByName finds a 시군구 of a 시도 by its name ("해운대구"; spaces do
// not matter: "수원시장안구" is "수원시 장안구").
func DistrictByName(sido Code, name string) (Region, bool) {
	code, ok := tree.districtNames[string(sido)+squash(name)]
	if !ok {
		return Region{}, false
	}
	return tree.byCode[code], true
}

// UnknownError says which region could not be found and lists the valid
// choices: the 시군구 of the 시도 when the 시도 was found, the 시도
// otherwise.
type UnknownError struct {
	// Input is what was looked for (an address or a code).
	Input string
	// Sido is the 시도 that was found; the zero Region when none was.
	Sido    Region
	Choices []Region
}

func (e *UnknownError) Error() string {
	names := make([]string, len(e.Choices))
	for i, c := range e.Choices {
		names[i] = c.String()
	}
	if e.Sido.Code != "" {
		return fmt.Sprintf("%s의 시군구를 알 수 없습니다 (unknown district of %s): %q; %s의 시군구: %s",
			e.Sido.Name, e.Sido.Name, e.Input, e.Sido.Name, strings.Join(names, ", "))
	}
	return fmt.Sprintf("시도를 알 수 없습니다 (unknown province): %q; 주소는 시도부터 씁니다 (\"서울특별시 종로구 ...\"); 시도: %s",
		e.Input, strings.Join(names, ", "))
}

func unknownSido(input string) *UnknownError {
	return &UnknownError{Input: input, Choices: Sidos()}
}

func unknownDistrict(input string, sido Region) *UnknownError {
	return &UnknownError{Input: input, Sido: sido, Choices: Districts(sido.Code)}
}

// District checks a 시군구 code and returns its region; an unknown code is
// an *UnknownError listing the choices (of its 시도, when the first two
// digits name one).
func District(code Code) (Region, error) {
	code = Code(strings.TrimSpace(string(code)))
	if r, ok := tree.byCode[code]; ok && !code.IsSido() {
		return r, nil
	}
	if sido, ok := tree.byCode[code.Sido()]; ok {
		return Region{}, unknownDistrict(string(code), sido)
	}
	return Region{}, unknownSido(string(code))
}

// Derive finds the 시군구 of a Korean road-name or lot-number address from
// its first words, 시도 then 시군구: "부산광역시 해운대구 해운대로 1" ->
// 26350 해운대구; "서울 종로구 ..." and "경기도 수원시 장안구 ..." too. A
// 시도 with a single 시군구 (세종) needs no second word. When the 시도 or its
// 시군구 is not found the error is an *UnknownError with the choices.
func Derive(address string) (Region, error) {
	words := strings.FieldsFunc(address, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' || r == '\n' })
	if len(words) == 0 {
		return Region{}, unknownSido(address)
	}
	sido, ok := SidoByName(words[0])
	if !ok {
		return Region{}, unknownSido(address)
	}
	ds := tree.districts[sido.Code]
	if len(ds) == 1 {
		return ds[0], nil
	}
	rest := words[1:]
	// The longest first: "수원시 장안구" before "수원시".
	if len(rest) >= 2 {
		if d, ok := DistrictByName(sido.Code, rest[0]+rest[1]); ok {
			return d, nil
		}
	}
	if len(rest) >= 1 {
		if d, ok := DistrictByName(sido.Code, rest[0]); ok {
			return d, nil
		}
	}
	// A city whose districts the list names without it ("용인시 처인구"
	// listed as "처인구"): the city's word names nothing, its district does.
	if len(rest) >= 2 && strings.HasSuffix(rest[0], "시") && strings.HasSuffix(rest[1], "구") {
		if d, ok := DistrictByName(sido.Code, rest[1]); ok {
			return d, nil
		}
	}
	return Region{}, unknownDistrict(address, sido)
}
