package store

import (
	"context"
	"fmt"
	"time"

	"github.com/rs/zerolog"
)

// startSealing0006 starts sealing at the previous hour: under schema 5
// every flush merged its readings into the hourly blobs, so the blobs of
// older hours are complete, while the previous hour (still inside the seal
// grace) and the current one are sealed again from the raw batches,
// replacing what schema 5 merged. now is the store's clock.
func startSealing0006(ctx context.Context, q querier, _ backend, log zerolog.Logger, now time.Time) error {
	sealedBefore := (floorDiv(toUS(now), usPerHour) - 1) * usPerHour
	if _, err := q.exec(ctx, `INSERT INTO rollup_seal (id, sealed_before_us) VALUES (1, $1)`, sealedBefore); err != nil {
		return fmt.Errorf("start sealing: %w", err)
	}
	log.Info().Time("sealed_before", fromUS(sealedBefore)).Msg("hourly rollups will be sealed from the raw batches")
	return nil
}
