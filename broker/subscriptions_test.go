package broker

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	"github.com/mochi-mqtt/server/v2/packets"
)

// What a hub sees of its subscriptions, pinned against mochi's own
// processSubscribe and processUnsubscribe (with OnACLCheck) before the
// broker took them over: the SUBACK and UNSUBACK codes per filter, the
// echoed user properties, and how commands and rejects then reach it.

// subscribedTo reports whether the hub's session holds a subscription to
// its channel ch.
func (e *env) subscribedTo(hub devices.HubID, ch devices.Channel) bool {
	st := e.s.states.get(string(hub))
	if st == nil {
		return false
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.subs.of(ch).on
}

func (c *rawClient) subscribeWith(pk packets.Packet) packets.Packet {
	c.t.Helper()
	pk.FixedHeader = packets.FixedHeader{Type: packets.Subscribe, Qos: 1}
	c.write(pk)
	return c.expect(packets.Suback)
}

func TestSubackCodes(t *testing.T) {
	own := func(ch devices.Channel) string { return devices.Topic(hubA, ch) }
	filters := []struct {
		filter string
		qos    byte
		v5, v3 byte
	}{
		{own(devices.ChanCmd), 1, 0x01, 0x01},
		{own(devices.ChanRejects), 0, 0x00, 0x00},
		{own(devices.ChanCmd), 2, 0x01, 0x01}, // MaximumQos 1
		{own(devices.ChanRejects), 1, 0x01, 0x01},
		{devices.Topic(hubB, devices.ChanCmd), 1, 0x87, 0x80},
		{own(devices.ChanEvents), 1, 0x87, 0x80},
		{own(devices.ChanStatus), 0, 0x87, 0x80},
		{"dolbom/v1/hub-a/#", 1, 0x87, 0x80},
		{"dolbom/v1/+/cmd", 1, 0x87, 0x80},
		{"dolbom/v1/hub-a/#/cmd", 1, 0x8F, 0x80},
		{"$share/g/" + own(devices.ChanCmd), 1, 0x87, 0x80},
		{"$SYS/#", 0, 0x87, 0x80},
	}
	e := startEnv(t, Config{})
	for _, v := range []byte{4, 5} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			c := e.hub(v, hubA, secretA)
			defer c.conn.Close()
			pk := packets.Packet{PacketID: 3}
			var want []byte
			for _, f := range filters {
				pk.Filters = append(pk.Filters, packets.Subscription{Filter: f.filter, Qos: f.qos})
				want = append(want, map[byte]byte{4: f.v3, 5: f.v5}[v])
			}
			user := []packets.UserProperty{{Key: "trace", Val: "t-1"}}
			if v == 5 {
				pk.Properties.User = user
			}
			ack := c.subscribeWith(pk)
			if ack.PacketID != 3 || !reflect.DeepEqual(ack.ReasonCodes, want) {
				t.Errorf("SUBACK id %d codes % x, want id 3 codes % x", ack.PacketID, ack.ReasonCodes, want)
			}
			if v == 5 && (!reflect.DeepEqual(ack.Properties.User, user) || ack.Properties.ReasonString != "") {
				t.Errorf("SUBACK properties %+v, want the user properties echoed and no reason string", ack.Properties)
			}
			if !e.subscribedTo(hubA, devices.ChanCmd) || !e.subscribedTo(hubA, devices.ChanRejects) {
				t.Error("session not subscribed to cmd and rejects")
			}

			// UNSUBSCRIBE: a subscription it had, one it did not, another
			// hub's topic.
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: 4, Properties: pk.Properties,
				Filters: packets.Subscriptions{{Filter: own(devices.ChanCmd)}, {Filter: own(devices.ChanCmd)}, {Filter: devices.Topic(hubB, devices.ChanCmd)}}})
			un := c.expect(packets.Unsuback)
			wantUn := []byte{0x00, 0x11, 0x11}
			if v == 4 {
				wantUn = nil // 3.1.1's UNSUBACK has no codes
			}
			if un.PacketID != 4 || !reflect.DeepEqual(un.ReasonCodes, wantUn) {
				t.Errorf("UNSUBACK id %d codes % x, want id 4 codes % x", un.PacketID, un.ReasonCodes, wantUn)
			}
			if v == 5 && !reflect.DeepEqual(un.Properties.User, user) {
				t.Errorf("UNSUBACK properties %+v, want the user properties echoed", un.Properties)
			}
			if e.subscribedTo(hubA, devices.ChanCmd) || !e.subscribedTo(hubA, devices.ChanRejects) {
				t.Error("after UNSUBSCRIBE of cmd: want rejects only")
			}
			err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn})
			if !errors.Is(err, ErrNotSubscribed) {
				t.Errorf("command after UNSUBSCRIBE: %v, want ErrNotSubscribed", err)
			}
		})
	}
}

