package store

// Queries for the social workers' dashboard: a resident's hourly series
// over every sensor of their hubs, and a whole caseload's recent activity
// against its own baseline, both from the hourly rollups (kept two years),
// never from raw readings (kept three days).

import (
	"context"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// ResidentRollups returns hourly summaries of one metric over every sensor
// of the resident's hubs whose bucket starts in [from, to), in time order.
// Count and Sum add up across sensors; Min and Max are over all of them.
func (s *Store) ResidentRollups(ctx context.Context, resident devices.ResidentID, metric devices.Metric, from, to time.Time) ([]Rollup, error) {
	rows, err := s.be.query(ctx, `SELECT r.bucket_us, CAST(SUM(r.count) AS BIGINT), SUM(r.sum), MIN(r.min), MAX(r.max)
		FROM rollup_1h r JOIN hubs h ON h.id = r.hub_id
		WHERE h.resident_id = $1 AND r.metric = $2 AND r.bucket_us >= $3 AND r.bucket_us < $4
		GROUP BY r.bucket_us ORDER BY r.bucket_us`, string(resident), string(metric), toUS(from), toUS(to))
	if err != nil {
		return nil, fmt.Errorf("store: resident rollups: %w", err)
	}
	return scanRollups(rows, "resident rollups")
}

// ActivityWindow is one resident's motion in a recent window and in the
// baseline window before it: the sum of motion counts and the number of
// hours that have any motion data at all (an hour without data is a quiet
// hub, not a quiet resident).
type ActivityWindow struct {
	ResidentID    devices.ResidentID
	RecentSum     float64
	RecentHours   int
	BaselineSum   float64
	BaselineHours int
}

// CaseloadActivity returns, for every resident of one social worker with
// motion data, the motion in [split, to) (recent) and in [from, split)
// (baseline). One grouped query for the whole caseload.
func (s *Store) CaseloadActivity(ctx context.Context, socialWorkerID string, from, split, to time.Time) ([]ActivityWindow, error) {
	rows, err := s.be.query(ctx, `SELECT h.resident_id,
			SUM(CASE WHEN r.bucket_us >= $2 THEN r.sum ELSE 0 END),
			COUNT(DISTINCT CASE WHEN r.bucket_us >= $2 THEN r.bucket_us END),
			SUM(CASE WHEN r.bucket_us < $2 THEN r.sum ELSE 0 END),
			COUNT(DISTINCT CASE WHEN r.bucket_us < $2 THEN r.bucket_us END)
		FROM residents res
		JOIN hubs h ON h.resident_id = res.id
		JOIN rollup_1h r ON r.hub_id = h.id
		WHERE res.social_worker_id = $1 AND r.metric = 'motion' AND r.bucket_us >= $3 AND r.bucket_us < $4
		GROUP BY h.resident_id ORDER BY h.resident_id`, socialWorkerID, toUS(split), toUS(from), toUS(to))
	if err != nil {
		return nil, fmt.Errorf("store: caseload activity: %w", err)
	}
	defer rows.Close()
	var out []ActivityWindow
	for rows.Next() {
		var a ActivityWindow
		var resident string
		if err := rows.Scan(&resident, &a.RecentSum, &a.RecentHours, &a.BaselineSum, &a.BaselineHours); err != nil {
			return nil, fmt.Errorf("store: caseload activity: %w", err)
		}
		a.ResidentID = devices.ResidentID(resident)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: caseload activity: %w", err)
	}
	return out, nil
}
