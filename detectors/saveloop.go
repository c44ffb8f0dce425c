package detectors

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// saveReq asks a shard's goroutine for the records it changed since the last
// ask, at most limit of them (0: all); withSeen adds activity-only changes.
type saveReq[T any] struct {
	withSeen bool
	limit    int
	reply    chan saveReply[T]
}

type saveReply[T any] struct {
	items []T
	more  bool // the shard has more to give for this round
}

// saveChunk is how many homes or hubs a shard encodes for a save in one step
// of its loop (about a millisecond): at 300,000 homes a shard holds 150,000,
// and encoding them all in one step would hold its detections back for a
// few hundred milliseconds.
const saveChunk = 1000

// runSaves is the save loop of the engine and of the health monitor: every
// interval it collects what each shard changed, a chunk at a time, and hands
// it to save; activity-only changes are collected every seenEvery rounds. A
// failed save keeps its records in pending for the next round (newer ones
// replace older). It returns when ctx ends; pending then holds what was not
// saved.
func runSaves[T any](ctx context.Context, interval time.Duration, seenEvery int, shards []chan saveReq[T],
	hub func(T) devices.HubID, pending map[devices.HubID]T, save func(context.Context, map[devices.HubID]T) error) {
	every := time.NewTicker(interval)
	defer every.Stop()
	for round := 1; ctx.Err() == nil; round++ {
		select {
		case <-ctx.Done():
			continue
		case <-every.C:
		}
		for _, saves := range shards {
			for more := true; more && ctx.Err() == nil; {
				req := saveReq[T]{withSeen: round%seenEvery == 0, limit: saveChunk, reply: make(chan saveReply[T], 1)}
				select {
				case saves <- req:
					r := <-req.reply
					for _, it := range r.items {
						pending[hub(it)] = it
					}
					more = r.more
				case <-ctx.Done():
				}
			}
		}
		_ = save(ctx, pending) // save logs its own failures
	}
}

// savePending writes pending with store and empties it; on failure the
// records stay pending for the next round (newer versions replacing older
// ones) and the failure is logged, naming what failed to save.
func savePending[T any](ctx context.Context, pending map[devices.HubID]T, store func(context.Context, []T) error,
	log zerolog.Logger, what string) error {
	if len(pending) == 0 {
		return nil
	}
	batch := make([]T, 0, len(pending))
	for _, it := range pending {
		batch = append(batch, it)
	}
	if err := store(ctx, batch); err != nil {
		if ctx.Err() == nil {
			log.Warn().Err(err).Int("records", len(batch)).Msg("saving " + what + " failed; will retry")
		}
		return err
	}
	clear(pending)
	return nil
}