// A SUBSCRIBE or UNSUBSCRIBE whose packet id is that of a command in
// flight is refused filter by filter (0x91) and changes nothing.
func TestSubscribePacketIDInUse(t *testing.T) {
	e := startEnv(t, Config{})
	for _, v := range []byte{4, 5} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			c := e.hub(v, hubA, secretA)
			defer c.conn.Close()
			c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
			if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); err != nil {
				t.Fatal(err)
			}
			cmd := c.expect(packets.Publish) // left unacknowledged
			ack := c.subscribeWith(packets.Packet{PacketID: cmd.PacketID, Filters: packets.Subscriptions{
				{Filter: devices.Topic(hubA, devices.ChanRejects), Qos: 1}, {Filter: devices.Topic(hubB, devices.ChanCmd), Qos: 1}}})
			// mochi writes 0x91 to a 3.1.1 hub too (its mapping of codes
			// above 2 to 0x80 is skipped for this one), without the reason
			// string, which 3.1.1 cannot carry: kept as it was.
			want, reason := []byte{0x91, 0x91}, packets.ErrPacketIdentifierInUse.Reason
			if v == 4 {
				reason = ""
			}
			if !reflect.DeepEqual(ack.ReasonCodes, want) || ack.Properties.ReasonString != reason {
				t.Errorf("SUBACK codes % x reason %q, want % x %q", ack.ReasonCodes, ack.Properties.ReasonString, want, reason)
			}
			if e.subscribedTo(hubA, devices.ChanRejects) {
				t.Error("refused SUBSCRIBE subscribed the hub")
			}
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsubscribe, Qos: 1}, PacketID: cmd.PacketID,
				Filters: packets.Subscriptions{{Filter: devices.Topic(hubA, devices.ChanCmd)}}})
			un := c.expect(packets.Unsuback)
			if v == 5 && (!reflect.DeepEqual(un.ReasonCodes, []byte{0x91}) || un.Properties.ReasonString != packets.ErrPacketIdentifierInUse.Reason) {
				t.Errorf("UNSUBACK codes % x reason %q, want 91", un.ReasonCodes, un.Properties.ReasonString)
			}
			if !e.subscribedTo(hubA, devices.ChanCmd) {
				t.Error("refused UNSUBSCRIBE unsubscribed the hub")
			}
			// The command is still in flight: acknowledge it.
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: cmd.PacketID})
			c.ping()
			c.expect(packets.Pingresp)
			if cl, _ := e.s.mq.Clients.Get(string(hubA)); cl.State.Inflight.Len() != 0 {
				t.Errorf("%d in flight after the PUBACK", cl.State.Inflight.Len())
			}
		})
	}
}

// A command reaches a subscribed hub at the granted QoS with what mochi
// put on it: a message expiry (MQTT 5) and the subscription identifier.
func TestCommandDelivery(t *testing.T) {
	e := startEnv(t, Config{SessionExpiry: time.Hour})
	cmdTopic := devices.Topic(hubA, devices.ChanCmd)
	for _, v := range []byte{4, 5} {
		for _, qos := range []byte{0, 1} {
			t.Run("v"+strconv.Itoa(int(v))+"/qos"+strconv.Itoa(int(qos)), func(t *testing.T) {
				c := e.hub(v, hubA, secretA)
				defer c.conn.Close()
				pk := packets.Packet{PacketID: 1, Filters: packets.Subscriptions{{Filter: cmdTopic, Qos: qos}}}
				if v == 5 {
					pk.Properties.SubscriptionIdentifier = []int{7}
				}
				c.subscribeWith(pk)
				if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); err != nil {
					t.Fatal(err)
				}
				pk = c.expect(packets.Publish)
				if got, err := devices.DecodeCommand(pk.Payload); err != nil || got.ID != "c1" {
					t.Errorf("command %q: %v", pk.Payload, err)
				}
				if pk.TopicName != cmdTopic || pk.FixedHeader.Qos != qos || pk.FixedHeader.Retain || pk.FixedHeader.Dup {
					t.Errorf("command on %s header %+v, want QoS %d", pk.TopicName, pk.FixedHeader, qos)
				}
				if (qos == 1) != (pk.PacketID != 0) {
					t.Errorf("packet id %d at QoS %d", pk.PacketID, qos)
				}
				if v == 5 {
					if exp := pk.Properties.MessageExpiryInterval; exp < 3590 || exp > 3600 {
						t.Errorf("message expiry %d s, want the session expiry", exp)
					}
					if !reflect.DeepEqual(pk.Properties.SubscriptionIdentifier, []int{7}) {
						t.Errorf("subscription identifiers %v, want [7]", pk.Properties.SubscriptionIdentifier)
					}
				}
				cl, _ := e.s.mq.Clients.Get(string(hubA))
				if n := cl.State.Inflight.Len(); n != int(qos) {
					t.Errorf("%d in flight, want %d", n, qos)
				}
				if qos == 1 {
					c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
					c.ping()
					c.expect(packets.Pingresp)
					if n := cl.State.Inflight.Len(); n != 0 {
						t.Errorf("%d in flight after the PUBACK", n)
					}
				}
			})
		}
	}
}

