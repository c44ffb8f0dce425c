package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dolbom/dolbom/devices"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rs/zerolog"
)

// fakeDir is an in-memory HubDirectory.
type fakeDir struct {
	mu    sync.Mutex
	creds map[devices.HubID]devices.HubCredential
	err   error
	// hold, when set, makes a lookup signal held and wait for hold to close
	// before it reads the record.
	hold, held chan struct{}
}

func (d *fakeDir) HubCredential(_ context.Context, hub devices.HubID) (devices.HubCredential, error) {
	d.mu.Lock()
	hold, held := d.hold, d.held
	d.mu.Unlock()
	if hold != nil {
		held <- struct{}{}
		<-hold
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return devices.HubCredential{}, d.err
	}
	c, ok := d.creds[hub]
	if !ok {
		return c, devices.ErrNotFound
	}
	return c, nil
}

func (d *fakeDir) set(hub devices.HubID, secret string, disabled bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.creds[hub] = devices.HubCredential{Hub: hub, SecretHash: devices.HashHubSecret(secret), Disabled: disabled}
}

// setLegacy gives hub an argon2id secret hash, as hubs provisioned before
// SHA-256 hub hashes have (cheap parameters: the tests time nothing).
func (d *fakeDir) setLegacy(hub devices.HubID, secret string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.creds[hub] = devices.HubCredential{Hub: hub, SecretHash: devices.HashSecret(secret, devices.SecretParams{Time: 1, Memory: 8, Threads: 1})}
}

// fakeHeld is an in-memory HeldHubs, one set per node.
type fakeHeld struct {
	mu    sync.Mutex
	sets  map[string][]uint64
	at    map[string]time.Time
	saves int
}

func (h *fakeHeld) SaveHeldHubs(_ context.Context, node string, at time.Time, hubs []uint64) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sets == nil {
		h.sets, h.at = map[string][]uint64{}, map[string]time.Time{}
	}
	h.sets[node], h.at[node] = slices.Clone(hubs), at
	h.saves++
	return nil
}

func (h *fakeHeld) LoadHeldHubs(_ context.Context, node string) ([]uint64, time.Time, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.sets[node]), h.at[node], nil
}

// heldDir is a directory with the HeldHubs capability, as the store is.
type heldDir struct {
	*fakeDir
	*fakeHeld
}

// fakeJournal records what it is given, stores each (hub, event id) once,
// and can be told to stall (until release) or to fail.
type fakeJournal struct {
	mu       sync.Mutex
	events   map[string]*devices.Event
	appends  int
	readings int
	accel    int
	stall    chan struct{} // non-nil: appends wait for it to close
	// stallReadings, when non-nil, holds readings appends only.
	stallReadings chan struct{}
	entered       chan struct{} // signalled when an append starts (if non-nil)
	// onEvent, when set, runs in AppendEvent before the event is stored.
	onEvent func(ctx context.Context, e *devices.Event) error
	fail    error
	poison  []devices.Poison
}

func newFakeJournal() *fakeJournal { return &fakeJournal{events: map[string]*devices.Event{}} }

func (j *fakeJournal) gate(ctx context.Context) error {
	j.mu.Lock()
	stall, fail, entered := j.stall, j.fail, j.entered
	j.mu.Unlock()
	if entered != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
	}
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fail
}

func (j *fakeJournal) AppendEvent(ctx context.Context, e *devices.Event) (bool, error) {
	if err := j.gate(ctx); err != nil {
		return false, err
	}
	j.mu.Lock()
	onEvent := j.onEvent
	j.mu.Unlock()
	if onEvent != nil {
		if err := onEvent(ctx, e); err != nil {
			return false, err
		}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.appends++
	key := string(e.Hub) + "/" + string(e.ID)
	if stored, ok := j.events[key]; ok {
		e.Seq = stored.Seq
		return false, nil
	}
	e.Seq = int64(len(j.events) + 1)
	j.events[key] = e
	return true, nil
}

func (j *fakeJournal) AppendReadings(ctx context.Context, b *devices.ReadingBatch) error {
	if err := j.gate(ctx); err != nil {
		return err
	}
	j.mu.Lock()
	stall := j.stallReadings
	j.mu.Unlock()
	if stall != nil {
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	j.mu.Lock()
	j.readings++
	j.mu.Unlock()
	return nil
}

func (j *fakeJournal) AppendAccel(ctx context.Context, c *devices.AccelChunk) error {
	if err := j.gate(ctx); err != nil {
		return err
	}
	j.mu.Lock()
	j.accel++
	j.mu.Unlock()
	return nil
}

func (j *fakeJournal) counts() (events, appends, readings int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.events), j.appends, j.readings
}

func (j *fakeJournal) KeepPoison(_ context.Context, p devices.Poison) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.poison = append(j.poison, p)
	return nil
}

