package detectors

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dolbom/dolbom/detectors/internal/shardtest"
	"github.com/dolbom/dolbom/devices"
)

// BenchmarkShardQueued is a running shard's cost per input when inputs
// queue up, as under the broker flood or a reconnect wave: bursts of
// heartbeats from 1,000 hubs are handed to the engine (one shard; package
// health measures the monitor's under the same name, and the gateway hands
// each input to both), and each burst is drained before the next.
// cpu_ns/op is the process's CPU per input (handing on, the shard's loop
// and its work), which the shard's select shows in.
func BenchmarkShardQueued(b *testing.B) {
	for _, burst := range []int{256} {
		b.Run(fmt.Sprintf("burst=%d", burst), func(b *testing.B) {
			e, err := NewEngine(EngineConfig{Sink: SinkFunc(func(Detection) {}), Shards: 1, Logger: zerolog.Nop()})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{}, 1)
			go func() { _ = e.Run(ctx); done <- struct{}{} }()
			defer func() { cancel(); <-done }()
			msgs := make([]*devices.Message, 1000)
			for i := range msgs {
				msgs[i] = heartbeat(devices.HubID(fmt.Sprintf("hub-%07d", i)))
			}
			drained := func() bool { return e.shards[0].rt.Lanes.Len() == 0 }
			// Every hub known before measuring.
			for _, msg := range msgs {
				e.Ingest(msg)
			}
			for !drained() {
				runtime.Gosched()
			}
			b.ReportAllocs()
			cpu0 := shardtest.CPUTime()
			i := 0
			for b.Loop() {
				e.Ingest(msgs[i%len(msgs)])
				if i++; i%burst == 0 {
					for !drained() {
						time.Sleep(20 * time.Microsecond)
					}
				}
			}
			b.ReportMetric(float64(shardtest.CPUTime()-cpu0)/float64(b.N), "cpu_ns/op")
		})
	}
}
