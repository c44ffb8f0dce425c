package devices

import "strings"

// TopicRoot is the first segments of every topic of protocol version 1.
const TopicRoot = "dolbom/v1/"

// Channel is the last segment of a hub topic: what kind of message it carries.
type Channel string

const (
	// Hub -> gateway.
	ChanReadings  Channel = "readings"  // batches of readings
	ChanEvents    Channel = "events"    // one event per message, QoS 1
	ChanAccel     Channel = "accel"     // wearable accelerometer chunks
	ChanStatus    Channel = "status"    // retained online/offline; the last will
	ChanHeartbeat Channel = "heartbeat" // liveness
	ChanCmdAck    Channel = "cmd/ack"   // acknowledgement of a command

	// Gateway -> hub.
	ChanCmd     Channel = "cmd"     // commands
	ChanRejects Channel = "rejects" // why a message of the hub's was refused
)

// Upstream reports whether hubs publish on the channel.
func (c Channel) Upstream() bool {
	switch c {
	case ChanReadings, ChanEvents, ChanAccel, ChanStatus, ChanHeartbeat, ChanCmdAck:
		return true
	}
	return false
}

// Downstream reports whether hubs subscribe to the channel.
func (c Channel) Downstream() bool { return c == ChanCmd || c == ChanRejects }

// Topic returns the topic of a hub's channel: dolbom/v1/{hub}/{channel}.
func Topic(hub HubID, ch Channel) string {
	return TopicRoot + string(hub) + "/" + string(ch)
}

// ParseTopic splits a topic of protocol version 1 into its hub and channel.
// It allocates nothing: the hub id is a substring of topic.
func ParseTopic(topic string) (HubID, Channel, error) {
	rest, ok := strings.CutPrefix(topic, TopicRoot)
	if !ok {
		return "", "", &DecodeError{Code: CodeTopic, Msg: "topic must start with " + TopicRoot}
	}
	hub, ch, ok := strings.Cut(rest, "/")
	if !ok {
		return "", "", &DecodeError{Code: CodeTopic, Msg: "topic has no channel after the hub id"}
	}
	if err := ValidateHubID(hub); err != nil {
		return "", "", &DecodeError{Code: CodeTopic, Msg: err.Error()}
	}
	c := Channel(ch)
	if !c.Upstream() && !c.Downstream() {
		return "", "", &DecodeError{Code: CodeTopic, Msg: "unknown channel " + quote(ch)}
	}
	return HubID(hub), c, nil
}