// A reject reaches the hub only if it subscribed to its rejects topic, at
// QoS 0 (the gateway publishes rejects at QoS 0) whatever the granted QoS.
func TestRejectsDeliveredWhenSubscribed(t *testing.T) {
	e := startEnv(t, Config{})
	bad := []byte(`{"v":1,`)
	for _, v := range []byte{4, 5} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			c := e.hub(v, hubA, secretA)
			defer c.conn.Close()
			c.publish(devices.Topic(hubA, devices.ChanReadings), bad, 1, 1)
			c.expect(packets.Puback)
			c.ping()
			if pk := c.expect(packets.Pingresp); pk.FixedHeader.Type != packets.Pingresp {
				t.Fatal("no PINGRESP")
			}
			select {
			case pk := <-c.in:
				t.Errorf("unsubscribed hub got %s", packets.PacketNames[pk.FixedHeader.Type])
			default:
			}
			for _, qos := range []byte{1, 0} {
				c.subscribeWith(packets.Packet{PacketID: 2, Filters: packets.Subscriptions{{Filter: devices.Topic(hubA, devices.ChanRejects), Qos: qos}}})
				c.publish(devices.Topic(hubA, devices.ChanReadings), bad, 1, 3)
				_, rej := c.ackAndReject()
				if rej.TopicName != devices.Topic(hubA, devices.ChanRejects) || rej.FixedHeader.Qos != 0 || rej.PacketID != 0 {
					t.Errorf("reject on %s header %+v id %d, want QoS 0", rej.TopicName, rej.FixedHeader, rej.PacketID)
				}
				if r, err := devices.DecodeReject(rej.Payload); err != nil || r.Code == "" {
					t.Errorf("reject %q: %v", rej.Payload, err)
				}
			}
		})
	}
}

// A persistent session keeps the subscriptions and queues QoS 1 commands
// while the hub is away; a clean start drops both.
func TestCommandQueuedInSession(t *testing.T) {
	cmdTopic := devices.Topic(hubA, devices.ChanCmd)
	for _, v := range []byte{4, 5} {
		t.Run("v"+strconv.Itoa(int(v)), func(t *testing.T) {
			e := startEnv(t, Config{})
			opts := connectOpts{v: v, id: string(hubA), user: string(hubA), pass: secretA}
			c, _ := e.dialRaw(opts)
			c.subscribe(1, cmdTopic)
			c.conn.Close()
			waitFor(t, func() bool { return e.s.Connected() == 0 })
			if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); err != nil {
				t.Fatalf("command to an absent hub with a session: %v", err)
			}

			c, ack := e.dialRaw(opts)
			if !ack.SessionPresent {
				t.Fatal("session not present")
			}
			pk := c.expect(packets.Publish)
			if got, _ := devices.DecodeCommand(pk.Payload); got.ID != "c1" || pk.TopicName != cmdTopic || pk.FixedHeader.Qos != 1 || !pk.FixedHeader.Dup {
				t.Errorf("queued command %q on %s header %+v, want c1 at QoS 1, dup", pk.Payload, pk.TopicName, pk.FixedHeader)
			}
			c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
			// Still subscribed: the next command comes at once.
			if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c2", Type: devices.CmdCheckIn}); err != nil {
				t.Fatal(err)
			}
			if pk := c.expect(packets.Publish); pk.FixedHeader.Dup || pk.FixedHeader.Qos != 1 {
				t.Errorf("second command header %+v", pk.FixedHeader)
			}
			c.conn.Close()
			waitFor(t, func() bool { return e.s.Connected() == 0 })

			// A clean start: no session, no subscription, nothing resent.
			clean := opts
			clean.clean = true
			c, ack = e.dialRaw(clean)
			defer c.conn.Close()
			if ack.SessionPresent {
				t.Error("session present after a clean start")
			}
			if e.subscribedTo(hubA, devices.ChanCmd) {
				t.Error("subscribed after a clean start")
			}
			if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c3", Type: devices.CmdCheckIn}); !errors.Is(err, ErrNotSubscribed) {
				t.Errorf("command after a clean start: %v, want ErrNotSubscribed", err)
			}
			c.ping()
			if pk := c.expect(packets.Pingresp); pk.FixedHeader.Type != packets.Pingresp {
				t.Fatal("no PINGRESP")
			}
			select {
			case pk := <-c.in:
				t.Errorf("clean session got %s %s", packets.PacketNames[pk.FixedHeader.Type], pk.Payload)
			default:
			}
		})
	}
}

