package broker

import (
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// retainedDropper forgets every retained message as soon as mochi has
// stored it. Hubs publish their status (and their will) retained, as the
// protocol asks, but nothing can ever read a retained message here: a hub
// may subscribe only to its own cmd and rejects topics (OnACLCheck) and the
// gateway subscribes to nothing. Kept, each hub's status cost ~1.5 KB of
// heap for nothing: mochi's 800-byte Packet, its payload copy, the topic
// index's path to the status topic and the PUBLISH buffer its topic name
// points into (docs/performance.md, "Issue 14: memory per hub").
//
// The status and the will reach mochi without their retain flag now
// (OnPublish, OnWill): storing them only to delete them here built and
// trimmed the status topic's path in mochi's index on every connect. This
// hook stays as the net for any other way a retained message could come in.
type retainedDropper struct {
	mqtt.HookBase
	topics *mqtt.TopicsIndex
}

func (*retainedDropper) ID() string { return "dolbom-retained-dropper" }

func (*retainedDropper) Provides(b byte) bool { return b == mqtt.OnRetainMessage }

// OnRetainMessage runs after mochi has stored (r == 1) or cleared the
// message, outside the index's locks. Retaining an empty payload is MQTT's
// way of deleting a retained message; mochi then also trims the topic path
// it built for it.
func (d *retainedDropper) OnRetainMessage(_ *mqtt.Client, pk packets.Packet, r int64) {
	if r == 1 {
		d.topics.RetainMessage(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: true}, TopicName: pk.TopicName})
	}
}
