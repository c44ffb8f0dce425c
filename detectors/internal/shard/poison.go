package shard

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/devices"
)

// PoisonOf describes the message a shard was handling when it panicked.
func PoisonOf(stage string, m *devices.Message, r any) devices.Poison {
	p := devices.Poison{Stage: stage, Panic: fmt.Sprint(r), Stack: string(debug.Stack()), At: time.Now()}
	if m == nil {
		return p
	}
	p.Hub, p.Channel = m.Hub, m.Channel
	if m.Event != nil {
		p.EventID, p.Seq = m.Event.ID, m.Event.Seq
		p.Input = devices.EncodeEvent(*m.Event)
	} else {
		p.Input = fmt.Appendf(nil, "%+v", *m)
	}
	return p
}

// LogPoison logs a recovered panic with the hub and the message.
func LogPoison(log zerolog.Logger, p devices.Poison) {
	log.Error().Str("hub_id", string(p.Hub)).Str("channel", string(p.Channel)).Str("event_id", string(p.EventID)).
		Int64("seq", p.Seq).Str("panic", p.Panic).Msg("panic in a shard recovered; input kept as poison, hub disconnected")
}