// Hubs' subscriptions cost mochi nothing: no entry in the client's map,
// no path in the topic index (~3.6 KB per hub, docs/performance.md).
func TestSubscriptionsOutOfMochi(t *testing.T) {
	e := startEnv(t, Config{})
	c := e.hub(5, hubA, secretA)
	defer c.conn.Close()
	c.subscribe(1, devices.Topic(hubA, devices.ChanCmd), devices.Topic(hubA, devices.ChanRejects))
	cl, _ := e.s.mq.Clients.Get(string(hubA))
	if n := cl.State.Subscriptions.Len(); n != 0 {
		t.Errorf("mochi's client holds %d subscriptions", n)
	}
	for _, ch := range []devices.Channel{devices.ChanCmd, devices.ChanRejects} {
		if subs := e.s.mq.Topics.Subscribers(devices.Topic(hubA, ch)); len(subs.Subscriptions) != 0 {
			t.Errorf("mochi's topic index holds %d subscribers to %s", len(subs.Subscriptions), ch)
		}
	}
	if !e.subscribedTo(hubA, devices.ChanCmd) || !e.subscribedTo(hubA, devices.ChanRejects) {
		t.Error("the broker's record misses a subscription")
	}
}

func TestHubSubsPacking(t *testing.T) {
	var h hubSubs
	cmd := downstreamSub{on: true, qos: 1, id: 268435455}
	rej := downstreamSub{on: true, qos: 0, id: 7}
	h.set(devices.ChanCmd, cmd)
	h.set(devices.ChanRejects, rej)
	if got := h.of(devices.ChanCmd); got != cmd {
		t.Errorf("cmd %+v, want %+v", got, cmd)
	}
	if got := h.of(devices.ChanRejects); got != rej {
		t.Errorf("rejects %+v, want %+v", got, rej)
	}
	h.set(devices.ChanCmd, downstreamSub{})
	if got := h.of(devices.ChanCmd); got.on || got.id != 0 {
		t.Errorf("cmd after clearing %+v", got)
	}
	if got := h.of(devices.ChanRejects); got != rej {
		t.Errorf("rejects after clearing cmd %+v, want %+v", got, rej)
	}
	h.set(devices.ChanEvents, cmd)
	if got := h.of(devices.ChanEvents); got.on {
		t.Errorf("events %+v", got)
	}
	if got := h.of(devices.ChanCmd); got.on {
		t.Errorf("setting events changed cmd: %+v", got)
	}
}

// An MQTT 5 hub's receive maximum: past it a command waits in the session
// and goes out when the hub acknowledges one before it.
func TestCommandsWithinReceiveMaximum(t *testing.T) {
	e := startEnv(t, Config{})
	c := e.cmdSubscriber(connectOpts{receiveMax: 1})
	defer c.conn.Close()
	for _, id := range []devices.CommandID{"c1", "c2"} {
		if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: id, Type: devices.CmdCheckIn}); err != nil {
			t.Fatal(err)
		}
	}
	first := c.expect(packets.Publish)
	if got, _ := devices.DecodeCommand(first.Payload); got.ID != "c1" {
		t.Fatalf("first command %s", first.Payload)
	}
	c.ping()
	c.expect(packets.Pingresp)
	select {
	case pk := <-c.in:
		t.Fatalf("past the receive maximum: got %s %s", packets.PacketNames[pk.FixedHeader.Type], pk.Payload)
	default:
	}
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: first.PacketID})
	second := c.expect(packets.Publish)
	if got, _ := devices.DecodeCommand(second.Payload); got.ID != "c2" || second.PacketID == 0 {
		t.Errorf("second command %s id %d", second.Payload, second.PacketID)
	}
}

