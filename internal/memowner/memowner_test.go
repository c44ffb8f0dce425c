package memowner

import (
	"runtime"
	"strings"
	"testing"
)

func frames(fns ...string) []runtime.Frame {
	out := make([]runtime.Frame, 0, len(fns))
	for _, fn := range fns {
		fn, file, _ := strings.Cut(fn, " ")
		out = append(out, runtime.Frame{Function: fn, File: "/src/" + file})
	}
	return out
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack []runtime.Frame
		want  string
	}{
		{"mochi buffer", frames("runtime.mallocgc malloc.go", "bufio.NewReaderSize bufio.go", "github.com/mochi-mqtt/server/v2.newClient clients.go"), Mochi},
		{"our hook called by mochi", frames("github.com/dolbom/dolbom/broker.(*Server).newHubState sessions.go", "github.com/mochi-mqtt/server/v2.(*Hooks).OnConnect hooks.go"), Broker},
		{"credential cache", frames("runtime.mapassign map.go", "github.com/dolbom/dolbom/broker.(*verifier).check verify.go"), Credentials},
		{"health monitor", frames("strings.Clone clone.go", "github.com/dolbom/dolbom/detectors/health.sensorIndex shard.go"), Health},
		{"engine", frames("github.com/dolbom/dolbom/detectors.(*home).sensorIdx home.go"), Engine},
		{"wheel works for its caller", frames("github.com/dolbom/dolbom/detectors/wheel.(*Wheel).Schedule wheel.go", "github.com/dolbom/dolbom/detectors/health.(*hubShard).rearm shard.go"), Health},
		{"list helpers work for their caller", frames("github.com/dolbom/dolbom/detectors/internal/shard.AppendTight[...] names.go", "github.com/dolbom/dolbom/detectors/health.sensorIndex shard.go"), Health},
		{"decoder works for its caller", frames("github.com/dolbom/dolbom/devices.Limits.Decode codec.go", "github.com/dolbom/dolbom/store.(*Store).AppendReadings journal.go"), Store},
		{"simulator", frames("github.com/dolbom/dolbom/firmware-sim/firmwaresim.(*Fleet).Add fleet.go"), Simulator},
		{"pipe listener", frames("net.Pipe pipe.go", "github.com/dolbom/dolbom/broker.(*PipeListener).Dial pipe.go"), Transport},
		{"simulator's link", frames("github.com/dolbom/dolbom/firmware-sim/firmwaresim.(*MemListener).Dial memnet.go"), Transport},
		{"simulator main", frames("main.cmdLoad load.go"), Simulator},
		{"test helper", frames("github.com/dolbom/dolbom/broker.connectSync fakes_test.go"), TestHarness},
		{"goroutine records", frames("runtime.mallocgc malloc.go", "runtime.newobject malloc.go", "runtime.malg proc.go", "runtime.newproc1 proc.go"), Goroutines},
		{"runtime alone", frames("runtime.mallocgc malloc.go", "runtime.acquireSudog proc.go"), Runtime},
		{"third party", frames("github.com/prometheus/client_golang/prometheus.(*CounterVec).With counter.go"), "other: github.com/prometheus/client_golang"},
		{"nothing", nil, Unattributed},
	} {
		if got := Classify(tc.stack); got != tc.want {
			t.Errorf("%s: Classify = %q, want %q", tc.name, got, tc.want)
		}
	}
}

var held [][]byte

func TestTakeSeesLiveBytes(t *testing.T) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	before := Take()
	for range 1000 {
		held = append(held, make([]byte, 1024))
	}
	after := Take().Minus(before)
	if got := after.Bytes(TestHarness); got < 1000*1024 {
		t.Fatalf("test harness holds %d B after keeping 1000 x 1 KiB; table %+v", got, after)
	}
	held = nil
}
