package store

// Queries for the social workers' dashboard: a resident's hourly series
// over every sensor of their hubs, and a whole caseload's recent activity
// against its own baseline, both from the hourly rollups (kept two years):
// the sealed hours' blobs, and the raw readings of the hour or two not
// sealed yet (rollup_seal.go).

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/dolbom/dolbom/console"
	"github.com/dolbom/dolbom/devices"
)

// ResidentHourly returns hourly summaries of one metric over every sensor
// of the resident's hubs whose hour starts in [from, to), in time order
// (web.Wellbeing). Count and Sum add up across sensors; Min and Max are
// over all of them.
func (s Casework) ResidentHourly(ctx context.Context, resident devices.ResidentID, metric devices.Metric, from, to time.Time) ([]console.HourlyPoint, error) {
	sb, err := blobsBefore(ctx, s.rd)
	if err != nil {
		return nil, err
	}
	fromUS, toUS := toUS(from), toUS(to)
	byBucket := map[int64]rollupAgg{}
	add := func(bucket int64, a rollupAgg) { byBucket[bucket] = mergeAgg(byBucket[bucket], a) }
	if fromUS < sb {
		rows, err := s.rd.query(ctx, `SELECT r.bucket_us, r.data
			FROM rollup_hub_1h r JOIN hubs h ON h.id = r.hub_id
			WHERE h.resident_id = $1 AND r.bucket_us >= $2 AND r.bucket_us < $3`, string(resident), fromUS, min(toUS, sb))
		if err != nil {
			return nil, fmt.Errorf("store: resident rollups: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var bucket int64
			var data []byte
			if err := rows.Scan(&bucket, &data); err != nil {
				return nil, fmt.Errorf("store: resident rollups: %w", err)
			}
			if err := forEachHourSeries(data, func(_, m []byte, a rollupAgg) {
				if string(m) == string(metric) {
					add(bucket, a)
				}
			}); err != nil {
				return nil, fmt.Errorf("store: resident rollups: %w", err)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: resident rollups: %w", err)
		}
	}
	if toUS > sb {
		hubs, err := s.residentHubs(ctx, `SELECT resident_id, id FROM hubs WHERE resident_id = $1`, string(resident))
		if err != nil {
			return nil, fmt.Errorf("store: resident rollups: %w", err)
		}
		for _, h := range hubs {
			if err := s.rawHourly(ctx, h.hub, metric, max(fromUS, sb), toUS, add); err != nil {
				return nil, fmt.Errorf("store: resident rollups: %w", err)
			}
		}
	}
	out := make([]console.HourlyPoint, 0, len(byBucket))
	for b, a := range byBucket {
		r := rollupOf(b, a)
		out = append(out, console.HourlyPoint{Hour: r.Bucket, Count: r.Count, Sum: r.Sum, Min: r.Min, Max: r.Max, Avg: r.Avg})
	}
	slices.SortFunc(out, func(a, b console.HourlyPoint) int { return a.Hour.Compare(b.Hour) })
	return out, nil
}

type residentHub struct {
	resident devices.ResidentID
	hub      devices.HubID
}

// residentHubs runs query, which selects (resident id, hub id) pairs.
func (s *database) residentHubs(ctx context.Context, query string, args ...any) ([]residentHub, error) {
	rows, err := s.be.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []residentHub
	for rows.Next() {
		var r, h string
		if err := rows.Scan(&r, &h); err != nil {
			return nil, err
		}
		out = append(out, residentHub{devices.ResidentID(r), devices.HubID(h)})
	}
	return out, rows.Err()
}

// The console's ActivityWindow counts, for each window, the hours that
// have any motion data at all: an hour without data is a quiet hub, not a
// quiet resident.

// CaseloadActivity returns, for every resident of one social worker with
// motion data, the motion in [split, to) (recent) and in [from, split)
// (baseline). One grouped query for the whole caseload.
func (s Casework) CaseloadActivity(ctx context.Context, socialWorkerID string, from, split, to time.Time) ([]console.ActivityWindow, error) {
	sb, err := blobsBefore(ctx, s.rd)
	if err != nil {
		return nil, err
	}
	fromUS, toUS, splitUS := toUS(from), toUS(to), toUS(split)
	type window struct {
		console.ActivityWindow
		hours map[int64]bool // hours with motion data, over all the resident's hubs
	}
	byResident := map[string]*window{}
	add := func(resident string, bucket int64, sum float64) {
		w := byResident[resident]
		if w == nil {
			w = &window{ActivityWindow: console.ActivityWindow{ResidentID: devices.ResidentID(resident)}, hours: map[int64]bool{}}
			byResident[resident] = w
		}
		if bucket >= splitUS {
			w.RecentSum += sum
		} else {
			w.BaselineSum += sum
		}
		w.hours[bucket] = true
	}
	if fromUS < sb {
		rows, err := s.rd.query(ctx, `SELECT h.resident_id, r.bucket_us, r.data
			FROM residents res
			JOIN hubs h ON h.resident_id = res.id
			JOIN rollup_hub_1h r ON r.hub_id = h.id
			WHERE res.social_worker_id = $1 AND r.bucket_us >= $2 AND r.bucket_us < $3`, socialWorkerID, fromUS, min(toUS, sb))
		if err != nil {
			return nil, fmt.Errorf("store: caseload activity: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var resident string
			var bucket int64
			var data []byte
			if err := rows.Scan(&resident, &bucket, &data); err != nil {
				return nil, fmt.Errorf("store: caseload activity: %w", err)
			}
			if err := forEachHourSeries(data, func(_, m []byte, a rollupAgg) {
				if string(m) == string(devices.MetricMotion) {
					add(resident, bucket, a.sum)
				}
			}); err != nil {
				return nil, fmt.Errorf("store: caseload activity: %w", err)
			}
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("store: caseload activity: %w", err)
		}
	}
	if toUS > sb {
		hubs, err := s.residentHubs(ctx, `SELECT h.resident_id, h.id FROM residents res
			JOIN hubs h ON h.resident_id = res.id WHERE res.social_worker_id = $1`, socialWorkerID)
		if err != nil {
			return nil, fmt.Errorf("store: caseload activity: %w", err)
		}
		for _, h := range hubs {
			if err := s.rawHourly(ctx, h.hub, devices.MetricMotion, max(fromUS, sb), toUS, func(bucket int64, a rollupAgg) {
				add(string(h.resident), bucket, a.sum)
			}); err != nil {
				return nil, fmt.Errorf("store: caseload activity: %w", err)
			}
		}
	}
	out := make([]console.ActivityWindow, 0, len(byResident))
	for _, w := range byResident {
		for b := range w.hours {
			if b >= splitUS {
				w.RecentHours++
			} else {
				w.BaselineHours++
			}
		}
		out = append(out, w.ActivityWindow)
	}
	slices.SortFunc(out, func(a, b console.ActivityWindow) int { return cmp.Compare(a.ResidentID, b.ResidentID) })
	return out, nil
}
