package dispatch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/detectors"
	"github.com/dolbom/dolbom/dispatch"
	"github.com/dolbom/dolbom/store"
)

// An Alert to 119 in flight when its gateway died may have arrived. When
// the incident is cancelled before the row's lease runs out, the row is
// taken up again with the incident closed: the dispatcher must still find
// out whether 119 has the alert (it sends it again; 119 recognises a repeat
// by its identifier), so that 119 gets the Cancel it is owed. Completing
// the row as "no longer needed" left 119 with a live alert for a resident
// who had cancelled (the cmd/dolbomd kill test: 13 of 3,000).
func TestInDoubtAlertOfACancelledIncidentIsCancelledAt119(t *testing.T) {
	const onlyCAP = `{"backoff_initial": "20ms", "backoff_max": "80ms",
	  "causes": {"sos": {"steps": [{"after": "0s", "notify": [{"to": "119", "via": "cap"}]}]}}}`
	backends(t, func(t *testing.T, cfg store.Config) {
		var mu sync.Mutex
		var got []dispatch.Notification
		hung := make(chan struct{})
		capNotifier := dispatch.NotifierFunc(func(ctx context.Context, n dispatch.Notification) (string, bool, error) {
			mu.Lock()
			got = append(got, n)
			first := len(got) == 1
			mu.Unlock()
			if first {
				// 119 has it, but the sender hears nothing back: as if its
				// gateway died here. The claim's late outcome is ignored,
				// the row having been taken up again by then.
				close(hung)
				<-ctx.Done()
				return "", true, ctx.Err()
			}
			return "ref-" + n.Key, false, nil
		})
		h := start(t, cfg, onlyCAP, func(c *dispatch.Config) {
			c.Notifiers[dispatch.Channel119] = capNotifier
			c.Lease = time.Second
			c.SendTimeout = 10 * time.Second
		})
		ctx := context.Background()
		inc, err := h.d.HandleDetection(ctx, det("hub-1", detectors.CauseSOS, 1, detectors.Firing, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-hung:
		case <-time.After(time.Minute):
			t.Fatal("the alert was never sent")
		}
		if _, err := h.d.Cancel(ctx, inc.ID, "dispatcher", "the resident answered: all right"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a Cancel to 119", func() bool {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range got {
				if n.Type == dispatch.MsgCancel && n.Incident.ID == inc.ID {
					return true
				}
			}
			return false
		})
	})
}
