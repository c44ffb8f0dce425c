package broker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime/debug"
	"slices"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// PoisonKeeper keeps inputs whose handling panicked, for an engineer. The
// journal may implement it (the store does).
type PoisonKeeper interface {
	KeepPoison(ctx context.Context, p devices.Poison) error
}

// maxPoisonPerHub bounds the payload digests remembered per hub.
const maxPoisonPerHub = 8

// recoverHook turns a panic in one of mochi's hooks, which would otherwise
// end the process (mochi recovers nothing), into a counted, logged poison
// input: the hub's connection is dropped and everything else keeps serving.
// Every hook defers a function that calls recover() and hands a panic here.
func (s *Server) poisoned(hook string, cl *mqtt.Client, pk *publish, r any) {
	s.m.panics.Inc()
	p := devices.Poison{Stage: "broker", Panic: fmt.Sprintf("%s: %v", hook, r), Stack: string(debug.Stack()), At: time.Now()}
	if cl != nil {
		p.Hub = devices.HubID(cl.ID)
	}
	if pk != nil {
		p.Input = slices.Clone(pk.payload)
		if cl != nil {
			p.Channel, _ = ownChannel(pk.topic, cl.ID)
		}
		if p.Channel == devices.ChanEvents {
			p.EventID = devices.PeekEventID(pk.payload)
		}
	}
	s.log.Error().Str("hub_id", string(p.Hub)).Str("hook", hook).Str("channel", string(p.Channel)).
		Str("event_id", string(p.EventID)).Str("panic", fmt.Sprint(r)).Msg("panic in the broker recovered; input kept as poison, hub disconnected")
	if pk != nil && p.Hub != "" {
		if st := s.states.get(cl.ID); st != nil {
			sum := sha256.Sum256(pk.payload)
			st.mu.Lock()
			if len(st.poison) >= maxPoisonPerHub {
				st.poison = st.poison[1:]
			}
			st.poison = append(st.poison, sum)
			st.hasPoison.Store(true)
			st.mu.Unlock()
		}
	}
	if keeper, ok := s.journal.(PoisonKeeper); ok {
		go func() { // not on the hub's goroutine, which mochi is unwinding
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := keeper.KeepPoison(ctx, p); err != nil {
				s.log.Error().Err(err).Str("hub_id", string(p.Hub)).Msg("poison input not kept")
			}
		}()
	}
	if cl != nil && !cl.Closed() {
		s.kick(cl, "poison", packets.ErrImplementationSpecificError)
	}
}

// isPoison reports whether payload is one the hub sent before and whose
// handling panicked.
func (st *hubState) isPoison(payload []byte) bool {
	if !st.hasPoison.Load() {
		return false
	}
	sum := sha256.Sum256(payload)
	st.mu.Lock()
	defer st.mu.Unlock()
	return slices.Contains(st.poison, sum)
}
