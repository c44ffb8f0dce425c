package devices

import (
	"fmt"
	"strings"
)

// NormalizePhone returns phone in E.164 form. It accepts E.164 (+82...,
// spaces, dots, hyphens and parentheses ignored) and Korean domestic numbers
// with the leading 0 (010-1234-5678, 02-123-4567), which become +82 without
// the 0. "+82 010-..." (the domestic 0 kept after the country code, a common
// slip) is mended too. It lives here, in the leaf, because the API
// normalises what it stores with it and the store's search normalises what
// people type with the same rule: both must agree.
func NormalizePhone(phone string) (string, error) {
	var digits strings.Builder
	plus := false
	for i, c := range strings.TrimSpace(phone) {
		switch {
		case c >= '0' && c <= '9':
			digits.WriteRune(c)
		case c == '+' && i == 0:
			plus = true
		case c == ' ' || c == '-' || c == '.' || c == '(' || c == ')':
		default:
			return "", fmt.Errorf("%q: only digits, a leading +, spaces and hyphens are allowed", phone)
		}
	}
	d := digits.String()
	switch {
	case d == "":
		return "", fmt.Errorf("%q has no digits", phone)
	case plus:
		if rest, ok := strings.CutPrefix(d, "820"); ok {
			d = "82" + rest
		}
		if d[0] == '0' || len(d) < 8 || len(d) > 15 {
			return "", fmt.Errorf("%q is not an E.164 number (+, country code, 8-15 digits in all)", phone)
		}
		return "+" + d, nil
	case d[0] == '0' && len(d) >= 9 && len(d) <= 11 && d[1] != '0':
		return "+82" + d[1:], nil
	}
	return "", fmt.Errorf("%q: write it in E.164 (+821012345678) or as a Korean number with its leading 0 (010-1234-5678)", phone)
}

// ResidentSearch is what a search box's text means, parsed once so that
// every registry (the SQL back ends, the test fake) matches alike.
type ResidentSearch struct {
	// Raw is the text as typed, trimmed: an exact id matches it.
	Raw string
	// Phone is set when the whole text is a phone number however it was
	// typed (010-3333-4444, 01033334444, +821033334444, "010 3333 4444"):
	// its E.164 form, which is how phones are stored.
	Phone string
	// Terms are the lower-cased words of the text: a resident matches when
	// every term is found in its name, address (road name, building, floor,
	// unit, district, postcode) or phone, so "103동 1502" finds the
	// building and the unit wherever they were written.
	Terms []string
}

// ParseResidentSearch parses a search text; the zero value (empty text)
// matches everyone.
func ParseResidentSearch(text string) ResidentSearch {
	s := ResidentSearch{Raw: strings.TrimSpace(text)}
	if s.Raw == "" {
		return s
	}
	if p, err := NormalizePhone(s.Raw); err == nil {
		s.Phone = p
	}
	s.Terms = strings.Fields(strings.ToLower(s.Raw))
	return s
}

// SearchText is the text of r that ResidentSearch.Terms are looked for in,
// lower-cased. The SQL back ends build the same text in SQL (store/registry.go).
func (r Resident) SearchText() string {
	a := r.Address
	return strings.ToLower(strings.Join([]string{r.Name, a.Line1, a.Building, a.Floor, a.Unit, a.District, a.Postcode, r.Phone}, " "))
}

// Matches reports whether r is found by s (for registries kept in memory).
func (s ResidentSearch) Matches(r Resident) bool {
	if s.Raw == "" || string(r.ID) == s.Raw || (s.Phone != "" && r.Phone == s.Phone) {
		return true
	}
	text := r.SearchText()
	for _, t := range s.Terms {
		if !strings.Contains(text, t) {
			return false
		}
	}
	return len(s.Terms) > 0
}

// DomesticPhone writes a Korean E.164 number (+821012345678, as the registry
// keeps phones) the way Koreans read and dial it: 010-1234-5678,
// 02-123-4567, 031-123-4567. Other numbers, and anything that is not a
// plain E.164 number, come back as they were.
func DomesticPhone(e164 string) string {
	rest, ok := strings.CutPrefix(e164, "+82")
	if !ok || !allDigits(rest) || len(rest) < 8 || len(rest) > 10 || rest[0] == '0' {
		return e164
	}
	d := "0" + rest
	area := 3 // 010, 031, 051, 070...
	if strings.HasPrefix(d, "02") {
		area = 2 // Seoul
	}
	local := d[area:]
	mid := len(local) - 4
	if mid < 3 {
		return e164
	}
	return d[:area] + "-" + local[:mid] + "-" + local[mid:]
}
