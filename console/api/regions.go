package api

// Every resident belongs to one 시군구, derived from the address when not
// given (docs/operations.md).

import (
	"strings"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

// settleDistrict sets r's district: the code given, checked, or the one
// the address names. An unknown code, or an address whose 시도 and 시군구
// cannot be read, is refused with the valid choices (the 시군구 of the
// 시도 when the 시도 was read, the 17 시도 otherwise). A resident without an
// address yet has no district (see docs/operations.md).
func settleDistrict(r *devices.Resident) error {
	if code := strings.TrimSpace(r.DistrictCode); code != "" {
		d, err := region.District(region.Code(code))
		if err != nil {
			return BadRequest("district_code", "%v", err)
		}
		r.DistrictCode = string(d.Code)
		return nil
	}
	r.DistrictCode = ""
	if strings.TrimSpace(r.Address.Line1) == "" {
		return nil
	}
	d, err := region.Derive(r.Address.Line1)
	if err != nil {
		return BadRequest("address.line1", "%v (주소를 시도와 시군구부터 쓰거나 district_code를 주십시오 / write the address from its 시도 and 시군구, or give district_code)", err)
	}
	r.DistrictCode = string(d.Code)
	return nil
}

// movedAddress makes a new address carry its own district: when the
// address changed and the district was left as it was, the district is
// derived anew (a resident who moved is routed to their new 시도's 119).
// A district given with the new address is kept.
func movedAddress(cur devices.Resident, next *devices.Resident) {
	if strings.TrimSpace(next.Address.Line1) != strings.TrimSpace(cur.Address.Line1) && next.DistrictCode == cur.DistrictCode {
		next.DistrictCode = ""
	}
}