// A 3.1.1 hub's clean session taken over by a connection asking to keep
// its session: mochi hands nothing over (the old one was clean).
func TestCleanSessionTakenOverKeepsNothing(t *testing.T) {
	e := startEnv(t, Config{})
	opts := connectOpts{v: 4, id: string(hubA), user: string(hubA), pass: secretA, clean: true}
	first, _ := e.dialRaw(opts)
	defer first.conn.Close()
	first.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
	opts.clean = false
	second, ack := e.dialRaw(opts)
	defer second.conn.Close()
	if ack.SessionPresent {
		t.Error("session present")
	}
	if e.subscribedTo(hubA, devices.ChanCmd) {
		t.Error("subscription handed over from a clean session")
	}
	if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: "c1", Type: devices.CmdCheckIn}); !errors.Is(err, ErrNotSubscribed) {
		t.Errorf("command: %v, want ErrNotSubscribed", err)
	}
}

// An MQTT 5 hub that accepts topic aliases gets its cmd topic once, then
// the alias alone.
func TestCommandsUseTheHubsTopicAlias(t *testing.T) {
	e := startEnv(t, Config{})
	c := e.cmdSubscriber(connectOpts{aliasMax: 4})
	defer c.conn.Close()
	var got []packets.Packet
	for _, id := range []devices.CommandID{"c1", "c2"} {
		if err := e.s.SendCommand(context.Background(), hubA, devices.Command{ID: id, Type: devices.CmdCheckIn}); err != nil {
			t.Fatal(err)
		}
		got = append(got, c.expect(packets.Publish))
	}
	if got[0].TopicName != devices.Topic(hubA, devices.ChanCmd) || got[0].Properties.TopicAlias != 1 {
		t.Errorf("first command on %q alias %d, want the topic and alias 1", got[0].TopicName, got[0].Properties.TopicAlias)
	}
	if got[1].TopicName != "" || got[1].Properties.TopicAlias != 1 {
		t.Errorf("second command on %q alias %d, want alias 1 alone", got[1].TopicName, got[1].Properties.TopicAlias)
	}
}

// cmdSubscriber connects hub A over MQTT 5 with o's extra options and
// subscribes it to its commands.
func (e *env) cmdSubscriber(o connectOpts) *rawClient {
	e.t.Helper()
	o.v, o.id, o.user, o.pass = 5, string(hubA), string(hubA), secretA
	c, ack := e.dialRaw(o)
	if ack.ReasonCode != 0 {
		e.t.Fatalf("CONNACK %#x", ack.ReasonCode)
	}
	c.subscribe(1, devices.Topic(hubA, devices.ChanCmd))
	return c
}

// A reject or a command is written by the goroutine that sends it (the
// hub's worker, SendCommand), not by mochi's write loop, whose encode grew
// each hub's write goroutine from 4 to 8 KiB for good (stacks are not
// shrunk: memlimit.KeepStacks).
func TestRejectsAndCommandsKeepWriteStack(t *testing.T) {
	const n = 200
	e := startEnv(t, Config{})
	clients, hubs := e.quietHubs(n, 4)
	bad := []byte(`{"v":1,`)
	readN := func(c *rawClient, k int) {
		t.Helper()
		for range k {
			if _, err := c.read(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, c := range clients {
		c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: 1,
			Filters: packets.Subscriptions{{Filter: devices.Topic(hubs[i], devices.ChanCmd), Qos: 1}, {Filter: devices.Topic(hubs[i], devices.ChanRejects), Qos: 1}}})
		readN(c, 1)
	}
	// The workers' stacks grow to what the handling needs.
	clients[0].publish(devices.Topic(hubs[0], devices.ChanReadings), bad, 1, 2)
	readN(clients[0], 2)
	runtime.GC()
	runtime.GC()
	before := stackInuse()
	for i, c := range clients[1:] {
		hub := hubs[i+1]
		c.publish(devices.Topic(hub, devices.ChanReadings), bad, 1, 2)
		readN(c, 2) // the PUBACK and the reject
		// A pipe's write waits for its reader: the hub reads while the
		// command is sent, as a TCP hub's kernel buffer would take it.
		sent := make(chan error, 1)
		go func() {
			sent <- e.s.SendCommand(context.Background(), hub, devices.Command{ID: "c1", Type: devices.CmdCheckIn})
		}()
		readN(c, 1)
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	}
	if grown := (int64(stackInuse()) - int64(before)) / (n - 1); grown > 2048 {
		t.Errorf("stacks grew by %d B per hub on a reject and a command, want the write goroutine to stay as it was", grown)
	}
}