func (j *fakeJournal) kept() []devices.Poison {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]devices.Poison(nil), j.poison...)
}

// fakeIngester records messages and connection events; panicOn makes it
// panic on an event id, as a bug downstream would.
type fakeIngester struct {
	mu      sync.Mutex
	msgs    []devices.Message
	conns   []devices.ConnectionEvent
	panicOn devices.EventID
}

func (f *fakeIngester) Ingest(m *devices.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if m.Event != nil && f.panicOn != "" && m.Event.ID == f.panicOn {
		panic("fake ingester: cannot handle " + string(m.Event.ID))
	}
	f.msgs = append(f.msgs, *m)
}

func (f *fakeIngester) Connection(c devices.ConnectionEvent) {
	f.mu.Lock()
	f.conns = append(f.conns, c)
	f.mu.Unlock()
}

func (f *fakeIngester) events() []devices.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []devices.Message
	for _, m := range f.msgs {
		if m.Event != nil {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeIngester) connections(hub devices.HubID) []devices.ConnectionEvent {
	return filterLocked(&f.mu, &f.conns, func(c devices.ConnectionEvent) bool { return c.Hub == hub })
}

// filterLocked returns the elements of *list that keep accepts, read under mu.
func filterLocked[T any](mu *sync.Mutex, list *[]T, keep func(T) bool) []T {
	mu.Lock()
	defer mu.Unlock()
	var out []T
	for _, v := range *list {
		if keep(v) {
			out = append(out, v)
		}
	}
	return out
}

// willRecorder records the wills mochi publishes (retained messages are
// not kept, so the retained store cannot tell which will went out).
type willRecorder struct {
	mqtt.HookBase
	mu   sync.Mutex
	sent []packets.Packet
}

func (*willRecorder) ID() string           { return "test-wills" }
func (*willRecorder) Provides(b byte) bool { return b == mqtt.OnWillSent }
func (w *willRecorder) OnWillSent(_ *mqtt.Client, pk packets.Packet) {
	w.mu.Lock()
	w.sent = append(w.sent, pk)
	w.mu.Unlock()
}

func (w *willRecorder) of(topic string) []packets.Packet {
	return filterLocked(&w.mu, &w.sent, func(pk packets.Packet) bool { return pk.TopicName == topic })
}

// env is a running broker with fakes, served over a pipe listener.
type env struct {
	t       testing.TB
	s       *Server
	pipe    *PipeListener
	dir     *fakeDir
	journal *fakeJournal
	ingest  *fakeIngester
	wills   *willRecorder
	cancel  context.CancelFunc
	done    chan error
}

const (
	hubA    = devices.HubID("hub-a")
	hubB    = devices.HubID("hub-b")
	secretA = "secret-of-hub-a"
	secretB = "secret-of-hub-b"
)

func startEnv(t testing.TB, cfg Config) *env {
	t.Helper()
	return startEnvTuned(t, cfg, nil)
}

// publishPath is how a broker under test handles hubs' publishes.
type publishPath struct {
	name   string
	direct bool // Server.direct: mochi's path, OnPublish on the read goroutine
}

var (
	handoffPath = publishPath{"handoff", false}
	mochiPath   = publishPath{"mochi", true}
	// bothPaths: a hub must see the same on either path.
	bothPaths = []publishPath{handoffPath, mochiPath}
)

// startEnvOn is startEnv with publishes handled on the given path.
func startEnvOn(t testing.TB, cfg Config, path publishPath) *env {
	t.Helper()
	return startEnvTuned(t, cfg, func(s *Server) { s.direct = path.direct })
}

// startEnvTuned is startEnv with tune run on the server before it serves.
func startEnvTuned(t testing.TB, cfg Config, tune func(*Server)) *env {
	t.Helper()
	return startEnvHeld(t, cfg, nil, tune)
}

// startEnvHeld is startEnvTuned with a store of held hubs (nil: none, as a
// directory without the HeldHubs capability): envs sharing one are a node
// and the same node after a restart.
func startEnvHeld(t testing.TB, cfg Config, held *fakeHeld, tune func(*Server)) *env {
	t.Helper()
	if cfg.TCPAddr == "" {
		cfg.TCPAddr = ListenerOff
	}
	e := &env{t: t, dir: &fakeDir{creds: map[devices.HubID]devices.HubCredential{}}, journal: newFakeJournal(), ingest: &fakeIngester{}}
	e.dir.set(hubA, secretA, false)
	e.dir.set(hubB, secretB, false)
	var dir HubDirectory = e.dir
	if held != nil {
		dir = heldDir{e.dir, held}
	}
	s, err := New(cfg, e.journal, e.ingest, dir, zerolog.Nop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	if tune != nil {
		tune(s)
	}
	e.wills = &willRecorder{}
	if err := s.mq.AddHook(e.wills, nil); err != nil {
		t.Fatal(err)
	}
	e.pipe, e.cancel, e.done = servePiped(t, s)
	t.Cleanup(e.stop)
	return e
}

// servePiped runs s on a new in-memory listener until cancel is called
// (Run's result then arrives on done), and returns once s is ready.
func servePiped(tb testing.TB, s *Server) (pl *PipeListener, cancel context.CancelFunc, done chan error) {
	tb.Helper()
	pl = NewPipeListener()
	if err := s.AddListener(pl); err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	for !s.Ready() {
		time.Sleep(time.Millisecond)
	}
	return pl, cancel, done
}

func (e *env) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	e.cancel = nil
	if err := <-e.done; err != nil {
		e.t.Errorf("Run: %v", err)
	}
}

// rawClient speaks MQTT with frames from mochi's packets package, for exact
// reason codes.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	v    byte
	// in receives every packet the broker sends, read by a goroutine:
	// net.Pipe writes block until read, so a client that is not reading
	// would stall the broker's writes to it (as a full TCP buffer would).
	in     chan packets.Packet
	closed chan error
}

