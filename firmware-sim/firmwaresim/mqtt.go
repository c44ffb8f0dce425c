package firmwaresim

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// ConnectOptions are the CONNECT fields a hub sends (protocol section 2.2).
type ConnectOptions struct {
	Version   byte // 4 (MQTT 3.1.1) or 5
	ClientID  string
	Username  string
	Password  string
	Clean     bool
	Keepalive uint16
	// WillTopic, when set, is published retained at QoS 1 with WillPayload
	// when the connection dies.
	WillTopic   string
	WillPayload []byte
	// SessionExpiry is the MQTT 5 session expiry interval in seconds.
	SessionExpiry uint32
	// ReceiveMaximum is the MQTT 5 receive maximum (0: not sent).
	ReceiveMaximum uint16
}

// AppendConnect appends a CONNECT frame to buf.
func AppendConnect(buf *bytes.Buffer, o ConnectOptions) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: o.Version}
	pk.Connect = packets.ConnectParams{
		ProtocolName: []byte("MQTT"), ClientIdentifier: o.ClientID, Clean: o.Clean, Keepalive: o.Keepalive,
		Username: []byte(o.Username), UsernameFlag: o.Username != "",
		Password: []byte(o.Password), PasswordFlag: o.Password != "",
	}
	if o.WillTopic != "" {
		pk.Connect.WillFlag, pk.Connect.WillTopic, pk.Connect.WillPayload = true, o.WillTopic, o.WillPayload
		pk.Connect.WillQos, pk.Connect.WillRetain = 1, true
	}
	if o.Version == 5 {
		if o.SessionExpiry > 0 {
			pk.Properties.SessionExpiryInterval, pk.Properties.SessionExpiryIntervalFlag = o.SessionExpiry, true
		}
		pk.Properties.ReceiveMaximum = o.ReceiveMaximum
	}
	return pk.ConnectEncode(buf)
}

// AppendPublish appends a PUBLISH frame to buf; pid is ignored at QoS 0.
func AppendPublish(buf *bytes.Buffer, version byte, topic string, payload []byte, qos byte, pid uint16, dup, retain bool) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos, Dup: dup, Retain: retain},
		ProtocolVersion: version, TopicName: topic, Payload: payload}
	if qos > 0 {
		pk.PacketID = pid
	}
	return pk.PublishEncode(buf)
}

// AppendSubscribe appends a SUBSCRIBE frame for topics at QoS 1.
func AppendSubscribe(buf *bytes.Buffer, version byte, pid uint16, topics ...string) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: version, PacketID: pid}
	for _, t := range topics {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: t, Qos: 1})
	}
	return pk.SubscribeEncode(buf)
}

// AppendPuback appends a PUBACK frame.
func AppendPuback(buf *bytes.Buffer, version byte, pid uint16) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, ProtocolVersion: version, PacketID: pid}
	return pk.PubackEncode(buf)
}

// AppendPingreq appends a PINGREQ frame.
func AppendPingreq(buf *bytes.Buffer) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}
	return pk.PingreqEncode(buf)
}

// AppendDisconnect appends a DISCONNECT frame (normal disconnection: the
// will is discarded).
func AppendDisconnect(buf *bytes.Buffer, version byte) error {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: version}
	return pk.DisconnectEncode(buf)
}

// ErrMalformed is returned for a frame that cannot be decoded.
var ErrMalformed = errors.New("firmwaresim: malformed mqtt frame")

// SplitFrame returns the length of the first complete frame in b and its
// fixed header, or n = 0 when b holds only part of one.
func SplitFrame(b []byte) (n int, fh packets.FixedHeader, err error) {
	if len(b) < 2 {
		return 0, fh, nil
	}
	if err := fh.Decode(b[0]); err != nil {
		return 0, fh, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	rem, mul, i := 0, 1, 1
	for ; ; i++ {
		if i >= len(b) {
			return 0, fh, nil
		}
		if i > 4 {
			return 0, fh, ErrMalformed
		}
		rem += int(b[i]&0x7f) * mul
		mul <<= 7
		if b[i]&0x80 == 0 {
			break
		}
	}
	total := i + 1 + rem
	if len(b) < total {
		return 0, fh, nil
	}
	fh.Remaining = rem
	return total, fh, nil
}

// DecodeFrame decodes one complete frame (as SplitFrame measured it).
func DecodeFrame(frame []byte, fh packets.FixedHeader, version byte) (packets.Packet, error) {
	body := frame[len(frame)-fh.Remaining:]
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	var err error
	switch fh.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		// Nothing else is addressed to a client that sends only QoS <= 1.
	}
	if err != nil {
		return pk, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return pk, nil
}
