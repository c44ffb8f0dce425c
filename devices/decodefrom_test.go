package devices

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestDecodeFromMatchesDecode: for every golden and invalid payload on its
// channel, DecodeFrom decodes what Decode decodes from the topic, or refuses
// it with the same code, and the message carries the caller's hub string.
func TestDecodeFromMatchesDecode(t *testing.T) {
	now := time.UnixMilli(1796062080000 + 1000)
	hub := HubID(strings.Clone("hub-0001"))
	var files []string
	for _, dir := range []string{"testdata/golden/*", "testdata/invalid"} {
		fs, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		files = append(files, fs...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d payload files found", len(files))
	}
	for _, file := range files {
		payload, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(file)
		for _, ch := range []Channel{ChanReadings, ChanEvents, ChanAccel, ChanStatus, ChanHeartbeat, ChanCmdAck} {
			want, werr := DefaultLimits.Decode(Topic(hub, ch), payload, now)
			got, gerr := DefaultLimits.DecodeFrom(hub, ch, payload, now)
			if CodeOf(werr) != CodeOf(gerr) || (werr == nil) != (gerr == nil) {
				t.Fatalf("%s on %s: Decode %v, DecodeFrom %v", name, ch, werr, gerr)
			}
			if werr != nil {
				continue
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s on %s: DecodeFrom %+v, Decode %+v", name, ch, got, want)
			}
			if unsafe.StringData(string(got.Hub)) != unsafe.StringData(string(hub)) {
				t.Errorf("%s on %s: the message's hub is a copy, not the caller's string", name, ch)
			}
		}
	}
	for _, ch := range []Channel{"bogus", ChanCmd} {
		_, werr := DefaultLimits.Decode(Topic(hub, ch), []byte(`{}`), now)
		_, gerr := DefaultLimits.DecodeFrom(hub, ch, []byte(`{}`), now)
		var de *DecodeError
		if gerr == nil || !errors.As(gerr, &de) || CodeOf(gerr) != CodeOf(werr) {
			t.Errorf("channel %q: DecodeFrom %v, Decode %v", ch, gerr, werr)
		}
	}
}
