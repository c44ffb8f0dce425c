package shardtest

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
)

// Heartbeat is a hub's heartbeat sent and received now.
func Heartbeat(hub devices.HubID) *devices.Message {
	now := time.Now()
	return &devices.Message{Hub: hub, Channel: devices.ChanHeartbeat, Heartbeat: &devices.Heartbeat{Hub: hub, At: now, Received: now}}
}

// Queued is a runtime of one shard as BenchQueued drives it: its Run, how
// an input is handed to it, and whether its shard's queue is empty.
type Queued struct {
	Run     func(context.Context) error
	Ingest  func(*devices.Message)
	Drained func() bool
}

// BenchQueued is a running shard's cost per input when inputs queue up, as
// under the broker flood or a reconnect wave: bursts of heartbeats from
// 1,000 hubs are handed to the runtime start builds, and each burst is
// drained before the next. The engine and the health monitor are measured
// under the same name (BenchmarkShardQueued) in their packages; the gateway
// hands each input to both. cpu_ns/op is the process's CPU per input
// (handing on, the shard's loop and its work), which the shard's select
// shows in.
func BenchQueued(b *testing.B, start func(b *testing.B) Queued) {
	for _, burst := range []int{256} {
		b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
			q := start(b)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{}, 1)
			go func() { _ = q.Run(ctx); done <- struct{}{} }()
			defer func() { cancel(); <-done }()
			msgs := make([]*devices.Message, 1000)
			for i := range msgs {
				msgs[i] = Heartbeat(devices.HubID(fmt.Sprintf("hub-%07d", i)))
			}
			// Every hub known before measuring.
			for _, msg := range msgs {
				q.Ingest(msg)
			}
			for !q.Drained() {
				runtime.Gosched()
			}
			b.ReportAllocs()
			cpu0 := CPUTime()
			i := 0
			for b.Loop() {
				q.Ingest(msgs[i%len(msgs)])
				if i++; i%burst == 0 {
					for !q.Drained() {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			b.ReportMetric(float64(CPUTime()-cpu0)/float64(b.N), "cpu_ns/op")
		})
	}
}
