package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dolbom/dolbom/cluster"
)

// ReserveVoiceSlot reserves the start of one voice call of a Twilio
// account, shared by every gateway of the database: Twilio allows an
// account one call per interval (1 s by default), not one per gateway, and
// calls placed faster are queued or refused by Twilio. Slots are spaced by
// interval on the database's clock: the slot is the later of the account's
// next free slot and now, and the next free slot moves to slot + interval.
// When the slot would be more than maxWait away, nothing is reserved and
// ok is false: the caller tries again later (as its local queue does when
// its own MaxSlotWait passes), so a queue of calls never holds slots far
// ahead that a more urgent call would need. Each node still orders its
// own calls by priority before it reserves.
func (c Cluster) ReserveVoiceSlot(ctx context.Context, account string, interval, maxWait time.Duration) (slot cluster.VoiceSlot, ok bool, err error) {
	if err := c.need("reserve a voice slot"); err != nil {
		return cluster.VoiceSlot{}, false, err
	}
	if account == "" || interval <= 0 || maxWait < 0 {
		return cluster.VoiceSlot{}, false, invalid("a voice slot needs an account, a positive interval and a wait of 0 or more, got %q, %s, %s", account, interval, maxWait)
	}
	var atUS, nowUS int64
	err = c.be.inTx(ctx, func(q querier) error {
		// The row exists before the update locks it: the first call of an
		// account creates it free now.
		if _, err := q.exec(ctx, `INSERT INTO voice_rate (account, next_us) VALUES ($1, 0) ON CONFLICT (account) DO NOTHING`, account); err != nil {
			return err
		}
		err := q.queryRow(ctx, `UPDATE voice_rate v SET next_us = GREATEST(v.next_us, n.us) + $2
			FROM (SELECT `+dbNowUS+` AS us) n
			WHERE v.account = $1 AND GREATEST(v.next_us, n.us) <= n.us + $3
			RETURNING v.next_us - $2, n.us`, account, interval.Microseconds(), maxWait.Microseconds()).Scan(&atUS, &nowUS)
		if isNoRows(err) {
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return cluster.VoiceSlot{}, false, fmt.Errorf("store: reserve a voice slot of account %s: %w", account, err)
	}
	if !ok {
		return cluster.VoiceSlot{}, false, nil
	}
	return cluster.VoiceSlot{At: fromUS(atUS), Wait: usDuration(atUS - nowUS)}, true, nil
}
