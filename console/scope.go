package console

// Scoping by region (docs/operations.md): an account with regions sees and
// acts on its regions only; an account without any is national (every
// account made before regions existed). Regions are codes of
// devices/region: a 2-digit 시도 ("26" 부산광역시) or a 5-digit 시군구
// ("26350" 해운대구). A dispatcher belongs to 시도 (119 is run per 시도),
// a social worker to the one 시군구 of their centre, an admin to either.

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

// National reports whether the account sees every region.
func (a Account) National() bool { return len(a.Regions) == 0 }

// Covers reports whether a region code (a 시도 or a 시군구: an incident's
// or a resident's) is within the account's regions. An empty code (a
// resident without a district, an incident of no known region) is covered
// by national accounts only.
func (a Account) Covers(code string) bool {
	if a.National() {
		return true
	}
	if code == "" {
		return false
	}
	for _, r := range a.Regions {
		if strings.HasPrefix(code, r) {
			return true
		}
	}
	return false
}

// CoversAccount reports whether the account (an admin) may manage b: a
// national admin every account; a regional admin the accounts whose
// regions all lie within theirs (never a national one).
func (a Account) CoversAccount(b Account) bool {
	if a.National() {
		return true
	}
	if b.National() {
		return false
	}
	for _, r := range b.Regions {
		if !a.Covers(r) {
			return false
		}
	}
	return true
}

// NormalizeRegions checks the regions of an account of role and returns
// them as codes, sorted and without repeats: names ("부산", "부산광역시",
// "해운대구" within its 시도 as "부산 해운대구") or codes; a dispatcher's
// must be 시도, a social worker has at most one 시군구. An unknown one is
// an error wrapping devices.ErrInvalid with the valid choices.
func NormalizeRegions(role Role, in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		code, err := regionCode(s)
		if err != nil {
			return nil, err
		}
		if role == RoleDispatcher && !code.IsSido() {
			return nil, fmt.Errorf("%w: regions: 출동요원은 시도에 속합니다 (a dispatcher belongs to 시도, not to a 시군구): %q; 시도: %s",
				devices.ErrInvalid, s, sidoChoices())
		}
		if role == RoleSocialWorker && code.IsSido() {
			return nil, fmt.Errorf("%w: regions: 사회복지사는 한 시군구에 속합니다 (a social worker belongs to one 시군구 centre, not to a whole 시도): %q",
				devices.ErrInvalid, s)
		}
		if !slices.Contains(out, string(code)) {
			out = append(out, string(code))
		}
	}
	if role == RoleSocialWorker && len(out) > 1 {
		return nil, fmt.Errorf("%w: regions: 사회복지사는 한 시군구에만 속합니다 (a social worker belongs to one 시군구): %s", devices.ErrInvalid, strings.Join(out, ", "))
	}
	slices.Sort(out)
	return out, nil
}

// regionCode reads one region: a code, a 시도 name, or "시도 시군구".
func regionCode(s string) (region.Code, error) {
	if r, ok := region.Lookup(region.Code(s)); ok {
		return r.Code, nil
	}
	if r, ok := region.SidoByName(s); ok {
		return r.Code, nil
	}
	if d, err := region.Derive(s); err == nil {
		return d.Code, nil
	}
	return "", fmt.Errorf("%w: regions: 지역을 알 수 없습니다 (unknown region) %q: a 시도 or 시군구 code or name (\"26\", \"부산\", \"부산 해운대구\", \"26350\"); 시도: %s",
		devices.ErrInvalid, s, sidoChoices())
}

func sidoChoices() string {
	var names []string
	for _, r := range region.Sidos() {
		names = append(names, r.String())
	}
	return strings.Join(names, ", ")
}