type connectOpts struct {
	v        byte // 4 or 5
	id, user string
	pass     string
	clean    bool
	will     string // will topic, "" for none
	// willPayload replaces the offline status; willNoRetain clears the
	// will's retain flag; willQoS replaces 1.
	willPayload  []byte
	willNoRetain bool
	willQoS      byte
	receiveMax   uint16 // MQTT 5 receive maximum, 0 for none
	aliasMax     uint16 // MQTT 5 topic alias maximum, 0 for none
}

func (e *env) dialRaw(o connectOpts) (*rawClient, packets.Packet) {
	e.t.Helper()
	conn, err := e.pipe.Dial()
	if err != nil {
		e.t.Fatal(err)
	}
	return connectRaw(e.t, conn, o)
}

func connectRaw(t testing.TB, conn net.Conn, o connectOpts) (*rawClient, packets.Packet) {
	t.Helper()
	c, ack := connectSync(t, conn, o)
	go c.readLoop()
	return c, ack
}

// connectSync connects without starting the reading goroutine; the caller
// reads with c.read.
func connectSync(t testing.TB, conn net.Conn, o connectOpts) (*rawClient, packets.Packet) {
	t.Helper()
	c := &rawClient{t: t, conn: conn, r: bufio.NewReaderSize(conn, 512), v: o.v,
		in: make(chan packets.Packet, 64), closed: make(chan error, 1)}
	c.write(connectPacket(o))
	ack, err := c.read()
	if err != nil {
		t.Fatalf("read connack: %v", err)
	}
	if ack.FixedHeader.Type != packets.Connack {
		t.Fatalf("got packet type %d, want CONNACK", ack.FixedHeader.Type)
	}
	return c, ack
}

