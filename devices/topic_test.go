package devices

import (
	"strings"
	"testing"
)

func TestParseTopic(t *testing.T) {
	tests := []struct {
		topic   string
		hub     HubID
		channel Channel
		err     bool
	}{
		{topic: "dolbom/v1/hub-0001/readings", hub: "hub-0001", channel: ChanReadings},
		{topic: "dolbom/v1/hub-0001/events", hub: "hub-0001", channel: ChanEvents},
		{topic: "dolbom/v1/hub-0001/accel", hub: "hub-0001", channel: ChanAccel},
		{topic: "dolbom/v1/hub-0001/status", hub: "hub-0001", channel: ChanStatus},
		{topic: "dolbom/v1/hub-0001/heartbeat", hub: "hub-0001", channel: ChanHeartbeat},
		{topic: "dolbom/v1/hub-0001/cmd/ack", hub: "hub-0001", channel: ChanCmdAck},
		{topic: "dolbom/v1/hub-0001/cmd", hub: "hub-0001", channel: ChanCmd},
		{topic: "dolbom/v1/hub-0001/rejects", hub: "hub-0001", channel: ChanRejects},
		{topic: "dolbom/v1/0a_b-c/events", hub: "0a_b-c", channel: ChanEvents},
		{topic: "dolbom/v1/" + strings.Repeat("h", 64) + "/events", hub: HubID(strings.Repeat("h", 64)), channel: ChanEvents},

		{topic: "", err: true},
		{topic: "dolbom/v1/", err: true},
		{topic: "dolbom/v1/hub-0001", err: true},
		{topic: "dolbom/v1/hub-0001/", err: true},
		{topic: "dolbom/v2/hub-0001/events", err: true},
		{topic: "/dolbom/v1/hub-0001/events", err: true},
		{topic: "Dolbom/v1/hub-0001/events", err: true},
		{topic: "dolbom/v1/HUB-0001/events", err: true},
		{topic: "dolbom/v1/hub-0001/Events", err: true},
		{topic: "dolbom/v1/+/events", err: true},
		{topic: "dolbom/v1/#", err: true},
		{topic: "dolbom/v1/hub-0001/#", err: true},
		{topic: "dolbom/v1/hub-0001/+", err: true},
		{topic: "dolbom/v1/hub+0001/events", err: true},
		{topic: "dolbom/v1/hub#0001/events", err: true},
		{topic: "dolbom/v1/hub/0001/events", err: true},
		{topic: "dolbom/v1//events", err: true},
		{topic: "dolbom/v1/h1/events", err: true},
		{topic: "dolbom/v1/-hub/events", err: true},
		{topic: "dolbom/v1/_hub/events", err: true},
		{topic: "dolbom/v1/hub.0001/events", err: true},
		{topic: "dolbom/v1/hub 0001/events", err: true},
		{topic: "dolbom/v1/hüb-0001/events", err: true},
		{topic: "dolbom/v1/hub-0001\x00/events", err: true},
		{topic: "dolbom/v1/" + strings.Repeat("h", 65) + "/events", err: true},
		{topic: "dolbom/v1/hub-0001/alarms", err: true},
		{topic: "dolbom/v1/hub-0001/events/", err: true},
		{topic: "dolbom/v1/hub-0001/events/extra", err: true},
		{topic: "dolbom/v1/hub-0001/cmd/", err: true},
		{topic: "dolbom/v1/hub-0001/cmd/ack/1", err: true},
		{topic: "dolbom/v1/hub-0001/ack", err: true},
	}
	for _, tt := range tests {
		hub, ch, err := ParseTopic(tt.topic)
		if tt.err {
			if err == nil {
				t.Errorf("ParseTopic(%q) = %q, %q; want an error", tt.topic, hub, ch)
			} else if CodeOf(err) != CodeTopic {
				t.Errorf("ParseTopic(%q): code %q, want %q", tt.topic, CodeOf(err), CodeTopic)
			}
			continue
		}
		if err != nil || hub != tt.hub || ch != tt.channel {
			t.Errorf("ParseTopic(%q) = %q, %q, %v; want %q, %q", tt.topic, hub, ch, err, tt.hub, tt.channel)
		}
	}
}

func TestTopicRoundTrip(t *testing.T) {
	channels := []Channel{ChanReadings, ChanEvents, ChanAccel, ChanStatus, ChanHeartbeat, ChanCmdAck, ChanCmd, ChanRejects}
	for _, hub := range []HubID{"hub-0001", "kr-11680-000123", "abc", HubID(strings.Repeat("z", MaxIDLen))} {
		for _, ch := range channels {
			topic := Topic(hub, ch)
			gotHub, gotCh, err := ParseTopic(topic)
			if err != nil || gotHub != hub || gotCh != ch {
				t.Errorf("ParseTopic(Topic(%q, %q)) = %q, %q, %v", hub, ch, gotHub, gotCh, err)
			}
			if ch.Upstream() == ch.Downstream() {
				t.Errorf("channel %q: upstream %v, downstream %v; want exactly one", ch, ch.Upstream(), ch.Downstream())
			}
		}
	}
}

func TestParseTopicDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := ParseTopic("dolbom/v1/hub-0001/readings"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseTopic allocates %v times per call, want 0", allocs)
	}
}
