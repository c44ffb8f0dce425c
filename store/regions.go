package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/dolbom/dolbom/devices"
	"github.com/dolbom/dolbom/devices/region"
)

// settleDistrict checks a resident's district, deriving it from the
// address when none is given (devices/region). The store is lenient where
// the admin API is not: an address it cannot read leaves the district
// empty (a resident created by a tool, or before districts were kept), so
// that nothing already registered becomes unwritable; the admin API
// refuses such an address with the choices.
func settleDistrict(r *devices.Resident) error {
	if r.DistrictCode != "" {
		d, err := region.District(region.Code(r.DistrictCode))
		if err != nil {
			return invalid("district_code: %v", err)
		}
		r.DistrictCode = string(d.Code)
		return nil
	}
	if d, err := region.Derive(r.Address.Line1); err == nil {
		r.DistrictCode = string(d.Code)
	}
	return nil
}

// backfillPage is residents read per round trip by BackfillDistricts.
const backfillPage = 500

// BackfillDistricts gives every resident without a district the one its
// address names (derive), a page at a time, and returns how many it set
// and the ids of those whose address names none (left empty). Residents
// without an address are not tried. It is the gateway's first step after
// the migration that added the district.
func (s Registry) BackfillDistricts(ctx context.Context, derive func(devices.Address) (string, bool)) (set int, unreadable []devices.ResidentID, err error) {
	after := ""
	for {
		rs, err := s.be.query(ctx, `SELECT id, address FROM residents
			WHERE district_code = '' AND coalesce(address->>'line1', '') <> '' AND id > $1 ORDER BY id LIMIT $2`,
			after, backfillPage)
		if err != nil {
			return set, unreadable, fmt.Errorf("store: residents without a district: %w", err)
		}
		type pending struct {
			id   string
			code string
		}
		var page []pending
		n := 0
		for rs.Next() {
			var id, address string
			if err := rs.Scan(&id, &address); err != nil {
				rs.Close()
				return set, unreadable, fmt.Errorf("store: residents without a district: %w", err)
			}
			n++
			after = id
			var a devices.Address
			if err := json.Unmarshal([]byte(address), &a); err != nil {
				unreadable = append(unreadable, devices.ResidentID(id))
				continue
			}
			if code, ok := derive(a); ok {
				page = append(page, pending{id, code})
			} else {
				unreadable = append(unreadable, devices.ResidentID(id))
			}
		}
		err = rs.Err()
		rs.Close()
		if err != nil {
			return set, unreadable, fmt.Errorf("store: residents without a district: %w", err)
		}
		if len(page) > 0 {
			err := s.be.inTx(ctx, func(q querier) error {
				for _, p := range page {
					// Only where still empty: an edit since wins.
					if _, err := q.exec(ctx, `UPDATE residents SET district_code = $2 WHERE id = $1 AND district_code = ''`, p.id, p.code); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return set, unreadable, fmt.Errorf("store: set residents' districts: %w", err)
			}
			set += len(page)
		}
		if n < backfillPage {
			return set, unreadable, nil
		}
	}
}

// ResidentsBySido counts the enabled residents per 시도 (the first two
// digits of their district); those without a district count under "".
func (s Registry) ResidentsBySido(ctx context.Context) (map[string]int, error) {
	return countBy(ctx, s.database, "residents by 시도", `SELECT substr(district_code, 1, 2), count(*) FROM residents WHERE NOT disabled GROUP BY 1`)
}

// countBy runs a "SELECT key, count(*) ... GROUP BY 1" query into a map.
func countBy(ctx context.Context, db *database, what, query string) (map[string]int, error) {
	rs, err := db.be.query(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	defer rs.Close()
	out := map[string]int{}
	for rs.Next() {
		var key string
		var n int
		if err := rs.Scan(&key, &n); err != nil {
			return nil, fmt.Errorf("store: %s: %w", what, err)
		}
		out[key] += n
	}
	return out, rs.Err()
}

// ResidentsWithoutDistrict returns up to limit enabled residents without a
// district, in id order (the gateway names them when it refuses to start).
func (s Registry) ResidentsWithoutDistrict(ctx context.Context, limit int) ([]devices.ResidentID, error) {
	rs, err := s.be.query(ctx, `SELECT id FROM residents WHERE NOT disabled AND district_code = '' ORDER BY id LIMIT $1`, limit)
	return collect(rs, err, "residents without a district", func(sc row) (devices.ResidentID, error) {
		var id string
		err := sc.Scan(&id)
		return devices.ResidentID(id), err
	})
}
