package web

// The "119 경로 없음" banner: a 119 message that found no route waits in
// the outbox (never dropped), and the dispatchers see it on the queue until
// the route (or the resident's district) is set, so that someone phones
// 119 meanwhile.

import (
	"github.com/dolbom/dolbom/dispatch/cap"
)

// NoRouteList lists the incidents whose 119 message has no route now
// (*cap.Stuck).
type NoRouteList interface {
	List() []cap.StuckMessage
}

// noRoutes is what rc's account may see of the list: a dispatcher the
// incidents of their 시도 and those of no known 시도 (a resident without a
// district could live in theirs); the national roles all.
func (w *web) noRoutes(rc *reqCtx) []cap.StuckMessage {
	if w.deps.NoRoutes == nil {
		return nil
	}
	var out []cap.StuckMessage
	for _, m := range w.deps.NoRoutes.List() {
		if m.Sido.Code == "" || rc.account.Covers(string(m.Sido.Code)) {
			out = append(out, m)
		}
	}
	return out
}