func connectPacket(o connectOpts) packets.Packet {
	pk := packets.Packet{
		FixedHeader:     packets.FixedHeader{Type: packets.Connect},
		ProtocolVersion: o.v,
		Connect: packets.ConnectParams{
			ProtocolName:     []byte("MQTT"),
			Clean:            o.clean,
			Keepalive:        60,
			ClientIdentifier: o.id,
			UsernameFlag:     true,
			Username:         []byte(o.user),
			PasswordFlag:     true,
			Password:         []byte(o.pass),
		},
	}
	if o.v == 5 && !o.clean {
		pk.Properties.SessionExpiryInterval = 3600
		pk.Properties.SessionExpiryIntervalFlag = true
	}
	pk.Properties.ReceiveMaximum = o.receiveMax
	pk.Properties.TopicAliasMaximum = o.aliasMax
	if o.will != "" {
		pk.Connect.WillFlag = true
		pk.Connect.WillTopic = o.will
		pk.Connect.WillPayload = devices.EncodeStatus(devices.Status{State: devices.HubOffline})
		if o.willPayload != nil {
			pk.Connect.WillPayload = o.willPayload
		}
		pk.Connect.WillRetain = !o.willNoRetain
		pk.Connect.WillQos = 1
		if o.willQoS != 0 {
			pk.Connect.WillQos = o.willQoS
		}
	}
	return pk
}

func (c *rawClient) write(pk packets.Packet) {
	c.t.Helper()
	pk.ProtocolVersion = c.v
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(&buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(&buf)
	case packets.Puback:
		err = pk.PubackEncode(&buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(&buf)
	default:
		c.t.Fatalf("rawClient cannot write type %d", pk.FixedHeader.Type)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read returns the next packet from the broker.
func (c *rawClient) read() (packets.Packet, error) {
	var pk packets.Packet
	b, err := c.r.ReadByte()
	if err != nil {
		return pk, err
	}
	if err := pk.FixedHeader.Decode(b); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := ioReadFull(c.r, body); err != nil {
		return pk, err
	}
	pk.ProtocolVersion = c.v
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Publish:
		err = pk.PublishDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Suback:
		err = pk.SubackDecode(body)
	case packets.Unsuback:
		err = pk.UnsubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	case packets.Pingresp:
	default:
		err = errors.New("unexpected packet type")
	}
	return pk, err
}

func (c *rawClient) readLoop() {
	for {
		pk, err := c.read()
		if err != nil {
			c.closed <- err
			return
		}
		c.in <- pk
	}
}

var errTimeout = errors.New("timeout")

// readTimeout returns the next packet, errTimeout, or the error that ended
// the connection.
func (c *rawClient) readTimeout(d time.Duration) (packets.Packet, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case pk := <-c.in:
		return pk, nil
	case err := <-c.closed:
		c.closed <- err
		select { // packets read before the end come first
		case pk := <-c.in:
			return pk, nil
		default:
		}
		return packets.Packet{}, err
	case <-t.C:
		return packets.Packet{}, errTimeout
	}
}

func (c *rawClient) publish(topic string, payload []byte, qos byte, id uint16) {
	c.t.Helper()
	c.write(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Payload: payload, PacketID: id})
}

func (c *rawClient) subscribe(id uint16, filters ...string) packets.Packet {
	c.t.Helper()
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, PacketID: id}
	for _, f := range filters {
		pk.Filters = append(pk.Filters, packets.Subscription{Filter: f, Qos: 1})
	}
	c.write(pk)
	ack := c.expect(packets.Suback)
	return ack
}

// expect reads packets until one of type typ arrives (skipping others).
func (c *rawClient) expect(typ byte) packets.Packet {
	c.t.Helper()
	for {
		pk, err := c.readTimeout(5 * time.Second)
		if err != nil {
			c.t.Fatalf("waiting for packet type %d: %v", typ, err)
		}
		if pk.FixedHeader.Type == typ {
			return pk
		}
	}
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) { return io.ReadFull(r, b) }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// onBothPaths runs test as a subtest on each publish path, with an env of
// cfg started on that path: most broker tests must hold on both.
func onBothPaths(t *testing.T, cfg Config, test func(t *testing.T, e *env)) {
	t.Helper()
	for _, path := range bothPaths {
		t.Run(path.name, func(t *testing.T) { test(t, startEnvOn(t, cfg, path)) })
	}
}
